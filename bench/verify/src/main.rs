//! One JWS signature verify per algorithm, timed natively and as a wasm32-wasip1 command under
//! V8 (Node.js's WASI; `run.mjs`). `probe.rs` runs the same measurements inside Envoy.
//!
//! `verify-bench gen FILE` (native only) signs tokens with the demo keys (envoy/demo-keys) and
//! writes them with the public JWKS to FILE; `verify-bench run FILE [ITERATIONS]` times them.
//! `run.sh` does it all. Nothing here is a test: numbers only.

#[cfg(not(target_family = "wasm"))]
use jwt_compact::{
    alg::{Ed25519, Es256, Rsa},
    jwk::JsonWebKey,
    Algorithm, AlgorithmExt,
};
#[cfg(not(target_family = "wasm"))]
use serde_json::Map;
use serde_json::Value;

mod bench;

/// Distinct tokens per algorithm (unique `jti`), verified round-robin.
#[cfg(not(target_family = "wasm"))]
const TOKENS_PER_ALG: usize = 8;
#[cfg(not(target_family = "wasm"))]
const ALGS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 3 => gen(&args[2]),
        Some("run") if args.len() >= 3 => {
            let iterations = args.get(3).map_or(200, |n| n.parse().unwrap_or(200));
            let doc: Value = serde_json::from_slice(&std::fs::read(&args[2]).unwrap()).unwrap();
            let engine = if cfg!(target_family = "wasm") {
                "wasm32-wasip1 in V8 (Node.js)"
            } else {
                "native"
            };
            print!("{}", bench::run(&doc, iterations, engine));
        }
        _ => {
            eprintln!("usage: verify-bench gen FILE | verify-bench run FILE [ITERATIONS]");
            std::process::exit(2)
        }
    }
}

#[cfg(target_family = "wasm")]
fn gen(_: &str) {
    eprintln!("gen runs natively (it signs with jwt-relay-cli)");
    std::process::exit(2)
}

#[cfg(not(target_family = "wasm"))]
fn gen(out: &str) {
    use jwt_compact::alg::RsaPrivateKey;
    use jwt_compact::{Claims as Jwt, Header};
    use serde_json::json;
    type Claims = bench::Claims;
    type P256Signing = <Es256 as Algorithm>::SigningKey;
    type Ed25519Signing = <Ed25519 as Algorithm>::SigningKey;

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../envoy/demo-keys");
    let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
    let (rsa_json, ec_json, ed_json) = (
        read("rsa.jwk.json"),
        read("ec.jwk.json"),
        read("ed25519.jwk.json"),
    );
    let jwk = |json: &'static str| -> JsonWebKey<'static> { serde_json::from_str(json).unwrap() };
    let rsa_key = RsaPrivateKey::try_from(&jwk(rsa_json.leak())).unwrap();
    let ec_key = P256Signing::try_from(&jwk(ec_json.leak())).unwrap();
    let ed_key = Ed25519Signing::try_from(&jwk(ed_json.leak())).unwrap();

    let mut tokens = Map::new();
    for alg in ALGS {
        let signed: Vec<Value> = (0..TOKENS_PER_ALG)
            .map(|i| {
                // A realistic access token: issuer, subject, audience, times, scope, id.
                let custom: Claims = serde_json::from_value(json!({
                    "iss": "https://idp.example.com", "sub": format!("user-{i}"),
                    "aud": ["api.example.com"], "iat": 1_700_000_000, "nbf": 1_700_000_000,
                    "exp": 4_000_000_000_u64, "scope": "orders:read orders:write",
                    "jti": format!("bench-{alg}-{i}"),
                }))
                .unwrap();
                let claims = Jwt::new(custom);
                let header = |kid: &str| Header::empty().with_key_id(kid).with_token_type("JWT");
                let token = match alg {
                    "RS256" => Rsa::rs256().token(&header("demo-rsa"), &claims, &rsa_key),
                    "PS256" => Rsa::ps256().token(&header("demo-rsa"), &claims, &rsa_key),
                    "ES256" => Es256.token(&header("demo-ec"), &claims, &ec_key),
                    _ => Ed25519.token(&header("demo-ed25519"), &claims, &ed_key),
                };
                token.unwrap().into()
            })
            .collect();
        tokens.insert(alg.to_owned(), signed.into());
    }
    let jwks: Value = serde_json::from_str(&read("jwks.json")).unwrap();
    let doc = json!({"jwks": jwks, "tokens": tokens});
    std::fs::write(out, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}
