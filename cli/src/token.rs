//! Compact JWS signing with full control of the header, so tests can also make the odd tokens
//! a verifier must refuse (no `kid`, a lying `alg`, unusual `typ`).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use jwt_compact::{
    alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa},
    Algorithm, AlgorithmSignature,
};
use p384::ecdsa::signature::Signer as _;
use serde_json::{Map, Value};

use crate::keys::{KeyKind, Material, SigningKey};

/// Every `alg` [`sign`] accepts.
pub const ALGORITHMS: [&str; 13] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    "HS256", "HS384", "HS512",
];

/// Compact JWS. The header is `{"alg": alg, "typ": "JWT", "kid": key.kid()}` merged with
/// `extra_header`: a member whose value is JSON null is removed, any other is set or overridden
/// (overriding `alg` changes only what the header claims, not how the token is signed).
/// The payload is `claims` serialized as is.
///
/// `alg` must suit the key: RS*/PS* an RSA key, ES256 a P-256 key, ES384 a P-384 key, ES512 a
/// P-521 key, EdDSA an Ed25519 key, HS* an HMAC key.
pub fn sign(
    key: &SigningKey,
    alg: &str,
    extra_header: &Map<String, Value>,
    claims: &Value,
) -> Result<String> {
    check_alg(key, alg)?;
    let mut header = Map::new();
    header.insert("alg".to_owned(), alg.into());
    header.insert("typ".to_owned(), "JWT".into());
    header.insert("kid".to_owned(), key.kid().into());
    for (name, value) in extra_header {
        if value.is_null() {
            header.remove(name);
        } else {
            header.insert(name.clone(), value.clone());
        }
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let signature = signature(key.material(), alg, signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// [`sign`] with the key's default alg and the standard header.
pub fn sign_default(key: &SigningKey, claims: &Value) -> Result<String> {
    sign(key, key.default_alg(), &Map::new(), claims)
}

/// The current time in Unix seconds, as JWT time claims count it.
pub fn now() -> i64 {
    // A clock before 1970 is a broken machine; 0 keeps minting deterministic there.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

fn check_alg(key: &SigningKey, alg: &str) -> Result<()> {
    match KeyKind::for_alg(alg) {
        Some(kind) if kind == key.kind() => check_hmac_length(key, alg),
        Some(kind) => bail!(
            "alg {alg} needs a {kind} key, but key {:?} is {} (it can sign {})",
            key.kid(),
            key.kind(),
            key.kind().algorithms().join(", ")
        ),
        None => bail!(
            "unsupported alg {alg:?} (supported: {})",
            ALGORITHMS.join(", ")
        ),
    }
}

/// RFC 7518 §3.2: an HS* key must be at least as long as the hash output. jwt-compact signs
/// with any length, but other verifiers (e.g. jwcrypto) reject such tokens outright.
fn check_hmac_length(key: &SigningKey, alg: &str) -> Result<()> {
    let Material::Hmac(secret) = key.material() else {
        return Ok(());
    };
    let minimum = match alg {
        "HS384" => 48,
        "HS512" => 64,
        _ => 32,
    };
    if secret.len() < minimum {
        bail!(
            "{alg} needs an HMAC key of at least {minimum} bytes (RFC 7518 §3.2), \
             but key {:?} has {}",
            key.kid(),
            secret.len()
        );
    }
    Ok(())
}

/// Signs with jwt-compact's `Algorithm::sign` on bytes we built ourselves, because
/// `AlgorithmExt::token` would impose its own header. ES384 / ES512, which jwt-compact lacks,
/// sign with the p384 / p521 crates: deterministic ECDSA (RFC 6979) over SHA-384 / SHA-512,
/// r ‖ s of 48 + 48 / 66 + 66 bytes (RFC 7518 §3.4).
fn signature(material: &Material, alg: &str, message: &[u8]) -> Result<Vec<u8>> {
    fn raw<A: Algorithm>(alg: A, key: &A::SigningKey, message: &[u8]) -> Vec<u8> {
        alg.sign(key, message).as_bytes().into_owned()
    }
    Ok(match (material, alg) {
        (Material::Rsa(key), _) => raw(alg.parse::<Rsa>()?, key, message),
        (Material::P256(key), "ES256") => raw(Es256, key, message),
        (Material::P384(key), "ES384") => {
            let signature: p384::ecdsa::Signature =
                p384::ecdsa::SigningKey::from(key).sign(message);
            signature.to_bytes().to_vec()
        }
        (Material::P521(key), "ES512") => {
            let signing = p521::ecdsa::SigningKey::from_bytes(&key.to_bytes())
                .map_err(|_| anyhow::anyhow!("not a P-521 signing key"))?;
            let signature: p521::ecdsa::Signature = signing.sign(message);
            signature.to_bytes().to_vec()
        }
        (Material::Ed25519(key), "EdDSA") => raw(Ed25519, key, message),
        (Material::Hmac(secret), "HS256") => raw(Hs256, &Hs256Key::new(secret), message),
        (Material::Hmac(secret), "HS384") => raw(Hs384, &Hs384Key::new(secret), message),
        (Material::Hmac(secret), "HS512") => raw(Hs512, &Hs512Key::new(secret), message),
        _ => bail!("alg {alg} does not suit this key"),
    })
}

#[cfg(test)]
mod tests {
    use jwt_compact::{
        alg::{Ed25519, Es256, Hs256, Rsa, RsaPublicKey},
        jwk::JsonWebKey,
        AlgorithmExt, UntrustedToken, ValidationError,
    };
    use jwt_relay::token::es384_verify::{Es384Verifier, Es384VerifyingKey};
    use jwt_relay::token::es512_verify::{Es512Verifier, Es512VerifyingKey};
    use serde_json::{json, Map, Value};

    use super::*;
    use crate::test_support::{key, segment};

    type Custom = Map<String, Value>;

    /// Verifies `jwt` with jwt-compact against the key rebuilt from `signer.public_jwk()`,
    /// and returns its custom claims.
    fn verify(signer: &SigningKey, alg: &str, jwt: &str) -> Result<Custom, ValidationError> {
        let jwk: JsonWebKey<'_> = serde_json::from_value(signer.public_jwk()).unwrap();
        let token = UntrustedToken::new(jwt).unwrap();
        let validated = match alg {
            "RS256" | "PS256" => {
                let public = RsaPublicKey::try_from(&jwk).unwrap();
                alg.parse::<Rsa>()
                    .unwrap()
                    .validator::<Custom>(&public)
                    .validate(&token)
            }
            "ES256" => Es256
                .validator(&TryFrom::try_from(&jwk).unwrap())
                .validate(&token),
            "EdDSA" => Ed25519
                .validator(&TryFrom::try_from(&jwk).unwrap())
                .validate(&token),
            "HS256" => Hs256
                .validator(&TryFrom::try_from(&jwk).unwrap())
                .validate(&token),
            // ES384 / ES512: the filter's own verifiers, from the JWK's x and y.
            "ES384" | "ES512" => {
                let JsonWebKey::EllipticCurve { x, y, .. } = &jwk else {
                    panic!("not an EC JWK")
                };
                if alg == "ES384" {
                    let key = Es384VerifyingKey::from_coordinates(x, y).unwrap();
                    Es384Verifier.validator(&key).validate(&token)
                } else {
                    let key = Es512VerifyingKey::from_coordinates(x, y).unwrap();
                    Es512Verifier.validator(&key).validate(&token)
                }
            }
            other => panic!("no verifier for {other}"),
        };
        validated.map(|token| token.claims().custom.clone())
    }

    #[test]
    fn signed_tokens_verify_against_the_public_jwk() {
        let cases = [
            (KeyKind::Rsa, "RS256"),
            (KeyKind::Rsa, "PS256"),
            (KeyKind::P256, "ES256"),
            (KeyKind::P384, "ES384"),
            (KeyKind::P521, "ES512"),
            (KeyKind::Ed25519, "EdDSA"),
            (KeyKind::Hmac, "HS256"),
        ];
        let claims = json!({ "iss": "https://issuer.test", "sub": "alice" });
        for (kind, alg) in cases {
            let signer = key(kind);
            let jwt = sign(&signer, alg, &Map::new(), &claims).unwrap();
            let custom = verify(&signer, alg, &jwt).unwrap();
            assert_eq!(custom["sub"], "alice", "{alg}");
            assert_eq!(
                segment(&jwt, 0),
                json!({ "alg": alg, "typ": "JWT", "kid": signer.kid() })
            );
        }
    }

    #[test]
    fn a_changed_payload_no_longer_verifies() {
        let signer = key(KeyKind::P256);
        let jwt = sign_default(&signer, &json!({ "sub": "alice" })).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#);
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert!(verify(&signer, "ES256", &jwt).is_ok());
        assert!(matches!(
            verify(&signer, "ES256", &forged),
            Err(ValidationError::InvalidSignature)
        ));
    }

    #[test]
    fn es384_and_es512_signatures_have_their_fixed_length_and_curve() {
        for (kind, alg, len) in [(KeyKind::P384, "ES384", 96), (KeyKind::P521, "ES512", 132)] {
            let signer = key(kind);
            let jwt = sign_default(&signer, &json!({ "sub": "alice" })).unwrap();
            assert_eq!(segment(&jwt, 0)["alg"], alg);
            let signature = URL_SAFE_NO_PAD
                .decode(jwt.rsplit('.').next().unwrap())
                .unwrap();
            assert_eq!(signature.len(), len, "{alg}");
            let parts: Vec<&str> = jwt.split('.').collect();
            let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#);
            let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
            assert!(matches!(
                verify(&signer, alg, &forged),
                Err(ValidationError::InvalidSignature)
            ));
            // Another key of the same curve does not verify it either.
            assert!(verify(&key(kind), alg, &jwt).is_err());
            let other = if alg == "ES384" { "ES512" } else { "ES384" };
            assert!(sign(&signer, other, &Map::new(), &json!({})).is_err());
            assert!(sign(&signer, "ES256", &Map::new(), &json!({})).is_err());
        }
    }

    #[test]
    fn payload_is_the_claims_as_given() {
        let claims = json!({ "aud": ["a", "b"], "nested": { "n": 1 }, "exp": "not a number" });
        let jwt = sign_default(&key(KeyKind::Hmac), &claims).unwrap();
        assert_eq!(segment(&jwt, 1), claims);
    }

    #[test]
    fn extra_header_null_removes_and_values_override() {
        let signer = key(KeyKind::Ed25519);
        let extra: Map<String, Value> = serde_json::from_value(json!({
            "kid": null,
            "typ": "at+jwt",
            "x-test": [1, 2],
        }))
        .unwrap();
        let jwt = sign(&signer, "EdDSA", &extra, &json!({})).unwrap();
        assert_eq!(
            segment(&jwt, 0),
            json!({ "alg": "EdDSA", "typ": "at+jwt", "x-test": [1, 2] })
        );
        // Still a valid signature: only the header changed.
        assert!(verify(&signer, "EdDSA", &jwt).is_ok());
    }

    #[test]
    fn overriding_alg_changes_the_header_not_the_signature() {
        let signer = key(KeyKind::Hmac);
        let extra: Map<String, Value> = serde_json::from_value(json!({ "alg": "none" })).unwrap();
        let jwt = sign(&signer, "HS256", &extra, &json!({})).unwrap();
        assert_eq!(segment(&jwt, 0)["alg"], "none");
        assert!(!jwt.ends_with('.'), "the signature is still there");
    }

    #[test]
    fn alg_must_suit_the_key() {
        let ec = key(KeyKind::P256);
        let claims = json!({});
        let wrong = sign(&ec, "RS256", &Map::new(), &claims).unwrap_err();
        assert!(wrong.to_string().contains("needs a RSA key"), "{wrong}");
        let unknown = sign(&ec, "none", &Map::new(), &claims).unwrap_err();
        assert!(unknown.to_string().contains("unsupported alg"), "{unknown}");
        assert!(sign(&key(KeyKind::Hmac), "HS256", &Map::new(), &claims).is_ok());
    }

    #[test]
    fn hmac_keys_must_be_as_long_as_the_hash() {
        let short = key(KeyKind::Hmac);
        let err = sign(&short, "HS512", &Map::new(), &json!({})).unwrap_err();
        assert!(err.to_string().contains("at least 64 bytes"), "{err}");

        let long = SigningKey::from_jwk(
            &json!({ "kty": "oct", "kid": "long", "k": URL_SAFE_NO_PAD.encode([7u8; 64]) })
                .to_string(),
        )
        .unwrap();
        for alg in ["HS384", "HS512"] {
            let jwt = sign(&long, alg, &Map::new(), &json!({})).unwrap();
            assert_eq!(segment(&jwt, 0)["alg"], alg);
        }
    }

    #[test]
    fn now_is_the_unix_clock() {
        // 2023-11-14: any real clock is past it, and the value is seconds, not milliseconds.
        let now = now();
        assert!(now > 1_700_000_000 && now < 100_000_000_000, "{now}");
    }
}
