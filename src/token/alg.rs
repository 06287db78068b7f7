//! The JWS algorithms the filter can verify, and which key family each needs.
//!
//! The algorithm is never taken on trust from a token: a token's `alg` only selects one of the
//! provider's allowed algorithms, and the key must be of the family that algorithm requires
//! (RFC 8725 §3.1, §2.1 on key confusion).

use core::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
    Hs256,
    Hs384,
    Hs512,
}

/// The kind of key an algorithm verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    P256,
    P384,
    P521,
    Ed25519,
    Symmetric,
}

impl Alg {
    pub const ALL: [Alg; 13] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
        Alg::EdDsa,
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
    ];

    /// The default allowlist: every asymmetric algorithm. HMAC needs an explicit opt-in.
    pub const ASYMMETRIC: [Alg; 10] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
        Alg::EdDsa,
    ];

    /// Exact, case-sensitive match on the JOSE name (RFC 7518 §3.1): `none`, `None`, `rs256`
    /// and friends are not algorithms.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
            Alg::EdDsa => "EdDSA",
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
        }
    }

    pub fn key_family(self) -> KeyFamily {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                KeyFamily::Rsa
            }
            // One curve per algorithm (RFC 7518 §3.4): an ES384 token never meets a P-256 key.
            Alg::Es256 => KeyFamily::P256,
            Alg::Es384 => KeyFamily::P384,
            Alg::Es512 => KeyFamily::P521,
            Alg::EdDsa => KeyFamily::Ed25519,
            Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => KeyFamily::Symmetric,
        }
    }

    /// Minimum HMAC key length in bytes: the hash output size (RFC 7518 §3.2).
    pub fn min_hmac_key_len(self) -> usize {
        match self {
            Alg::Hs384 => 48,
            Alg::Hs512 => 64,
            _ => 32,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Alg::ALL {
            assert_eq!(Alg::from_name(alg.name()), Some(alg));
        }
    }

    #[test]
    fn none_and_case_variants_are_not_algorithms() {
        for name in [
            "none", "None", "NONE", "rs256", "Rs256", "HS256 ", "", "es384", "ES521", "ES256K",
        ] {
            assert_eq!(Alg::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn each_ecdsa_algorithm_has_its_own_curve() {
        assert_eq!(Alg::Es256.key_family(), KeyFamily::P256);
        assert_eq!(Alg::Es384.key_family(), KeyFamily::P384);
        assert_eq!(Alg::Es512.key_family(), KeyFamily::P521);
        assert!(Alg::ASYMMETRIC.contains(&Alg::Es384) && Alg::ASYMMETRIC.contains(&Alg::Es512));
    }

    #[test]
    fn hmac_is_not_in_the_default_allowlist() {
        assert!(Alg::ASYMMETRIC
            .iter()
            .all(|alg| alg.key_family() != KeyFamily::Symmetric));
    }
}
