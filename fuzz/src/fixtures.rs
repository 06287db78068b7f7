//! Fixture keys, made deterministically from fixed seeds: every run, the seed generator and the
//! fuzz targets see the same keys, and nothing is read from disk.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// A fixture key. Which provider trusts which key is the model's business (`model.rs`).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyId {
    RsaA,
    RsaB,
    Ec,
    EcUntrusted,
    Ed,
    EdRemote,
    EdUntrusted,
    Hs,
    HsUntrusted,
}

impl KeyId {
    pub const ALL: [KeyId; 9] = [
        KeyId::RsaA,
        KeyId::RsaB,
        KeyId::Ec,
        KeyId::EcUntrusted,
        KeyId::Ed,
        KeyId::EdRemote,
        KeyId::EdUntrusted,
        KeyId::Hs,
        KeyId::HsUntrusted,
    ];

    /// The family, as JOSE algorithms need it.
    pub fn family(self) -> Family {
        match self {
            KeyId::RsaA | KeyId::RsaB => Family::Rsa,
            KeyId::Ec | KeyId::EcUntrusted => Family::P256,
            KeyId::Ed | KeyId::EdRemote | KeyId::EdUntrusted => Family::Ed25519,
            KeyId::Hs | KeyId::HsUntrusted => Family::Hmac,
        }
    }

    /// The algorithm this key signs with when nothing else is asked.
    pub fn natural_alg(self) -> &'static str {
        match self.family() {
            Family::Rsa => "RS256",
            Family::P256 => "ES256",
            Family::Ed25519 => "EdDSA",
            Family::Hmac => "HS256",
        }
    }

    /// The `kid` its JWK carries (untrusted keys reuse a trusted key's kid: a forger would).
    pub fn kid(self) -> &'static str {
        match self {
            KeyId::RsaA => "rsa-a",
            KeyId::RsaB => "rsa-b",
            KeyId::Ec | KeyId::EcUntrusted => "ec-1",
            KeyId::Ed | KeyId::EdUntrusted => "ed-1",
            KeyId::EdRemote => "remote-ed",
            KeyId::Hs | KeyId::HsUntrusted => "hs-1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Rsa,
    P256,
    Ed25519,
    Hmac,
}

pub struct Keys {
    pub rsa_a: RsaPrivateKey,
    pub rsa_b: RsaPrivateKey,
    pub ec: p256::ecdsa::SigningKey,
    pub ec_untrusted: p256::ecdsa::SigningKey,
    pub ed: ed25519_dalek::SigningKey,
    pub ed_remote: ed25519_dalek::SigningKey,
    pub ed_untrusted: ed25519_dalek::SigningKey,
    pub hs: Vec<u8>,
    pub hs_untrusted: Vec<u8>,
}

/// The RSA key made from `seed`. Generating one takes seconds natively and minutes inside an
/// instrumented fuzz binary (past libFuzzer's per-input timeout), so the first generation is kept
/// in `target/fixture-keys/` (git-ignored, made by code like everything here): `make fuzz` runs
/// the native self-tests first, and the fuzz binaries then only read the DER.
pub fn rsa_key(seed: u64, bits: usize) -> RsaPrivateKey {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixture-keys");
    let path = dir.join(format!("rsa-{seed:x}-{bits}.der"));
    if let Ok(key) = std::fs::read(&path)
        .map_err(|_| ())
        .and_then(|der| RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| ()))
    {
        if key.n().bits() == bits {
            return key;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let key = RsaPrivateKey::new(&mut rng, bits).expect("RSA key generation");
    // Best effort: written whole then renamed, so a parallel reader never sees half a key.
    if let Ok(der) = key.to_pkcs1_der() {
        let partial = dir.join(format!("rsa-{seed:x}-{bits}.{}.tmp", std::process::id()));
        let _ = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&partial, der.as_bytes()))
            .and_then(|()| std::fs::rename(&partial, &path));
    }
    key
}

fn ec_key(byte: u8) -> p256::ecdsa::SigningKey {
    let mut bytes = [byte; 32];
    bytes[0] = 0x01; // well below the group order
    p256::ecdsa::SigningKey::from_slice(&bytes).expect("P-256 scalar")
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa_a: rsa_key(0xa, 2048),
        rsa_b: rsa_key(0xb, 2048),
        ec: ec_key(0x11),
        ec_untrusted: ec_key(0x12),
        ed: ed25519_dalek::SigningKey::from_bytes(&[0x21; 32]),
        ed_remote: ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]),
        ed_untrusted: ed25519_dalek::SigningKey::from_bytes(&[0x23; 32]),
        hs: b"fixture-hmac-secret-32-bytes-long!!".to_vec(),
        hs_untrusted: b"another-hmac-secret-32-bytes-long!!".to_vec(),
    })
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Keys {
    pub fn rsa(&self, id: KeyId) -> Option<&RsaPrivateKey> {
        match id {
            KeyId::RsaA => Some(&self.rsa_a),
            KeyId::RsaB => Some(&self.rsa_b),
            _ => None,
        }
    }

    pub fn ec(&self, id: KeyId) -> Option<&p256::ecdsa::SigningKey> {
        match id {
            KeyId::Ec => Some(&self.ec),
            KeyId::EcUntrusted => Some(&self.ec_untrusted),
            _ => None,
        }
    }

    pub fn ed(&self, id: KeyId) -> Option<&ed25519_dalek::SigningKey> {
        match id {
            KeyId::Ed => Some(&self.ed),
            KeyId::EdRemote => Some(&self.ed_remote),
            KeyId::EdUntrusted => Some(&self.ed_untrusted),
            _ => None,
        }
    }

    pub fn hs(&self, id: KeyId) -> Option<&[u8]> {
        match id {
            KeyId::Hs => Some(&self.hs),
            KeyId::HsUntrusted => Some(&self.hs_untrusted),
            _ => None,
        }
    }

    /// The public JWK (the secret itself for `oct`), with an optional `alg` member.
    pub fn jwk(&self, id: KeyId, alg: Option<&str>) -> Value {
        let mut jwk = match id.family() {
            Family::Rsa => {
                let key = self.rsa(id).expect("rsa");
                json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
            }
            Family::P256 => {
                let point = self
                    .ec(id)
                    .expect("ec")
                    .verifying_key()
                    .to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256",
                       "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))})
            }
            Family::Ed25519 => {
                let public = self.ed(id).expect("ed").verifying_key();
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(public.as_bytes())})
            }
            Family::Hmac => json!({"kty": "oct", "k": b64(self.hs(id).expect("hs"))}),
        };
        jwk["kid"] = json!(id.kid());
        jwk["use"] = json!("sig");
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }
}
