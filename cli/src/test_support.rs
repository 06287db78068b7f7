//! Fixtures shared by the unit tests.

use std::sync::OnceLock;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::Value;

use crate::keys::{KeyKind, SigningKey};

/// A key of `kind`. The RSA key is generated once per test run: 2048-bit generation takes
/// seconds in a debug build.
pub(crate) fn key(kind: KeyKind) -> SigningKey {
    static RSA: OnceLock<SigningKey> = OnceLock::new();
    match kind {
        KeyKind::Rsa => RSA
            .get_or_init(|| SigningKey::generate(KeyKind::Rsa, "test-rsa").unwrap())
            .clone(),
        other => SigningKey::generate(other, &format!("test-{other}")).unwrap(),
    }
}

/// The JSON in part `index` (0 header, 1 payload) of a compact JWS.
pub(crate) fn segment(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
