//! Building and signing compact JWS for the harness, and the oracle's own signature checks
//! (the `rsa`, `p256`, `ed25519-dalek` and `hmac` crates: none of the filter's verifiers).

use std::cell::RefCell;
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::fixtures::{b64, keys, Family, KeyId};

/// A JSON object as an ordered list of members, so that duplicates can be rendered.
pub type Members = Vec<(String, Value)>;

pub fn render(members: &Members) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
        .collect();
    format!("{{{}}}", body.join(","))
}

pub fn get<'m>(members: &'m Members, name: &str) -> Option<&'m Value> {
    members
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn set(members: &mut Members, name: &str, value: Value) {
    match members.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => members.push((name.to_owned(), value)),
    }
}

pub fn remove(members: &mut Members, name: &str) {
    members.retain(|(k, _)| k != name);
}

fn hash(alg: &str, message: &[u8]) -> Option<(Vec<u8>, u8)> {
    Some(match alg {
        "RS256" | "PS256" | "HS256" | "ES256" => (Sha256::digest(message).to_vec(), 0),
        "RS384" | "PS384" | "HS384" => (Sha384::digest(message).to_vec(), 1),
        "RS512" | "PS512" | "HS512" => (Sha512::digest(message).to_vec(), 2),
        _ => return None,
    })
}

/// The algorithms a key of this family can sign (or be checked) with.
pub fn family_algs(family: Family) -> &'static [&'static str] {
    match family {
        Family::Rsa => &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        Family::P256 => &["ES256"],
        Family::Ed25519 => &["EdDSA"],
        Family::Hmac => &["HS256", "HS384", "HS512"],
    }
}

/// (key, algorithm, signing input) → signature.
type SignatureMemo = HashMap<(KeyId, String, Vec<u8>), Vec<u8>>;

thread_local! {
    /// RSA signing costs milliseconds under instrumentation: each signing input is signed once.
    static RSA_MEMO: RefCell<SignatureMemo> = RefCell::new(HashMap::new());
}

fn rsa_sign(id: KeyId, alg: &str, input: &[u8]) -> Vec<u8> {
    let memo_key = (id, alg.to_owned(), input.to_vec());
    if let Some(sig) = RSA_MEMO.with(|m| m.borrow().get(&memo_key).cloned()) {
        return sig;
    }
    let key = keys().rsa(id).expect("rsa key");
    let digest = |alg: &str| hash(alg, input).expect("rsa hash").0;
    let mut rng = ChaCha8Rng::seed_from_u64(input.len() as u64);
    let sig = match alg {
        "RS256" => key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest(alg)),
        "RS384" => key.sign(Pkcs1v15Sign::new::<Sha384>(), &digest(alg)),
        "RS512" => key.sign(Pkcs1v15Sign::new::<Sha512>(), &digest(alg)),
        "PS256" => key.sign_with_rng(&mut rng, Pss::new::<Sha256>(), &digest(alg)),
        "PS384" => key.sign_with_rng(&mut rng, Pss::new::<Sha384>(), &digest(alg)),
        _ => key.sign_with_rng(&mut rng, Pss::new::<Sha512>(), &digest(alg)),
    }
    .expect("rsa sign");
    RSA_MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() > 4096 {
            m.clear();
        }
        m.insert(memo_key, sig.clone());
    });
    sig
}

pub fn hmac_sign(secret: &[u8], alg: &str, input: &[u8]) -> Vec<u8> {
    match alg {
        "HS384" => {
            let mut mac = Hmac::<Sha384>::new_from_slice(secret).expect("hmac");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        "HS512" => {
            let mut mac = Hmac::<Sha512>::new_from_slice(secret).expect("hmac");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// Signs `input` with key `id` under `alg` when the key can; otherwise under its natural
/// algorithm (the header then names another algorithm than the one used: a mismatch).
pub fn sign(id: KeyId, alg: &str, input: &[u8]) -> Vec<u8> {
    let alg = if family_algs(id.family()).contains(&alg) {
        alg
    } else {
        id.natural_alg()
    };
    let k = keys();
    match id.family() {
        Family::Rsa => rsa_sign(id, alg, input),
        Family::P256 => {
            use p256::ecdsa::signature::Signer;
            let sig: p256::ecdsa::Signature = k.ec(id).expect("ec").sign(input);
            sig.to_bytes().to_vec()
        }
        Family::Ed25519 => {
            use ed25519_dalek::Signer;
            k.ed(id).expect("ed").sign(input).to_bytes().to_vec()
        }
        Family::Hmac => hmac_sign(k.hs(id).expect("hs"), alg, input),
    }
}

/// `b64(header).b64(claims)`.
pub fn signing_input(header: &str, claims: &str) -> String {
    format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()))
}

// ---------- the oracle's side ----------

/// Whether `sig` is a valid `alg` signature of `input` by key `id`, by the reference crates.
/// `alg` must be one the key's family can do; anything else is false.
pub fn reference_verify(id: KeyId, alg: &str, input: &[u8], sig: &[u8]) -> bool {
    if !family_algs(id.family()).contains(&alg) {
        return false;
    }
    let k = keys();
    match id.family() {
        Family::Rsa => {
            let public = RsaPublicKey::from(k.rsa(id).expect("rsa"));
            let Some((digest, _)) = hash(alg, input) else {
                return false;
            };
            let result = match alg {
                "RS256" => public.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, sig),
                "RS384" => public.verify(Pkcs1v15Sign::new::<Sha384>(), &digest, sig),
                "RS512" => public.verify(Pkcs1v15Sign::new::<Sha512>(), &digest, sig),
                "PS256" => public.verify(Pss::new::<Sha256>(), &digest, sig),
                "PS384" => public.verify(Pss::new::<Sha384>(), &digest, sig),
                _ => public.verify(Pss::new::<Sha512>(), &digest, sig),
            };
            result.is_ok()
        }
        Family::P256 => {
            use p256::ecdsa::signature::Verifier;
            let Ok(sig) = p256::ecdsa::Signature::from_slice(sig) else {
                return false;
            };
            k.ec(id)
                .expect("ec")
                .verifying_key()
                .verify(input, &sig)
                .is_ok()
        }
        Family::Ed25519 => {
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return false;
            };
            use ed25519_dalek::Verifier;
            // The lenient check: the oracle must not be stricter than RFC 8037 needs.
            k.ed(id)
                .expect("ed")
                .verifying_key()
                .verify(input, &sig)
                .is_ok()
        }
        Family::Hmac => {
            let secret = k.hs(id).expect("hs");
            let ok = |result: Result<(), hmac::digest::MacError>| result.is_ok();
            match alg {
                "HS256" => ok({
                    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac");
                    mac.update(input);
                    mac.verify_slice(sig)
                }),
                "HS384" => ok({
                    let mut mac = Hmac::<Sha384>::new_from_slice(secret).expect("hmac");
                    mac.update(input);
                    mac.verify_slice(sig)
                }),
                _ => ok({
                    let mut mac = Hmac::<Sha512>::new_from_slice(secret).expect("hmac");
                    mac.update(input);
                    mac.verify_slice(sig)
                }),
            }
        }
    }
}

/// A compact JWS split and decoded by the oracle, strictly: three segments, unpadded base64url,
/// header and claims JSON objects with no duplicate member names at any depth.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub header: serde_json::Map<String, Value>,
    pub claims: serde_json::Map<String, Value>,
    pub signing_input: String,
    pub signature: Vec<u8>,
}

pub fn decode(token: &str) -> Result<Decoded, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("{} segments", parts.len()));
    }
    let seg = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| format!("base64url: {e}"))
    };
    let header = seg(parts[0])?;
    let claims = seg(parts[1])?;
    let signature = seg(parts[2])?;
    Ok(Decoded {
        header: strict_object(&header)?,
        claims: strict_object(&claims)?,
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature,
    })
}

/// A JSON object, refusing duplicate member names at any depth (checked by a pass of our own
/// before serde_json builds the map, which would silently keep the last copy).
pub fn strict_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_any(NoDuplicates)
        .map_err(|e| format!("json: {e}"))?;
    de.end().map_err(|e| format!("json: {e}"))?;
    match serde_json::from_slice::<Value>(bytes).map_err(|e| format!("json: {e}"))? {
        Value::Object(map) => Ok(map),
        _ => Err("not an object".into()),
    }
}

struct NoDuplicates;

impl<'de> serde::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicates)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = NoDuplicates;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("duplicate member"));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(self)
    }
}
