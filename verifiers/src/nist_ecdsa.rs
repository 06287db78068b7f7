//! What ES384 and ES512 share: the key error, and the macro that writes each verifier module
//! around its curve crate (`p384`, `p521`) and hash.
//!
//! Both are ECDSA as RFC 7518 §3.4 defines it for JWS: the signature is r ‖ s, each exactly as
//! long as the curve's coordinates (48 bytes for P-384, 66 for P-521), any other length is
//! refused, r and s must lie in [1, n−1], and the digest is SHA-384 / SHA-512 of the signing
//! input. The check itself is the curve crate's (`ecdsa` 0.16's `verify_prehashed`, SEC 1
//! §4.1.4): nothing here re-implements curve arithmetic. Like ES256 (and BoringSSL, which
//! Envoy's jwt_authn verifies with), a high s is accepted: RFC 7518 does not ask for low s.
//!
//! Keys come from a JWK's `x` and `y` (RFC 7518 §6.2.1): each must be exactly the coordinate
//! length, and the point must be on the curve (and so not the identity), or the key is refused.

use core::fmt;

/// Why a P-384 / P-521 public key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcKeyError {
    /// `x` or `y` is not exactly the curve's coordinate length (RFC 7518 §6.2.1.2, §6.2.1.3).
    CoordinateLength {
        curve: &'static str,
        coordinate: &'static str,
        expected: usize,
        actual: usize,
    },
    /// (x, y) is not a point of the curve, or a coordinate is not below the field prime.
    NotOnCurve { curve: &'static str },
}

impl fmt::Display for EcKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EcKeyError::CoordinateLength {
                curve,
                coordinate,
                expected,
                actual,
            } => write!(
                f,
                "\"{coordinate}\" is {actual} bytes; a {curve} coordinate is exactly {expected}"
            ),
            EcKeyError::NotOnCurve { curve } => write!(f, "(x, y) is not a point on {curve}"),
        }
    }
}

/// Writes a verifier module's items: `$Signature` (r ‖ s, decoded and range-checked),
/// `$Key` (a checked public point) and `$Verifier` (the jwt-compact [`Algorithm`] that only
/// verifies), for the curve crate `$ec` and digest `$hash`.
macro_rules! nist_ecdsa_verifier {
    (
        alg: $alg:literal,
        curve: $curve:literal,
        crate: $ec:ident,
        hash: $hash:ty,
        coordinate_len: $coordinate_len:literal,
        signature: $Signature:ident,
        key: $Key:ident,
        verifier: $Verifier:ident $(,)?
    ) => {
        use std::borrow::Cow;
        use std::fmt;
        use std::num::NonZeroUsize;

        use jwt_compact::{Algorithm, AlgorithmSignature};
        use sha2::Digest as _;
        use $ec::ecdsa::signature::hazmat::PrehashVerifier as _;

        pub use crate::es256::NoSigningKey;
        pub use crate::nist_ecdsa::EcKeyError;

        #[doc = concat!("Bytes in one ", $curve, " coordinate, and in each of r and s.")]
        pub const COORDINATE_LEN: usize = $coordinate_len;
        #[doc = concat!("Bytes in an ", $alg, " signature: r ‖ s.")]
        pub const SIGNATURE_LEN: usize = 2 * COORDINATE_LEN;

        #[doc = concat!("An ", $alg, " signature: r ‖ s, both checked to be in [1, n−1].")]
        #[derive(Clone, PartialEq, Eq)]
        pub struct $Signature($ec::ecdsa::Signature);

        impl fmt::Debug for $Signature {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($Signature))
                    .field(&&self.0.to_bytes()[..])
                    .finish()
            }
        }

        impl AlgorithmSignature for $Signature {
            const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(SIGNATURE_LEN);

            fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
                // `from_slice` refuses any other length, then r or s of zero or not below n
                // (ScalarPrimitive's checked decoding): it returns errors, never panics.
                $ec::ecdsa::Signature::from_slice(slice)
                    .map($Signature)
                    .map_err(|_| {
                        anyhow::Error::msg(concat!(
                            "not an ",
                            $alg,
                            " signature (r ‖ s, each in [1, n−1])"
                        ))
                    })
            }

            fn as_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.0.to_bytes().to_vec())
            }
        }

        #[doc = concat!("A ", $curve, " public key, checked to be a point on the curve.")]
        #[derive(Clone)]
        pub struct $Key($ec::ecdsa::VerifyingKey);

        impl fmt::Debug for $Key {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($Key)).finish_non_exhaustive()
            }
        }

        impl $Key {
            /// The key from a JWK's decoded `x` and `y` (big-endian, exactly
            /// [`COORDINATE_LEN`] bytes each).
            pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<Self, EcKeyError> {
                for (coordinate, bytes) in [("x", x), ("y", y)] {
                    if bytes.len() != COORDINATE_LEN {
                        return Err(EcKeyError::CoordinateLength {
                            curve: $curve,
                            coordinate,
                            expected: COORDINATE_LEN,
                            actual: bytes.len(),
                        });
                    }
                }
                // SEC 1 §2.3.3 uncompressed: 0x04 ‖ x ‖ y. The crate decodes each coordinate
                // (refusing one not below p), checks the curve equation and refuses the
                // identity.
                let mut sec1 = Vec::with_capacity(1 + SIGNATURE_LEN);
                sec1.push(0x04);
                sec1.extend_from_slice(x);
                sec1.extend_from_slice(y);
                $ec::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map($Key)
                    .map_err(|_| EcKeyError::NotOnCurve { curve: $curve })
            }

            /// x ‖ y, big-endian, [`COORDINATE_LEN`] bytes each (what a JWK's `x` and `y` hold).
            pub fn coordinates(&self) -> Vec<u8> {
                let point = self.0.to_encoded_point(false);
                point.as_bytes().get(1..).unwrap_or_default().to_vec()
            }

            #[doc = concat!("Whether `signature` is a valid ", $alg, " signature of `message`.")]
            pub fn verify(&self, message: &[u8], signature: &$Signature) -> bool {
                let digest = <$hash>::digest(message);
                self.0.verify_prehash(&digest, &signature.0).is_ok()
            }
        }

        #[doc = concat!($alg, ", verification only.")]
        ///
        /// Use with jwt-compact's validator: `Verifier.validator::<T>(&key).validate(&token)`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $Verifier;

        impl Algorithm for $Verifier {
            type SigningKey = NoSigningKey;
            type VerifyingKey = $Key;
            type Signature = $Signature;

            fn name(&self) -> Cow<'static, str> {
                Cow::Borrowed($alg)
            }

            fn sign(&self, signing_key: &NoSigningKey, _message: &[u8]) -> $Signature {
                match *signing_key {}
            }

            fn verify_signature(
                &self,
                signature: &$Signature,
                verifying_key: &$Key,
                message: &[u8],
            ) -> bool {
                verifying_key.verify(message, signature)
            }
        }
    };
}

pub(crate) use nist_ecdsa_verifier;

/// The tests both curves share, written against a module made by [`nist_ecdsa_verifier`].
#[cfg(test)]
macro_rules! nist_ecdsa_tests {
    ($alg:literal, $ec:ident, $hash:ty, $Signature:ident, $Key:ident, $Verifier:ident) => {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        use jwt_compact::{AlgorithmExt as _, UntrustedToken};
        use serde_json::{Map, Value};
        use $ec::ecdsa::signature::Signer as _;
        use $ec::ecdsa::signature::Verifier as _;
        use $ec::ecdsa::SigningKey;
        use $ec::elliptic_curve::PrimeField as _;

        /// A signing key from a seed (deterministic, test-only).
        fn signer(seed: &str) -> SigningKey {
            let mut bytes = vec![0; COORDINATE_LEN];
            let digest = sha2::Sha256::digest(seed.as_bytes());
            bytes[COORDINATE_LEN - 32..].copy_from_slice(&digest);
            SigningKey::from_slice(&bytes).unwrap()
        }

        fn public(signing: &SigningKey) -> $Key {
            let point = $ec::ecdsa::VerifyingKey::from(signing).to_encoded_point(false);
            let (x, y) = (point.x().unwrap(), point.y().unwrap());
            $Key::from_coordinates(x, y).unwrap()
        }

        fn sign(signing: &SigningKey, message: &[u8]) -> Vec<u8> {
            // The crate's own choice of hash (SHA-384 / SHA-512); `check` uses ours.
            let signature: $ec::ecdsa::Signature = signing.sign(message);
            signature.to_bytes().to_vec()
        }

        /// Our verdict, checked against the curve crate's own `Verifier` (which picks the hash
        /// itself).
        fn check(key: &$Key, message: &[u8], signature: &[u8]) -> bool {
            let Ok(decoded) = $Signature::try_from_slice(signature) else {
                return false;
            };
            let ours = $Verifier.verify_signature(&decoded, key, message);
            assert_eq!(ours, key.0.verify(message, &decoded.0).is_ok());
            ours
        }

        #[test]
        fn signatures_verify_and_tampering_is_refused() {
            let keys = ["a", "b", "c"].map(signer);
            for (k, signing) in keys.iter().enumerate() {
                let key = public(signing);
                let wrong = public(&keys[(k + 1) % keys.len()]);
                for m in 0..3 {
                    let message = format!("eyJhbGciOiJFUzUxMiJ9.message-{k}-{m}");
                    let message = message.as_bytes();
                    let bytes = sign(signing, message);
                    assert_eq!(bytes.len(), SIGNATURE_LEN);
                    assert!(check(&key, message, &bytes), "key {k} message {m}");
                    assert!(!check(&wrong, message, &bytes));
                    let mut other = message.to_vec();
                    other[m] ^= 1;
                    assert!(!check(&key, &other, &bytes));
                    for bit in [0, 7, 100, 8 * COORDINATE_LEN - 1, 8 * COORDINATE_LEN + 3] {
                        let mut flipped = bytes.clone();
                        flipped[bit / 8] ^= 1 << (bit % 8);
                        assert!(!check(&key, message, &flipped), "bit {bit}");
                    }
                    let last = SIGNATURE_LEN - 1;
                    let mut flipped = bytes.clone();
                    flipped[last] ^= 0x80;
                    assert!(!check(&key, message, &flipped));
                    let swapped = [&bytes[COORDINATE_LEN..], &bytes[..COORDINATE_LEN]].concat();
                    assert!(!check(&key, message, &swapped));
                    // (r, n − s) verifies too, as for ES256: RFC 7518 does not require low s,
                    // and BoringSSL (Envoy's jwt_authn) accepts it.
                    let signature = $ec::ecdsa::Signature::from_slice(&bytes).unwrap();
                    let (r, s) = signature.split_scalars();
                    let negated = $ec::ecdsa::Signature::from_scalars(r.to_repr(), (-*s).to_repr())
                        .unwrap()
                        .to_bytes()
                        .to_vec();
                    assert_ne!(negated, bytes);
                    assert!(check(&key, message, &negated));
                }
            }
        }

        #[test]
        fn the_validator_takes_a_whole_token_and_checks_its_alg() {
            let signing = signer("token");
            let key = public(&signing);
            let header = |alg: &str| URL_SAFE_NO_PAD.encode(format!("{{\"alg\":\"{alg}\"}}"));
            let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"joe"}"#);
            for (alg, verifies) in [($alg, true), ("ES256", false), ("ES384X", false)] {
                let input = format!("{}.{payload}", header(alg));
                let jws = format!(
                    "{input}.{}",
                    URL_SAFE_NO_PAD.encode(sign(&signing, input.as_bytes()))
                );
                let token = UntrustedToken::new(&jws).unwrap();
                let result = $Verifier
                    .validator::<Map<String, Value>>(&key)
                    .validate(&token);
                assert_eq!(result.is_ok(), verifies, "{alg}");
                if verifies {
                    assert_eq!(result.unwrap().claims().custom["iss"], "joe");
                }
            }
        }

        #[test]
        fn signatures_of_another_length_or_out_of_range_do_not_decode() {
            let n_minus_1 = (<$ec::Scalar>::ZERO - <$ec::Scalar>::ONE)
                .to_repr()
                .to_vec();
            let mut n = n_minus_1.clone();
            *n.last_mut().unwrap() += 1;
            let one = <$ec::Scalar>::ONE.to_repr().to_vec();
            let zero = vec![0; COORDINATE_LEN];
            let ones = vec![0xff; COORDINATE_LEN];
            let good = sign(&signer("length"), b"m");
            for bad in [
                vec![],
                good[..SIGNATURE_LEN - 1].to_vec(),
                [good.clone(), vec![0]].concat(),
                [vec![0], good.clone()].concat(),
                good[..64].to_vec(), // an ES256 signature's length
                [zero.clone(), one.clone()].concat(),
                [one.clone(), zero.clone()].concat(),
                [n.clone(), one.clone()].concat(),
                [one.clone(), n.clone()].concat(),
                [ones.clone(), one.clone()].concat(),
                [one.clone(), ones.clone()].concat(),
            ] {
                assert!(
                    $Signature::try_from_slice(&bad).is_err(),
                    "{} bytes",
                    bad.len()
                );
                assert!(!check(&public(&signer("length")), b"m", &bad));
            }
            assert!($Signature::try_from_slice(&[n_minus_1.clone(), n_minus_1].concat()).is_ok());
            assert!(check(&public(&signer("length")), b"m", &good));
        }

        #[test]
        fn keys_need_exact_coordinates_of_a_point_on_the_curve() {
            let good = public(&signer("key")).coordinates();
            let (x, y) = good.split_at(COORDINATE_LEN);
            assert!($Key::from_coordinates(x, y).is_ok());
            let short = &x[1..];
            let long = [&[0][..], x].concat();
            for (bad_x, bad_y) in [
                (short, y),
                (x, short),
                (&long[..], y),
                (x, &[0; 32][..]),
                (&[][..], &[][..]),
            ] {
                let error = $Key::from_coordinates(bad_x, bad_y).unwrap_err();
                assert!(
                    matches!(
                        error,
                        EcKeyError::CoordinateLength {
                            expected: COORDINATE_LEN,
                            ..
                        }
                    ),
                    "{error}"
                );
            }
            let mut off = y.to_vec();
            *off.last_mut().unwrap() ^= 1;
            let zero = vec![0; COORDINATE_LEN];
            let ones = vec![0xff; COORDINATE_LEN];
            for (bad_x, bad_y) in [
                (x, &off[..]),
                (&zero[..], &zero[..]),
                (&ones[..], y),
                (x, &ones[..]),
            ] {
                let error = $Key::from_coordinates(bad_x, bad_y).unwrap_err();
                assert!(matches!(error, EcKeyError::NotOnCurve { .. }), "{error}");
            }
        }
    };
}

#[cfg(test)]
pub(crate) use nist_ecdsa_tests;
