//! Verification keys from a JWKS (RFC 7517), key selection for a token, and the signature check.
//!
//! Keys are parsed once (at configuration, or when a JWKS is fetched) into typed public keys;
//! a request only selects one and verifies with jwt-compact's validator.

use core::fmt;

use jwt_compact::alg::{Ed25519, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Token, UntrustedToken, ValidationError};
use serde_json::Value;

use crate::token::alg::{Alg, KeyFamily};
use crate::token::claims::ClaimSet;
// The signature checks that dominate cold requests, prepared once per key (see each module).
use crate::token::es256_verify::{Es256Verifier, Es256VerifyingKey, P256PublicKey};
// ES384 / ES512: the p384 / p521 crates' ECDSA behind the same kind of verifier.
use crate::token::es384_verify::{Es384Verifier, Es384VerifyingKey};
use crate::token::es512_verify::{Es512Verifier, Es512VerifyingKey};
use crate::token::rsa_verify::{RsaVerifier, RsaVerifyingKey};

type Ed25519Key = <Ed25519 as jwt_compact::Algorithm>::VerifyingKey;

/// RSA keys below 2048 bits are refused (NIST SP 800-131A, RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;

enum KeyMaterial {
    Rsa(RsaVerifyingKey),
    P256(Es256VerifyingKey),
    P384(Es384VerifyingKey),
    P521(Es512VerifyingKey),
    Ed25519(Ed25519Key),
    Symmetric(Vec<u8>),
}

impl KeyMaterial {
    fn family(&self) -> KeyFamily {
        match self {
            KeyMaterial::Rsa(_) => KeyFamily::Rsa,
            KeyMaterial::P256(_) => KeyFamily::P256,
            KeyMaterial::P384(_) => KeyFamily::P384,
            KeyMaterial::P521(_) => KeyFamily::P521,
            KeyMaterial::Ed25519(_) => KeyFamily::Ed25519,
            KeyMaterial::Symmetric(_) => KeyFamily::Symmetric,
        }
    }
}

/// One verification key.
pub struct Key {
    kid: Option<String>,
    /// The key's own `alg` member: when present, the only algorithm it may verify.
    alg: Option<Alg>,
    material: KeyMaterial,
}

impl fmt::Debug for Key {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.material.family())
            .finish()
    }
}

/// Why no key could be chosen for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The token names a `kid` the key set does not hold.
    UnknownKid,
    /// Keys exist, but none of the family (or declared `alg`) the token's algorithm needs.
    NoKeyForAlgorithm,
    /// The token has no `kid` and several keys fit.
    KidRequired,
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    BadSignature,
    MalformedClaims,
}

impl Key {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn fits(&self, alg: Alg) -> bool {
        self.material.family() == alg.key_family() && self.alg.is_none_or(|own| own == alg)
    }

    /// Verifies the token's signature with this key under `alg` and returns the trusted claims.
    /// The caller has already checked that `alg` is allowed and that the key fits it.
    pub fn verify(
        &self,
        alg: Alg,
        token: &UntrustedToken<'_>,
    ) -> Result<Token<ClaimSet>, SignatureError> {
        let result = match (&self.material, alg) {
            (KeyMaterial::Rsa(key), Alg::Rs256) => {
                RsaVerifier::RS256.validator(key).validate(token)
            }
            (KeyMaterial::Rsa(key), Alg::Rs384) => {
                RsaVerifier::RS384.validator(key).validate(token)
            }
            (KeyMaterial::Rsa(key), Alg::Rs512) => {
                RsaVerifier::RS512.validator(key).validate(token)
            }
            (KeyMaterial::Rsa(key), Alg::Ps256) => {
                RsaVerifier::PS256.validator(key).validate(token)
            }
            (KeyMaterial::Rsa(key), Alg::Ps384) => {
                RsaVerifier::PS384.validator(key).validate(token)
            }
            (KeyMaterial::Rsa(key), Alg::Ps512) => {
                RsaVerifier::PS512.validator(key).validate(token)
            }
            (KeyMaterial::P256(key), Alg::Es256) => Es256Verifier.validator(key).validate(token),
            (KeyMaterial::P384(key), Alg::Es384) => Es384Verifier.validator(key).validate(token),
            (KeyMaterial::P521(key), Alg::Es512) => Es512Verifier.validator(key).validate(token),
            (KeyMaterial::Ed25519(key), Alg::EdDsa) => Ed25519.validator(key).validate(token),
            (KeyMaterial::Symmetric(secret), Alg::Hs256) => {
                Hs256.validator(&Hs256Key::new(secret)).validate(token)
            }
            (KeyMaterial::Symmetric(secret), Alg::Hs384) => {
                Hs384.validator(&Hs384Key::new(secret)).validate(token)
            }
            (KeyMaterial::Symmetric(secret), Alg::Hs512) => {
                Hs512.validator(&Hs512Key::new(secret)).validate(token)
            }
            _ => return Err(SignatureError::BadSignature),
        };
        result.map_err(|error| match error {
            ValidationError::MalformedClaims(_) => SignatureError::MalformedClaims,
            _ => SignatureError::BadSignature,
        })
    }
}

/// The keys of one provider.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// A JWKS that cannot be used; the message names the key (`keys[2]`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(pub String);

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed JWKS and the notes on keys it skipped (other uses, unsupported types).
#[derive(Debug)]
pub struct ParsedJwks {
    pub keys: KeySet,
    pub skipped: Vec<String>,
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `key` is one of this set's own keys (not an equal key of another set).
    pub fn holds(&self, key: &Key) -> bool {
        self.keys.iter().any(|own| core::ptr::eq(own, key))
    }

    pub fn has_family(&self, family: KeyFamily) -> bool {
        self.keys.iter().any(|key| key.material.family() == family)
    }

    /// Parses a JWKS document. Keys for other uses (`use` other than `sig`, `key_ops` without
    /// `verify`) and key types this filter cannot verify with are skipped with a note; a key of
    /// a supported type that is malformed, weak, or carries private material refuses the whole
    /// set, so that a bad key is noticed rather than silently dropped.
    pub fn from_jwks(jwks: &Value) -> Result<ParsedJwks, JwksError> {
        Self::parse(jwks, true)
    }

    /// As `from_jwks`, but symmetric keys are skipped: a fetched document must not carry secrets.
    pub fn from_jwks_without_secrets(jwks: &Value) -> Result<ParsedJwks, JwksError> {
        Self::parse(jwks, false)
    }

    fn parse(jwks: &Value, allow_symmetric: bool) -> Result<ParsedJwks, JwksError> {
        let entries = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError("a JWKS is an object with a \"keys\" array".into()))?;
        let mut keys: Vec<Key> = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let at = |reason: &str| JwksError(format!("keys[{index}]: {reason}"));
            if !allow_symmetric && entry.get("kty").and_then(Value::as_str) == Some("oct") {
                skipped.push(format!(
                    "keys[{index}] skipped: \"oct\" keys are only taken from local_jwks"
                ));
                continue;
            }
            match parse_key(entry).map_err(|reason| at(&reason))? {
                Parsed::Key(key) => {
                    let clash = keys.iter().any(|other| {
                        other.kid.is_some()
                            && other.kid == key.kid
                            && other.material.family() == key.material.family()
                    });
                    if clash {
                        return Err(at("duplicate \"kid\" for the same key type"));
                    }
                    keys.push(key);
                }
                Parsed::Skipped(reason) => skipped.push(format!("keys[{index}] skipped: {reason}")),
            }
        }
        if keys.is_empty() {
            return Err(JwksError("no usable signature verification key".into()));
        }
        Ok(ParsedJwks {
            keys: KeySet { keys },
            skipped,
        })
    }

    /// Chooses the key for a token from this set alone (see [`select`]).
    pub fn select(&self, kid: Option<&str>, alg: Alg) -> Result<&Key, KeyError> {
        select(&[self], kid, alg)
    }
}

/// Chooses the key for a token among several sets (a provider's local and fetched keys): by
/// `kid` when the token names one, otherwise the only key that fits the algorithm.
pub fn select<'k>(sets: &[&'k KeySet], kid: Option<&str>, alg: Alg) -> Result<&'k Key, KeyError> {
    let keys = || sets.iter().flat_map(|set| set.keys.iter());
    match kid {
        Some(kid) => {
            let mut named = keys().filter(|key| key.kid() == Some(kid)).peekable();
            if named.peek().is_none() {
                return Err(KeyError::UnknownKid);
            }
            named
                .find(|key| key.fits(alg))
                .ok_or(KeyError::NoKeyForAlgorithm)
        }
        None => {
            let mut fitting = keys().filter(|key| key.fits(alg));
            match (fitting.next(), fitting.next()) {
                (Some(key), None) => Ok(key),
                (None, _) => Err(KeyError::NoKeyForAlgorithm),
                (Some(_), Some(_)) => Err(KeyError::KidRequired),
            }
        }
    }
}

enum Parsed {
    Key(Key),
    Skipped(String),
}

fn parse_key(entry: &Value) -> Result<Parsed, String> {
    let member = |name: &str| -> Result<Option<&str>, String> {
        match entry.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(format!("\"{name}\" must be a string")),
        }
    };
    if !entry.is_object() {
        return Err("a key must be a JSON object".into());
    }
    let kty = member("kty")?.ok_or("\"kty\" is required")?;
    let kid = member("kid")?.map(str::to_owned);
    if let Some(usage) = member("use")? {
        if usage != "sig" {
            return Ok(Parsed::Skipped(format!(
                "\"use\" is {usage:?}, not \"sig\""
            )));
        }
    }
    if let Some(ops) = entry.get("key_ops") {
        let ops = ops.as_array().ok_or("\"key_ops\" must be an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(Parsed::Skipped("\"key_ops\" lacks \"verify\"".into()));
        }
    }
    let alg = match member("alg")? {
        None => None,
        Some(name) => match Alg::from_name(name) {
            Some(alg) => Some(alg),
            None => {
                return Ok(Parsed::Skipped(format!(
                    "algorithm {name:?} is not supported"
                )))
            }
        },
    };
    let curve = member("crv")?;
    let supported = match kty {
        "RSA" | "oct" => true,
        "EC" => matches!(curve, Some("P-256" | "P-384" | "P-521")),
        "OKP" => curve == Some("Ed25519"),
        _ => false,
    };
    if !supported {
        let curve = curve.map(|c| format!(" curve {c:?}")).unwrap_or_default();
        return Ok(Parsed::Skipped(format!(
            "key type {kty:?}{curve} is not supported"
        )));
    }
    if kty != "oct" && entry.get("d").is_some() {
        return Err("holds private key material (\"d\"); publish only public keys".into());
    }
    let jwk: JsonWebKey<'_> = serde_json::from_value(entry.clone())
        .map_err(|error| format!("malformed {kty} key: {error}"))?;
    let material = match &jwk {
        JsonWebKey::Rsa {
            modulus,
            public_exponent,
            ..
        } => {
            let bits = bit_length(modulus);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA modulus is {bits} bits; at least {MIN_RSA_BITS} are required"
                ));
            }
            KeyMaterial::Rsa(
                RsaVerifyingKey::new(modulus, public_exponent)
                    .map_err(|e| format!("invalid RSA key: {e}"))?,
            )
        }
        // `x` and `y` must each be exactly the curve's coordinate length and name a point on
        // the curve (RFC 7518 §6.2.1); the curve alone decides the key's family.
        JsonWebKey::EllipticCurve { curve, x, y, .. } => match curve.as_ref() {
            "P-384" => KeyMaterial::P384(
                Es384VerifyingKey::from_coordinates(x, y)
                    .map_err(|e| format!("invalid P-384 key: {e}"))?,
            ),
            "P-521" => KeyMaterial::P521(
                Es512VerifyingKey::from_coordinates(x, y)
                    .map_err(|e| format!("invalid P-521 key: {e}"))?,
            ),
            _ => KeyMaterial::P256(Es256VerifyingKey::new(
                &P256PublicKey::try_from(&jwk).map_err(|e| format!("invalid P-256 key: {e}"))?,
            )),
        },
        JsonWebKey::KeyPair { .. } => KeyMaterial::Ed25519(
            Ed25519Key::try_from(&jwk).map_err(|e| format!("invalid Ed25519 key: {e}"))?,
        ),
        JsonWebKey::Symmetric { secret } => {
            let secret: &[u8] = secret.as_ref();
            let minimum = alg.map_or(Alg::Hs256.min_hmac_key_len(), Alg::min_hmac_key_len);
            if secret.len() < minimum {
                return Err(format!(
                    "oct key is {} bytes; at least {minimum} are required",
                    secret.len()
                ));
            }
            KeyMaterial::Symmetric(secret.to_vec())
        }
        _ => {
            return Ok(Parsed::Skipped(format!(
                "key type {kty:?} is not supported"
            )))
        }
    };
    if let Some(alg) = alg {
        if alg.key_family() != material.family() {
            let curve = curve.map(|c| format!(" curve {c:?}")).unwrap_or_default();
            return Err(format!(
                "\"alg\" {alg} does not fit key type {kty:?}{curve}"
            ));
        }
    }
    Ok(Parsed::Key(Key { kid, alg, material }))
}

/// Bit length of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let mut significant = bytes.iter().skip_while(|&&byte| byte == 0);
    let Some(first) = significant.next() else {
        return 0;
    };
    // A key's bytes are far fewer than usize::MAX / 8; saturation only guards the type.
    let rest = significant.count();
    rest.saturating_mul(8)
        .saturating_add(8usize.saturating_sub(first.leading_zeros() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_public(n_bytes: usize) -> Value {
        use base64::Engine;
        let mut modulus = vec![0xc5; n_bytes];
        modulus[n_bytes - 1] = 0x01;
        json!({"kty":"RSA","n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(modulus),"e":"AQAB"})
    }

    #[test]
    fn bit_length_counts_significant_bits() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0, 1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x7f, 0]), 15);
    }

    #[test]
    fn weak_rsa_keys_are_refused() {
        let error = KeySet::from_jwks(&json!({"keys":[rsa_public(128)]})).unwrap_err();
        assert!(
            error.0.contains("keys[0]") && error.0.contains("1024 bits"),
            "{error}"
        );
        assert!(KeySet::from_jwks(&json!({"keys":[rsa_public(256)]})).is_ok());
    }

    #[test]
    fn private_material_is_refused() {
        let mut key = rsa_public(256);
        key["d"] = json!("AQAB");
        let error = KeySet::from_jwks(&json!({"keys":[key]})).unwrap_err();
        assert!(error.0.contains("private"), "{error}");
    }

    #[test]
    fn keys_for_other_uses_and_types_are_skipped_not_fatal() {
        let mut enc = rsa_public(256);
        enc["use"] = json!("enc");
        let parsed = KeySet::from_jwks(&json!({"keys":[
            enc,
            {"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"},
            {"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI","alg":"HS256"}
        ]}))
        .unwrap();
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.skipped.len(), 2, "{:?}", parsed.skipped);
    }

    #[test]
    fn empty_or_shapeless_sets_are_refused() {
        assert!(KeySet::from_jwks(&json!({"keys":[]})).is_err());
        assert!(KeySet::from_jwks(&json!([])).is_err());
        assert!(KeySet::from_jwks(&json!({"keys":[{"kty":"RSA"}]})).is_err());
        assert!(KeySet::from_jwks(&json!({"keys":[{"kty":"oct","k":"c2hvcnQ"}]})).is_err());
    }

    #[test]
    fn selection_by_kid_and_by_family() {
        let mut a = rsa_public(256);
        a["kid"] = json!("a");
        let mut b = rsa_public(256);
        b["kid"] = json!("b");
        let set = KeySet::from_jwks(&json!({"keys":[a, b]})).unwrap().keys;
        assert_eq!(set.select(Some("b"), Alg::Rs256).unwrap().kid(), Some("b"));
        assert_eq!(
            set.select(Some("zz"), Alg::Rs256).unwrap_err(),
            KeyError::UnknownKid
        );
        assert_eq!(
            set.select(Some("a"), Alg::Es256).unwrap_err(),
            KeyError::NoKeyForAlgorithm
        );
        assert_eq!(
            set.select(None, Alg::Rs256).unwrap_err(),
            KeyError::KidRequired
        );
        assert_eq!(
            set.select(None, Alg::EdDsa).unwrap_err(),
            KeyError::NoKeyForAlgorithm
        );
    }

    #[test]
    fn a_key_declaring_alg_verifies_only_that_alg() {
        let mut key = rsa_public(256);
        key["alg"] = json!("RS256");
        let set = KeySet::from_jwks(&json!({"keys":[key]})).unwrap().keys;
        assert!(set.select(None, Alg::Rs256).is_ok());
        assert_eq!(
            set.select(None, Alg::Ps256).unwrap_err(),
            KeyError::NoKeyForAlgorithm
        );
    }

    #[test]
    fn duplicate_kid_for_the_same_type_is_refused() {
        let mut a = rsa_public(256);
        a["kid"] = json!("same");
        let error = KeySet::from_jwks(&json!({"keys":[a.clone(), a]})).unwrap_err();
        assert!(error.0.contains("keys[1]"), "{error}");
    }

    mod ecdsa {
        use super::*;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        use jwt_compact::UntrustedToken;

        /// A test signer for one of the three curves: its public JWK and a way to sign a JWS.
        enum Signer {
            P256(p256::ecdsa::SigningKey),
            P384(p384::ecdsa::SigningKey),
            P521(p521::ecdsa::SigningKey),
        }

        fn signer(curve: &str, seed: u8) -> Signer {
            let scalar = |len: usize| {
                let mut bytes = vec![0; len];
                bytes[len - 1] = seed;
                bytes[0] = 1;
                bytes
            };
            match curve {
                "P-256" => Signer::P256(p256::ecdsa::SigningKey::from_slice(&scalar(32)).unwrap()),
                "P-384" => Signer::P384(p384::ecdsa::SigningKey::from_slice(&scalar(48)).unwrap()),
                _ => Signer::P521(p521::ecdsa::SigningKey::from_slice(&scalar(65)).unwrap()),
            }
        }

        impl Signer {
            fn jwk(&self, kid: &str) -> Value {
                let (curve, sec1) = match self {
                    Signer::P256(key) => (
                        "P-256",
                        key.verifying_key()
                            .to_encoded_point(false)
                            .as_bytes()
                            .to_vec(),
                    ),
                    Signer::P384(key) => (
                        "P-384",
                        key.verifying_key()
                            .to_encoded_point(false)
                            .as_bytes()
                            .to_vec(),
                    ),
                    // p521 0.13's `verifying_key()` is behind a feature it never defines.
                    Signer::P521(key) => {
                        let point = p521::ecdsa::VerifyingKey::from(key).to_encoded_point(false);
                        ("P-521", point.as_bytes().to_vec())
                    }
                };
                // Uncompressed SEC 1: 0x04 ‖ x ‖ y.
                let (x, y) = sec1[1..].split_at((sec1.len() - 1) / 2);
                let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
                json!({"kty":"EC","crv":curve,"kid":kid,"x":x,"y":y})
            }

            /// A compact JWS whose header says `alg`, signed with this key's own algorithm.
            fn sign(&self, alg: &str, claims: &Value) -> String {
                use p384::ecdsa::signature::Signer as _;
                let input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string()),
                    URL_SAFE_NO_PAD.encode(claims.to_string())
                );
                let signature = match self {
                    Signer::P256(key) => {
                        let s: p256::ecdsa::Signature = key.sign(input.as_bytes());
                        s.to_bytes().to_vec()
                    }
                    Signer::P384(key) => {
                        let s: p384::ecdsa::Signature = key.sign(input.as_bytes());
                        s.to_bytes().to_vec()
                    }
                    Signer::P521(key) => {
                        let s: p521::ecdsa::Signature = key.sign(input.as_bytes());
                        s.to_bytes().to_vec()
                    }
                };
                format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
            }
        }

        fn verify(set: &KeySet, alg: Alg, jws: &str) -> Result<(), String> {
            let token = UntrustedToken::new(jws).map_err(|e| e.to_string())?;
            let key = set.select(None, alg).map_err(|e| format!("{e:?}"))?;
            key.verify(alg, &token)
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }

        #[test]
        fn es384_and_es512_verify_with_their_own_curve_only() {
            let claims = json!({"iss": "joe"});
            let cases = [
                ("P-256", Alg::Es256),
                ("P-384", Alg::Es384),
                ("P-521", Alg::Es512),
            ];
            for (curve, alg) in cases {
                let signing = signer(curve, 7);
                let jws = signing.sign(alg.name(), &claims);
                let own = KeySet::from_jwks(&json!({"keys": [signing.jwk("k")]}))
                    .unwrap()
                    .keys;
                assert_eq!(verify(&own, alg, &jws), Ok(()), "{alg}");
                // A changed payload, and a stranger's key of the same curve.
                let (head, rest) = jws.split_once('.').unwrap();
                let signature = rest.rsplit_once('.').unwrap().1;
                let forged = format!(
                    "{head}.{}.{signature}",
                    URL_SAFE_NO_PAD.encode(r#"{"iss":"eve"}"#)
                );
                assert_eq!(verify(&own, alg, &forged), Err("BadSignature".into()));
                let stranger = KeySet::from_jwks(&json!({"keys": [signer(curve, 9).jwk("k")]}))
                    .unwrap()
                    .keys;
                assert_eq!(verify(&stranger, alg, &jws), Err("BadSignature".into()));
                // Every other curve's key is never chosen for this alg, by kid or without one.
                for (other, other_alg) in cases {
                    if other == curve {
                        continue;
                    }
                    let set = KeySet::from_jwks(&json!({"keys": [signer(other, 7).jwk("k")]}))
                        .unwrap()
                        .keys;
                    assert_eq!(
                        set.select(None, alg).unwrap_err(),
                        KeyError::NoKeyForAlgorithm
                    );
                    assert_eq!(
                        set.select(Some("k"), alg).unwrap_err(),
                        KeyError::NoKeyForAlgorithm,
                        "{alg} with a {other} key"
                    );
                    // Even if a caller skipped selection, the key refuses the other alg.
                    let key = set.select(None, other_alg).unwrap();
                    let token = UntrustedToken::new(&jws).unwrap();
                    assert_eq!(
                        key.verify(alg, &token).unwrap_err(),
                        SignatureError::BadSignature
                    );
                }
            }
        }

        #[test]
        fn p384_and_p521_keys_need_exact_coordinates_on_the_curve() {
            for (curve, len) in [("P-384", 48), ("P-521", 66)] {
                let good = signer(curve, 3).jwk("k");
                assert!(KeySet::from_jwks(&json!({"keys": [good.clone()]})).is_ok());
                let coordinate = |name: &str| {
                    URL_SAFE_NO_PAD
                        .decode(good[name].as_str().unwrap())
                        .unwrap()
                };
                let (x, y) = (coordinate("x"), coordinate("y"));
                assert_eq!((x.len(), y.len()), (len, len));
                let with = |name: &str, bytes: &[u8]| {
                    let mut jwk = good.clone();
                    jwk[name] = json!(URL_SAFE_NO_PAD.encode(bytes));
                    KeySet::from_jwks(&json!({"keys": [jwk]})).unwrap_err().0
                };
                let short = with("x", &x[1..]);
                assert!(
                    short.contains(&format!("invalid {curve} key"))
                        && short.contains(&format!("{} bytes", len - 1)),
                    "{short}"
                );
                let long = with("y", &[&[0][..], &y].concat());
                assert!(long.contains(&format!("exactly {len}")), "{long}");
                // A P-256-sized coordinate is not a P-384/P-521 one.
                assert!(with("x", &x[len - 32..]).contains("32 bytes"));
                let mut off = y.clone();
                *off.last_mut().unwrap() ^= 1;
                assert!(with("y", &off).contains("not a point on"), "{curve}");
                assert!(with("x", &vec![0xff; len]).contains("not a point on"));
                let mut private = good.clone();
                private["d"] = json!("AQAB");
                assert!(KeySet::from_jwks(&json!({"keys": [private]}))
                    .unwrap_err()
                    .0
                    .contains("private"));
            }
        }

        #[test]
        fn a_declared_alg_must_fit_the_curve() {
            for (curve, wrong) in [
                ("P-256", "ES384"),
                ("P-384", "ES512"),
                ("P-521", "ES256"),
                ("P-384", "ES256"),
            ] {
                let mut jwk = signer(curve, 5).jwk("k");
                jwk["alg"] = json!(wrong);
                let error = KeySet::from_jwks(&json!({"keys": [jwk]})).unwrap_err().0;
                assert!(
                    error.contains(&format!(
                        "\"alg\" {wrong} does not fit key type \"EC\" curve \"{curve}\""
                    )),
                    "{error}"
                );
            }
            let mut jwk = signer("P-521", 5).jwk("k");
            jwk["alg"] = json!("ES512");
            let set = KeySet::from_jwks(&json!({"keys": [jwk]})).unwrap().keys;
            assert!(set.select(None, Alg::Es512).is_ok());
        }

        #[test]
        fn one_kid_may_name_keys_of_several_curves() {
            let keys: Vec<Value> = ["P-256", "P-384", "P-521"]
                .iter()
                .map(|c| signer(c, 1).jwk("same"))
                .collect();
            let set = KeySet::from_jwks(&json!({"keys": keys})).unwrap().keys;
            for alg in [Alg::Es256, Alg::Es384, Alg::Es512] {
                let key = set.select(Some("same"), alg).unwrap();
                assert_eq!(key.material.family(), alg.key_family());
            }
        }
    }
}
