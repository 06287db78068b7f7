//! One signature verify per algorithm, natively (`cargo bench -p jwt-relay-verifiers`). These
//! are the verifiers' own numbers; what they cost inside Envoy's V8 is `bench/verify/` (run.sh),
//! and what a request costs is `make bench`.
//!
//! Inputs are published examples, so the numbers are for signatures that verify: RFC 7515's
//! RS256 (A.2), ES256 (A.3) and ES512 (A.4) JWS, and the Keycloak PS256 token of Envoy's
//! jwt_verify_lib tests. ES384 has no published JWS example: its token is signed here with a
//! fixed P-384 key (deterministic ECDSA, so the same token every run).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::AlgorithmSignature as _;
use jwt_relay_verifiers::es256::{Es256Signature, Es256VerifyingKey, P256PublicKey};
use jwt_relay_verifiers::es384::{Es384Signature, Es384VerifyingKey};
use jwt_relay_verifiers::es512::{Es512Signature, Es512VerifyingKey};
use jwt_relay_verifiers::rsa::{RsaVerifier, RsaVerifyingKey};

#[path = "../src/vectors.rs"]
mod vectors;
use vectors::{ES256_JWS, ES256_KEY, ES512_JWS, ES512_KEY, PS256_JWS, PS256_N, RS256_JWS, RS256_N};

const AQAB: &[u8] = &[1, 0, 1];

fn b64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// (signing input, signature) of a compact JWS.
fn split(jws: &str) -> (&[u8], Vec<u8>) {
    let (input, signature) = jws.rsplit_once('.').expect("a compact JWS");
    (input.as_bytes(), b64(signature))
}

fn rsa(c: &mut Criterion) {
    for (name, alg, n, jws) in [
        ("RS256 2048", RsaVerifier::RS256, RS256_N, RS256_JWS),
        ("PS256 2048", RsaVerifier::PS256, PS256_N, PS256_JWS),
    ] {
        let n = b64(n);
        let key = RsaVerifyingKey::new(&n, AQAB).expect("a 2048-bit key");
        let (message, signature) = split(jws);
        assert!(key.verify(alg, message, &signature), "{name} must verify");
        c.bench_function(&format!("{name} verify"), |b| {
            b.iter(|| key.verify(alg, black_box(message), black_box(&signature)))
        });
        c.bench_function(&format!("{name} key preparation"), |b| {
            b.iter(|| RsaVerifyingKey::new(black_box(&n), AQAB))
        });
    }
}

fn es256(c: &mut Criterion) {
    let jwk: JsonWebKey<'_> = serde_json::from_str(ES256_KEY).expect("a JWK");
    let public = P256PublicKey::try_from(&jwk).expect("a P-256 key");
    let key = Es256VerifyingKey::new(&public);
    let (message, signature) = split(ES256_JWS);
    let signature = Es256Signature::try_from_slice(&signature).expect("64 bytes");
    assert!(key.verify(message, &signature), "ES256 must verify");
    c.bench_function("ES256 verify", |b| {
        b.iter(|| key.verify(black_box(message), black_box(&signature)))
    });
    c.bench_function("ES256 key preparation", |b| {
        b.iter(|| Es256VerifyingKey::new(black_box(&public)))
    });
}

/// x and y of a JWK.
fn coordinates(jwk: &str) -> (Vec<u8>, Vec<u8>) {
    let jwk: serde_json::Value = serde_json::from_str(jwk).expect("a JWK");
    let coordinate = |name: &str| b64(jwk[name].as_str().expect("a coordinate"));
    (coordinate("x"), coordinate("y"))
}

fn es384_es512(c: &mut Criterion) {
    use p384::ecdsa::signature::Signer as _;
    let signing = p384::ecdsa::SigningKey::from_slice(&[7; 48]).expect("a P-384 scalar");
    let point = signing.verifying_key().to_encoded_point(false);
    let (x, y) = (
        point.x().expect("x").to_vec(),
        point.y().expect("y").to_vec(),
    );
    let message = b"eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJqb2UifQ";
    let signature: p384::ecdsa::Signature = signing.sign(message);
    let key = Es384VerifyingKey::from_coordinates(&x, &y).expect("a P-384 key");
    let signature = Es384Signature::try_from_slice(&signature.to_bytes()).expect("96 bytes");
    assert!(key.verify(message, &signature), "ES384 must verify");
    c.bench_function("ES384 verify", |b| {
        b.iter(|| key.verify(black_box(message), black_box(&signature)))
    });
    c.bench_function("ES384 key preparation", |b| {
        b.iter(|| Es384VerifyingKey::from_coordinates(black_box(&x), black_box(&y)))
    });

    let (x, y) = coordinates(ES512_KEY);
    let key = Es512VerifyingKey::from_coordinates(&x, &y).expect("a P-521 key");
    let (message, signature) = split(ES512_JWS);
    let signature = Es512Signature::try_from_slice(&signature).expect("132 bytes");
    assert!(key.verify(message, &signature), "ES512 must verify");
    c.bench_function("ES512 verify", |b| {
        b.iter(|| key.verify(black_box(message), black_box(&signature)))
    });
    c.bench_function("ES512 key preparation", |b| {
        b.iter(|| Es512VerifyingKey::from_coordinates(black_box(&x), black_box(&y)))
    });
}

criterion_group!(benches, rsa, es256, es384_es512);
criterion_main!(benches);
