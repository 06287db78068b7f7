//! ES512: ECDSA on P-521 with SHA-512 (RFC 7518 §3.4), as a jwt-compact [`Algorithm`] that only
//! verifies. The signature is r ‖ s, 132 bytes; a key is a JWK's `x`, `y` of 66 bytes each. The
//! 512-bit digest is shorter than n (521 bits), so it is used whole (SEC 1 §4.1.4 step 4). The
//! arithmetic is `p521`'s (see [`crate::nist_ecdsa`] for what is checked).

crate::nist_ecdsa::nist_ecdsa_verifier! {
    alg: "ES512",
    curve: "P-521",
    crate: p521,
    hash: sha2::Sha512,
    coordinate_len: 66,
    signature: Es512Signature,
    key: Es512VerifyingKey,
    verifier: Es512Verifier,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{ES512_JWS, ES512_KEY};

    crate::nist_ecdsa::nist_ecdsa_tests!(
        "ES512",
        p521,
        sha2::Sha512,
        Es512Signature,
        Es512VerifyingKey,
        Es512Verifier
    );

    fn rfc7515_public() -> Es512VerifyingKey {
        let jwk: Value = serde_json::from_str(ES512_KEY).unwrap();
        let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        Es512VerifyingKey::from_coordinates(&coordinate("x"), &coordinate("y")).unwrap()
    }

    /// RFC 7515 Appendix A.4: the published ES512 JWS verifies under its public key, and a
    /// one-bit change anywhere (signing input or signature) does not.
    #[test]
    fn rfc7515_a4_es512_example() {
        let key = rfc7515_public();
        let (input, signature) = ES512_JWS.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(signature.len(), SIGNATURE_LEN);
        assert!(check(&key, input.as_bytes(), &signature));
        for bit in [0, 9, 8 * input.len() - 1] {
            let mut changed = input.as_bytes().to_vec();
            changed[bit / 8] ^= 1 << (bit % 8);
            assert!(!check(&key, &changed, &signature), "input bit {bit}");
        }
        for bit in [7, 8 * COORDINATE_LEN + 1, 8 * SIGNATURE_LEN - 1] {
            let mut changed = signature.clone();
            changed[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !check(&key, input.as_bytes(), &changed),
                "signature bit {bit}"
            );
        }
        // The payload is "Payload", not a claims set: the validator checks the signature, then
        // refuses the claims.
        let token = UntrustedToken::new(ES512_JWS).unwrap();
        let error = Es512Verifier
            .validator::<Map<String, Value>>(&key)
            .validate(&token)
            .unwrap_err();
        assert!(
            matches!(error, jwt_compact::ValidationError::MalformedClaims(_)),
            "{error:?}"
        );
    }
}
