//! Signing keys for tests and the demo: generation, private JWK files, and the public JWKS
//! a verifier is configured with.

mod jwk;
mod pem;

use std::{fmt, fs, path::Path};

use anyhow::{anyhow, bail, Context, Result};
use jwt_compact::{
    alg::{Ed25519, Es256, RsaPrivateKey},
    Algorithm,
};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};

/// Modulus size of generated RSA keys: the minimum RFC 7518 allows, and the quickest to make.
const RSA_BITS: usize = 2048;
/// HMAC secret size: RFC 7518 asks for at least the hash output size (32 bytes for HS256).
const HMAC_BYTES: usize = 32;

/// The key families a [`SigningKey`] can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA (JWK `kty` "RSA"); generated with a 2048-bit modulus.
    Rsa,
    /// ECDSA on P-256 (JWK `kty` "EC", `crv` "P-256"), for ES256.
    P256,
    /// ECDSA on P-384 (JWK `kty` "EC", `crv` "P-384"), for ES384.
    P384,
    /// ECDSA on P-521 (JWK `kty` "EC", `crv` "P-521"), for ES512.
    P521,
    /// Ed25519 (JWK `kty` "OKP").
    Ed25519,
    /// A shared HMAC secret (JWK `kty` "oct"); generated as 32 random bytes.
    Hmac,
}

impl KeyKind {
    /// Every kind, for callers that iterate (tests, help texts).
    pub const ALL: [KeyKind; 6] = [
        KeyKind::Rsa,
        KeyKind::P256,
        KeyKind::P384,
        KeyKind::P521,
        KeyKind::Ed25519,
        KeyKind::Hmac,
    ];

    /// The JWS `alg` a freshly generated key of this kind signs with.
    pub fn default_alg(self) -> &'static str {
        self.algorithms()[0]
    }

    /// Every JWS `alg` a key of this kind can sign with, the default first.
    pub fn algorithms(self) -> &'static [&'static str] {
        match self {
            KeyKind::Rsa => &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
            KeyKind::P256 => &["ES256"],
            KeyKind::P384 => &["ES384"],
            KeyKind::P521 => &["ES512"],
            KeyKind::Ed25519 => &["EdDSA"],
            KeyKind::Hmac => &["HS256", "HS384", "HS512"],
        }
    }

    /// The kind of key that can sign `alg`, or `None` for an alg this crate does not support.
    pub fn for_alg(alg: &str) -> Option<KeyKind> {
        KeyKind::ALL
            .into_iter()
            .find(|kind| kind.algorithms().contains(&alg))
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 => "P-256",
            KeyKind::P384 => "P-384",
            KeyKind::P521 => "P-521",
            KeyKind::Ed25519 => "Ed25519",
            KeyKind::Hmac => "HMAC",
        })
    }
}

pub(crate) type P256Key = <Es256 as Algorithm>::SigningKey;
pub(crate) type Ed25519Key = <Ed25519 as Algorithm>::SigningKey;

/// The secret itself, in the form jwt-compact signs with.
#[derive(Clone)]
pub(crate) enum Material {
    // Boxed: an RSA key is several times the size of the others.
    Rsa(Box<RsaPrivateKey>),
    P256(P256Key),
    // ES384 / ES512: jwt-compact has neither; token.rs signs with the p384 / p521 crates.
    P384(p384::SecretKey),
    P521(p521::SecretKey),
    Ed25519(Ed25519Key),
    Hmac(Vec<u8>),
}

impl Material {
    fn kind(&self) -> KeyKind {
        match self {
            Material::Rsa(_) => KeyKind::Rsa,
            Material::P256(_) => KeyKind::P256,
            Material::P384(_) => KeyKind::P384,
            Material::P521(_) => KeyKind::P521,
            Material::Ed25519(_) => KeyKind::Ed25519,
            Material::Hmac(_) => KeyKind::Hmac,
        }
    }
}

/// A private key with its `kid` and preferred `alg`.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: &'static str,
    material: Material,
}

impl SigningKey {
    /// A fresh random key of `kind`, from the OS random source.
    pub fn generate(kind: KeyKind, kid: &str) -> Result<SigningKey> {
        let material = match kind {
            KeyKind::Rsa => Material::Rsa(Box::new(
                RsaPrivateKey::new(&mut OsRng, RSA_BITS)
                    .map_err(|err| anyhow!("cannot generate an RSA key: {err}"))?,
            )),
            KeyKind::P256 => Material::P256(P256Key::random(&mut OsRng)),
            KeyKind::P384 => Material::P384(p384::SecretKey::random(&mut OsRng)),
            KeyKind::P521 => Material::P521(p521::SecretKey::random(&mut OsRng)),
            KeyKind::Ed25519 => Material::Ed25519(Ed25519::generate(&mut OsRng).0),
            KeyKind::Hmac => {
                let mut secret = vec![0; HMAC_BYTES];
                OsRng.fill_bytes(&mut secret);
                Material::Hmac(secret)
            }
        };
        SigningKey::new(kid, kind.default_alg(), material)
    }

    /// Parses a private JWK (RSA, EC P-256/P-384/P-521, OKP Ed25519 or oct) that carries a `kid`.
    /// An `alg` member, if present, must suit the key and becomes [`Self::default_alg`].
    pub fn from_jwk(json: &str) -> Result<SigningKey> {
        jwk::parse_private(json)
    }

    /// Reads a file holding one private JWK, as written by `jwt-relay-cli keygen`.
    pub fn load(path: &Path) -> Result<SigningKey> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?;
        SigningKey::from_jwk(&text).with_context(|| format!("bad key file {}", path.display()))
    }

    pub(crate) fn new(kid: &str, alg: &'static str, material: Material) -> Result<SigningKey> {
        if kid.is_empty() {
            bail!("kid must not be empty");
        }
        debug_assert_eq!(KeyKind::for_alg(alg), Some(material.kind()));
        Ok(SigningKey {
            kid: kid.to_owned(),
            alg,
            material,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn kind(&self) -> KeyKind {
        self.material.kind()
    }

    /// "RS256", "ES256", "ES384", "ES512", "EdDSA" or "HS256" for generated keys; a loaded JWK's
    /// own `alg` if it had one.
    pub fn default_alg(&self) -> &'static str {
        self.alg
    }

    /// The full private JWK, with `kid`, `alg` and `"use": "sig"`: what `keygen` writes.
    pub fn to_private_jwk(&self) -> Value {
        jwk::private(self)
    }

    /// The public half as a JWK, with `kid`, `alg` and `"use": "sig"`.
    /// For an HMAC key this is the secret itself: HS* verification needs it.
    pub fn public_jwk(&self) -> Value {
        jwk::public(self)
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`); an error for HMAC keys.
    pub fn private_pem(&self) -> Result<String> {
        pem::private(self)
    }

    /// The public key as SPKI PEM (`BEGIN PUBLIC KEY`); an error for HMAC keys.
    pub fn public_pem(&self) -> Result<String> {
        pem::public(self)
    }

    pub(crate) fn material(&self) -> &Material {
        &self.material
    }
}

/// Never prints the secret, so keys can appear in test failure messages.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The JWKS document (`{"keys": [...]}`) a verifier fetches or is configured with.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    let keys: Vec<Value> = keys.iter().map(|key| key.public_jwk()).collect();
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    use serde_json::json;

    use super::*;
    use crate::test_support::key;

    const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

    #[test]
    fn private_jwk_round_trips_for_every_kind() {
        for kind in KeyKind::ALL {
            let original = key(kind);
            let jwk = original.to_private_jwk();
            let parsed = SigningKey::from_jwk(&jwk.to_string()).unwrap();
            assert_eq!(parsed.kid(), original.kid(), "{kind}");
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.default_alg(), kind.default_alg());
            // Same JSON again means the same secret came back.
            assert_eq!(parsed.to_private_jwk(), jwk, "{kind}");
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], kind.default_alg());
        }
    }

    #[test]
    fn private_rsa_jwk_has_the_crt_parameters() {
        let jwk = key(KeyKind::Rsa).to_private_jwk();
        for member in PRIVATE_MEMBERS {
            assert!(jwk[member].is_string(), "missing {member}");
        }
    }

    #[test]
    fn public_jwk_keeps_only_public_parameters() {
        let expected_members = [
            (KeyKind::Rsa, vec!["alg", "e", "kid", "kty", "n", "use"]),
            (
                KeyKind::P256,
                vec!["alg", "crv", "kid", "kty", "use", "x", "y"],
            ),
            (
                KeyKind::P384,
                vec!["alg", "crv", "kid", "kty", "use", "x", "y"],
            ),
            (
                KeyKind::P521,
                vec!["alg", "crv", "kid", "kty", "use", "x", "y"],
            ),
            (
                KeyKind::Ed25519,
                vec!["alg", "crv", "kid", "kty", "use", "x"],
            ),
            // HS* verification needs the secret itself.
            (KeyKind::Hmac, vec!["alg", "k", "kid", "kty", "use"]),
        ];
        for (kind, members) in expected_members {
            let signing = key(kind);
            let public = signing.public_jwk();
            let names: Vec<&str> = public
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(names, members, "{kind}");
            assert_eq!(public["kid"], signing.kid());
        }
    }

    #[test]
    fn from_jwk_refuses_what_cannot_sign() {
        let ec = key(KeyKind::P256).to_private_jwk();
        let with = |name: &str, value: Value| {
            let mut jwk = ec.clone();
            jwk[name] = value;
            jwk.to_string()
        };
        let cases = [
            ("not JSON", "{".to_owned(), "JSON"),
            ("no kid", with("kid", Value::Null), "kid"),
            (
                "public only",
                key(KeyKind::P256).public_jwk().to_string(),
                "public key",
            ),
            ("wrong alg", with("alg", json!("RS256")), "RS256"),
            ("encryption key", with("use", json!("enc")), "\"enc\""),
            ("other curve", with("crv", json!("secp256k1")), "secp256k1"),
            // A P-256 key's coordinates are not P-384's.
            (
                "curve of another size",
                with("crv", json!("P-384")),
                "48 bytes",
            ),
            (
                "unknown kty",
                with("kty", json!("XYZ")),
                "not a supported key",
            ),
        ];
        for (case, jwk, expected) in cases {
            let err = SigningKey::from_jwk(&jwk).unwrap_err();
            let message = format!("{err:#}");
            assert!(message.contains(expected), "{case}: {message}");
        }
    }

    #[test]
    fn p384_and_p521_private_jwks_must_be_consistent() {
        for (kind, len) in [(KeyKind::P384, 48), (KeyKind::P521, 66)] {
            let jwk = key(kind).to_private_jwk();
            assert_eq!(jwk["crv"], kind.to_string());
            for member in ["x", "y", "d"] {
                let bytes = URL_SAFE_NO_PAD
                    .decode(jwk[member].as_str().unwrap())
                    .unwrap();
                assert_eq!(bytes.len(), len, "{kind} {member}");
            }
            // Another key's d, a short d, and the other curve's alg are all refused.
            let mut other_d = jwk.clone();
            other_d["d"] = key(kind).to_private_jwk()["d"].clone();
            let err = format!(
                "{:#}",
                SigningKey::from_jwk(&other_d.to_string()).unwrap_err()
            );
            assert!(err.contains("not the public key"), "{err}");
            let mut short = jwk.clone();
            short["d"] = json!(URL_SAFE_NO_PAD.encode(vec![1; len - 1]));
            let err = format!(
                "{:#}",
                SigningKey::from_jwk(&short.to_string()).unwrap_err()
            );
            assert!(err.contains(&format!("exactly {len} bytes")), "{err}");
            let mut wrong_alg = jwk.clone();
            wrong_alg["alg"] = json!("ES256");
            assert!(SigningKey::from_jwk(&wrong_alg.to_string()).is_err());
        }
    }

    #[test]
    fn from_jwk_keeps_a_suitable_alg() {
        let mut jwk = key(KeyKind::Rsa).to_private_jwk();
        jwk["alg"] = json!("PS256");
        let parsed = SigningKey::from_jwk(&jwk.to_string()).unwrap();
        assert_eq!(parsed.default_alg(), "PS256");
        assert_eq!(parsed.public_jwk()["alg"], "PS256");
    }

    #[test]
    fn load_reads_a_key_file_and_names_it_on_error() {
        let original = key(KeyKind::Ed25519);
        let path = std::env::temp_dir().join(format!("jwt-relay-cli-{}.jwk", std::process::id()));
        fs::write(&path, original.to_private_jwk().to_string()).unwrap();
        let loaded = SigningKey::load(&path);
        fs::remove_file(&path).unwrap();
        assert_eq!(loaded.unwrap().to_private_jwk(), original.to_private_jwk());

        let err = SigningKey::load(&path).unwrap_err();
        assert!(format!("{err:#}").contains(&path.display().to_string()));
    }

    #[test]
    fn jwks_lists_public_keys_in_order() {
        let (ec, ed) = (key(KeyKind::P256), key(KeyKind::Ed25519));
        let set = jwks(&[&ec, &ed]);
        assert_eq!(set, json!({ "keys": [ec.public_jwk(), ed.public_jwk()] }));
    }

    #[test]
    fn generate_refuses_an_empty_kid() {
        assert!(SigningKey::generate(KeyKind::Hmac, "").is_err());
    }

    #[test]
    fn every_alg_belongs_to_exactly_one_kind() {
        for alg in crate::token::ALGORITHMS {
            let owners = KeyKind::ALL
                .into_iter()
                .filter(|kind| kind.algorithms().contains(&alg))
                .count();
            assert_eq!(owners, 1, "{alg}");
        }
        assert_eq!(KeyKind::for_alg("none"), None);
    }
}
