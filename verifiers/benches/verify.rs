//! One signature verify per algorithm, natively (`cargo bench -p jwt-relay-verifiers`). These
//! are the verifiers' own numbers; what they cost inside Envoy's V8 is `bench/verify/` (run.sh),
//! and what a request costs is `make bench`.
//!
//! Inputs are published examples, so the numbers are for signatures that verify: RFC 7515's
//! RS256 (A.2) and ES256 (A.3) JWS, and the Keycloak PS256 token of Envoy's jwt_verify_lib tests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::AlgorithmSignature as _;
use jwt_relay_verifiers::es256::{Es256Signature, Es256VerifyingKey, P256PublicKey};
use jwt_relay_verifiers::rsa::{RsaVerifier, RsaVerifyingKey};

const AQAB: &[u8] = &[1, 0, 1];

const RS256_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
);
const RS256_JWS: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw",
);
const PS256_N: &str = concat!(
    "vz40nPlC2XsAGbqfp3S4nyl2G1iMFER1l_I4k7gfC-87UWu2-a7BZQHb646WmSXu8xFzu0x5FFTFmu_v3Aj1NAcd",
    "Ybz09UypSxfH--aw7ATiSWL26jHixFP4l6miJxaXV-rlp9qFSO--1JRnlvYrt6M5mQI0ZvN8EahAVXIHNtDMZYu0",
    "HYwwL7j45gjF9o9kDbfMSPr8Oni0QC2tTcCg623OlNqrJZFT4YNJ8A1nRfwGwBLFp5pxpK9ZCekQVhBpZNUrlLB5",
    "uDaB5H9lwFKslbHC-HKlJbfZZg16j6tlQTgw6dnKNo5LPrZ4TeSUyuoudzZSpZo4dyFsasTfWYTSLQ",
);
const PS256_JWS: &str = concat!(
    "eyJhbGciOiJQUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICI0aG1PNjViYmM3SVZJLTNQ",
    "ZkEyZW1BbE8wcWh2NHJCX195dzhCUFE1OHE4In0.",
    "eyJleHAiOjE1OTM5MTI4MTEsImlhdCI6MTU5MzkxMjUxMSwianRpIjoiM2M5ZWU5MDktM2Nh",
    "NS00NTg3LThjMGItNzAwY2I0Y2I4ZTYyIiwiaXNzIjoiaHR0cHM6Ly9rZXljbG9hay5sb2Nh",
    "bGhvc3QvYXV0aC9yZWFsbXMvYXBwbGljYXRpb25zIiwic3ViIjoiYzNjZmQ5OTktY2EyMi00",
    "MDgwLTk4NjMtMjc3NDI3ZGI0MzIxIiwidHlwIjoiQmVhcmVyIiwiYXpwIjoiZm9vIiwic2Vz",
    "c2lvbl9zdGF0ZSI6ImRlMzdiYTljLTRiM2EtNDI1MC1hODliLWRhODE5MjhmY2Y5YiIsImFj",
    "ciI6IjEiLCJzY29wZSI6ImVtYWlsIHByb2ZpbGUiLCJlbWFpbF92ZXJpZmllZCI6ZmFsc2Us",
    "Im5hbWUiOiJVc2VyIFplcm8iLCJwcmVmZXJyZWRfdXNlcm5hbWUiOiJ1c2VyMCIsImdpdmVu",
    "X25hbWUiOiJVc2VyIiwiZmFtaWx5X25hbWUiOiJaZXJvIiwiZW1haWwiOiJ1c2VyMEBtYWls",
    "LmNvbSJ9.",
    "fas6TkXZ97K1d8tTMCEFDcG-MupI-BwGn0UZD8riwmbLf5xmDPaoZwmJ3k-szVo-oJMfMZbr",
    "VAI8xQwg4Z7bQvd3I9WM6XPsu1_gKnkc2EOATgkdpDg5rWOPSZCFLUD_bqsoPQrfc2C1-UKs",
    "VOwUkXEH6rEIlOvngqQWNJjtbkvsS2N_3kNAgaD8cELT5mxmM4vGZn14OHmXHJBIW9pHJU64",
    "tA0sDcexoylL7xB_E1XTs3St0sYyq_pz9920vHScr9KXQ3y9k-fbPvgBs2gGY0iK63E0lEwD",
    "fRWY4Za6RRqymammehv7ZiE4HjDy5Q_AdLGdRefrTxtiQrHIThLqAw",
);
const ES256_KEY: &str = r#"{"kty":"EC","crv":"P-256",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const ES256_JWS: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA",
    "pmWQxfKTUJqPP3-Kg6NU1Q",
);

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

criterion_group!(benches, rsa, es256);
criterion_main!(benches);
