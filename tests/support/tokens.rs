//! Tokens for the end-to-end cases, minted with `jwt_relay_cli` and the demo keys in
//! `envoy/demo-keys/` (the keys whose public JWKS `envoy/demo.yaml` inlines).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_relay_cli::keys::{KeyKind, SigningKey};
use jwt_relay_cli::token;
use serde_json::{json, Map, Value};

use super::repo_root;

pub const ISSUER: &str = "https://idp.example.com";
pub const EDGE_AUDIENCE: &str = "api.example.com";
pub const SUB: &str = "alice";

/// The demo signing keys (kids demo-rsa, demo-ec, demo-ed25519).
pub struct DemoKeys {
    pub rsa: SigningKey,
    pub ec: SigningKey,
    pub ed25519: SigningKey,
}

impl DemoKeys {
    pub fn load() -> DemoKeys {
        let load = |file: &str| {
            let path = repo_root().join("envoy/demo-keys").join(file);
            SigningKey::load(&path).unwrap_or_else(|e| panic!("load {}: {e:#}", path.display()))
        };
        DemoKeys {
            rsa: load("rsa.jwk.json"),
            ec: load("ec.jwk.json"),
            ed25519: load("ed25519.jwk.json"),
        }
    }
}

/// A fresh key of `kind` that is not in the JWKS, carrying `kid` (e.g. a demo key's kid, to forge).
pub fn stranger_key(kind: KeyKind, kid: &str) -> SigningKey {
    SigningKey::generate(kind, kid).unwrap()
}

/// Valid edge claims (iss, sub, aud api.example.com, iat now, exp in 10 minutes) with `overrides`
/// applied: each key of `overrides` replaces the claim, a `null` removes it.
pub fn claims(overrides: Value) -> Value {
    let now = token::now();
    let mut claims = json!({
        "iss": ISSUER,
        "sub": SUB,
        "aud": EDGE_AUDIENCE,
        "iat": now,
        "exp": now + 600,
    });
    let target = claims.as_object_mut().unwrap();
    for (key, value) in overrides.as_object().unwrap() {
        if value.is_null() {
            target.remove(key);
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
    claims
}

/// Signs `claims` with the key's default algorithm.
pub fn sign(key: &SigningKey, claims: &Value) -> String {
    token::sign_default(key, claims).unwrap()
}

/// Signs `claims` with `alg` and extra header fields (`null` removes a header field).
pub fn sign_with(key: &SigningKey, alg: &str, header: Value, claims: &Value) -> String {
    let header: Map<String, Value> = header.as_object().unwrap().clone();
    token::sign(key, alg, &header, claims).unwrap()
}

/// An unsigned token: `{"alg":"none"}`, the claims, an empty signature.
pub fn unsigned(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!("{}.{}.", b64(&header), b64(claims))
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The token with one character of its signature changed.
pub fn tamper_signature(token: &str) -> String {
    let sig_start = token.rfind('.').unwrap() + 1;
    let middle = sig_start + (token.len() - sig_start) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// The signature segment of a compact JWT (unique to that token).
pub fn signature_of(token: &str) -> &str {
    &token[token.rfind('.').unwrap() + 1..]
}
