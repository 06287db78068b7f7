//! The measurements, shared by the command (`main.rs`: natively and under Node.js's WASI) and
//! the proxy-wasm probe (`probe.rs`: inside Envoy).

use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPublicKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, AlgorithmSignature, UntrustedToken};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

// The filter's verifiers, from the workspace's verifiers/ crate.
use jwt_relay_verifiers::{es256 as es256_verify, rsa as rsa_verify};

mod cios;
mod lazy;

use rsa_verify::{RsaVerifier, RsaVerifyingKey};

pub type Claims = Map<String, Value>;
type P256Key = <Es256 as Algorithm>::VerifyingKey;
type Ed25519Key = <Ed25519 as Algorithm>::VerifyingKey;

struct Keys {
    rsa: RsaPublicKey,
    rsa_n: Vec<u8>,
    fast_rsa: RsaVerifyingKey,
    p256: P256Key,
    ed25519: Ed25519Key,
}

fn keys(jwks: &Value) -> Keys {
    let find = |kty: &str| -> JsonWebKey<'static> {
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kty"] == kty)
            .unwrap();
        serde_json::from_value(key.clone()).unwrap()
    };
    let rsa_jwk = find("RSA");
    let JsonWebKey::Rsa {
        modulus,
        public_exponent,
        ..
    } = &rsa_jwk
    else {
        unreachable!()
    };
    Keys {
        rsa: RsaPublicKey::try_from(&rsa_jwk).unwrap(),
        rsa_n: modulus.to_vec(),
        fast_rsa: RsaVerifyingKey::new(modulus, public_exponent).unwrap(),
        p256: P256Key::try_from(&find("EC")).unwrap(),
        ed25519: Ed25519Key::try_from(&find("OKP")).unwrap(),
    }
}

/// The best over `ROUNDS` rounds of the mean µs per call over `iterations` calls (after a warm-up).
/// Every call must return true: a benchmark of a failing verify would measure nothing.
fn time(iterations: usize, mut f: impl FnMut(usize) -> bool) -> f64 {
    const ROUNDS: usize = 7;
    for i in 0..iterations.clamp(3, 20) {
        assert!(f(i), "warm-up call {i} failed");
    }
    let mut means: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iterations {
                assert!(f(i), "call {i} failed");
            }
            start.elapsed().as_secs_f64() * 1e6 / iterations as f64
        })
        .collect();
    // The best round: other processes on a 2-core machine only ever add time.
    means.sort_by(f64::total_cmp);
    means[0]
}

struct Token {
    text: String,
    /// The signing input (`header.payload`) and the decoded signature.
    message: Vec<u8>,
    signature: Vec<u8>,
}

fn tokens(doc: &Value, alg: &str) -> Vec<Token> {
    doc["tokens"][alg]
        .as_array()
        .unwrap()
        .iter()
        .map(|token| {
            let text = token.as_str().unwrap().to_owned();
            let dot = text.rfind('.').unwrap();
            Token {
                message: text.as_bytes()[..dot].to_vec(),
                signature: URL_SAFE_NO_PAD.decode(&text[dot + 1..]).unwrap(),
                text,
            }
        })
        .collect()
}

/// The table being printed: one row per measurement.
struct Table(String);

impl Table {
    fn row(&mut self, what: &str, micros: f64) {
        self.0 += &format!("| {what:<62} | {micros:>8.1} |\n");
    }
}

/// Times every row on the tokens and JWKS of `doc` (as `gen` writes it) and returns the table
/// (Markdown). `engine` names where it runs, for the header.
pub fn run(doc: &Value, iterations: usize, engine: &str) -> String {
    let keys = keys(&doc["jwks"]);
    let mut table = Table(format!(
        "| {engine}: one call (best of 7 rounds of {iterations}) | µs |\n|---|---:|\n"
    ));

    let validate = |token: &Token, check: &dyn Fn(&UntrustedToken<'_>) -> bool| {
        check(&UntrustedToken::new(&token.text).unwrap())
    };

    // RS256 and PS256: jwt-compact's Rsa (rsa 0.9, num-bigint-dig) against rsa_verify.
    for (alg, baseline, fast) in [
        ("RS256", Rsa::rs256(), RsaVerifier::RS256),
        ("PS256", Rsa::ps256(), RsaVerifier::PS256),
    ] {
        let list = tokens(doc, alg);
        let pick = |i: usize| &list[i % list.len()];
        table.row(
            &format!("{alg} validate, jwt-compact Rsa (rsa 0.9)"),
            time(iterations, |i| {
                validate(pick(i), &|t| {
                    baseline.validator::<Claims>(&keys.rsa).validate(t).is_ok()
                })
            }),
        );
        table.row(
            &format!("{alg} validate, rsa_verify (crypto-bigint)"),
            time(iterations, |i| {
                validate(pick(i), &|t| {
                    fast.validator::<Claims>(&keys.fast_rsa).validate(t).is_ok()
                })
            }),
        );
        if alg == "RS256" {
            rs256_profile(&mut table, &keys, &list, iterations);
        }
    }

    let list = tokens(doc, "ES256");
    let pick = |i: usize| &list[i % list.len()];
    table.row(
        "ES256 validate, jwt-compact Es256 (p256 0.13)",
        time(iterations, |i| {
            validate(pick(i), &|t| {
                Es256.validator::<Claims>(&keys.p256).validate(t).is_ok()
            })
        }),
    );
    table.row(
        "  ES256 signature only (verify_signature)",
        time(iterations, |i| {
            let token = pick(i);
            let signature =
                <Es256 as Algorithm>::Signature::try_from_slice(&token.signature).unwrap();
            Es256.verify_signature(&signature, &keys.p256, &token.message)
        }),
    );

    let fast_ec = es256_verify::Es256VerifyingKey::new(&keys.p256);
    for token in &list {
        let signature = <Es256 as Algorithm>::Signature::try_from_slice(&token.signature).unwrap();
        assert!(
            fast_ec.verify(&token.message, &signature),
            "wNAF ES256 refused a token"
        );
        let mut other = token.message.clone();
        other[3] ^= 1;
        assert!(
            !fast_ec.verify(&other, &signature),
            "wNAF ES256 took a changed message"
        );
    }
    table.row(
        "  es256_verify signature only (vartime wNAF u1·G + u2·Q)",
        time(iterations, |i| {
            let token = pick(i);
            let signature =
                <Es256 as Algorithm>::Signature::try_from_slice(&token.signature).unwrap();
            fast_ec.verify(&token.message, &signature)
        }),
    );

    table.row(
        "ES256 validate, es256_verify (p256 0.13 arithmetic, wNAF)",
        time(iterations, |i| {
            validate(pick(i), &|t| {
                es256_verify::Es256Verifier
                    .validator::<Claims>(&fast_ec)
                    .validate(t)
                    .is_ok()
            })
        }),
    );

    let list = tokens(doc, "EdDSA");
    let pick = |i: usize| &list[i % list.len()];
    table.row(
        "EdDSA validate, jwt-compact Ed25519 (ed25519-compact)",
        time(iterations, |i| {
            validate(pick(i), &|t| {
                Ed25519
                    .validator::<Claims>(&keys.ed25519)
                    .validate(t)
                    .is_ok()
            })
        }),
    );
    table.0
}

/// Where an RS256 verify goes: the hash, the rsa crate's public operation and its pieces,
/// and the same for rsa_verify.
fn rs256_profile(table: &mut Table, keys: &Keys, list: &[Token], iterations: usize) {
    use rsa::traits::PublicKeyParts;
    use rsa::BigUint;
    let pick = |i: usize| &list[i % list.len()];
    table.row(
        "  RS256 parse only (UntrustedToken::new: base64, header)",
        time(iterations, |i| UntrustedToken::new(&pick(i).text).is_ok()),
    );
    table.row(
        "  SHA-256 of the signing input",
        time(iterations, |i| {
            std::hint::black_box(Sha256::digest(&pick(i).message));
            true
        }),
    );
    table.row(
        "  rsa 0.9 signature only (verify_signature)",
        time(iterations, |i| {
            let token = pick(i);
            let signature =
                <Rsa as Algorithm>::Signature::try_from_slice(&token.signature).unwrap();
            Rsa::rs256().verify_signature(&signature, &keys.rsa, &token.message)
        }),
    );
    let n = keys.rsa.n();
    table.row(
        "  rsa 0.9 s^e mod n (num-bigint-dig modpow)",
        time(iterations, |i| {
            let s = BigUint::from_bytes_be(&pick(i).signature);
            rsa::hazmat::rsa_encrypt(&keys.rsa, &s).is_ok()
        }),
    );
    table.row(
        "    of which R² mod n, recomputed per call ((1<<4096) % n)",
        time(iterations, |_| {
            let rr = (BigUint::from(1_u8) << (2 * 64 * 32)) % n;
            rr.bits() > 0
        }),
    );
    table.row(
        "  rsa_verify signature only (RsaVerifyingKey::verify)",
        time(iterations, |i| {
            let token = pick(i);
            keys.fast_rsa
                .verify(RsaVerifier::RS256, &token.message, &token.signature)
        }),
    );
    let cios = cios::Modulus::new(&keys.rsa_n);
    table.row(
        "  experiment: hand-written CIOS s^65537 mod n (32-bit limbs)",
        time(iterations, |i| cios.pow65537(&pick(i).signature).is_some()),
    );
    let lazy = lazy::Modulus::new(&keys.rsa_n);
    let expected = keys.fast_rsa.public_operation(&list[0].signature);
    assert_eq!(lazy.pow65537(&list[0].signature), expected, "lazy is wrong");
    assert_eq!(cios.pow65537(&list[0].signature), expected, "cios is wrong");
    table.row(
        "  experiment: radix 2^28 lazy-carry Montgomery s^65537 mod n",
        time(iterations, |i| lazy.pow65537(&pick(i).signature).is_some()),
    );
    let fast_n = &keys.fast_rsa;
    table.row(
        "  rsa_verify s^e mod n only (crypto-bigint DynResidue)",
        time(iterations, |i| {
            fast_n.public_operation(&pick(i).signature).is_some()
        }),
    );
    table.row(
        "  rsa_verify key preparation (once per key: R, R² mod n)",
        time(iterations.min(50), |_| {
            RsaVerifyingKey::new(&keys.rsa_n, &[1, 0, 1]).is_ok()
        }),
    );
}
