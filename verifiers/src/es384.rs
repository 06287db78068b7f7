//! ES384: ECDSA on P-384 with SHA-384 (RFC 7518 §3.4), as a jwt-compact [`Algorithm`] that only
//! verifies. The signature is r ‖ s, 96 bytes; a key is a JWK's `x`, `y` of 48 bytes each. The
//! arithmetic is `p384`'s (see [`crate::nist_ecdsa`] for what is checked).

crate::nist_ecdsa::nist_ecdsa_verifier! {
    alg: "ES384",
    curve: "P-384",
    crate: p384,
    hash: sha2::Sha384,
    coordinate_len: 48,
    signature: Es384Signature,
    key: Es384VerifyingKey,
    verifier: Es384Verifier,
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::nist_ecdsa::nist_ecdsa_tests!(
        "ES384",
        p384,
        sha2::Sha384,
        Es384Signature,
        Es384VerifyingKey,
        Es384Verifier
    );
}
