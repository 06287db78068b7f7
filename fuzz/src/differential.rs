//! The filter's hand-written RSA and ES256 verifiers against the `rsa` and `p256` crates.
//!
//! Both sides get the same key, message and signature; their answers must match. One case is
//! known where `rsa` 0.9.10 accepts what RFC 8017 refuses, and the filter is right: PSS with a
//! modulus of 8k+1 bits, where EM is one byte shorter than the modulus and `rsa` skips that
//! excess byte without checking it is zero (§8.1.2 step 2: I2OSP of m to emLen octets fails).
//! It is allowed only as "filter refuses, `rsa` accepts", and only where the private key lets the
//! harness prove the rest: the same EM with the excess byte zeroed must be accepted by the filter.
//! Anything else that differs is a finding.
//!
//! (The reference is `rsa`'s typed `VerifyingKey`, which refuses a representative s ≥ n. Its
//! dynamic `Pss` scheme, `RsaPublicKey::verify(Pss::new::<D>(), …)`, skips that range check and
//! reduces s mod n: not used here.)
//!
//! Signatures are not only random bytes (which both sides refuse, telling little): with a
//! fixture private key the harness builds an encoded message EM (a valid one, edited, or any
//! bytes) and raises it to d, so the filter's padding checks see attacker-chosen EMs.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use jwt_relay::token::es256_verify::Es256VerifyingKey;
use jwt_relay::token::rsa_verify::{RsaVerifier, RsaVerifyingKey};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::{Sha256, Sha384, Sha512};

use crate::fixtures::rsa_key;

/// Fixture moduli: the usual sizes, and 8k+1 bits where EM is shorter than the modulus.
pub const RSA_BITS: [usize; 5] = [2048, 2049, 2056, 3072, 4096];

pub fn rsa_keys() -> &'static [RsaPrivateKey] {
    static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        RSA_BITS
            .iter()
            .zip(0x100_u64..)
            .map(|(&bits, seed)| rsa_key(seed, bits))
            .collect()
    })
}

pub const RSA_ALGS: [&str; 6] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

#[derive(Arbitrary, Debug, Clone)]
pub enum RsaKeyInput {
    /// One of [`rsa_keys`], whose private half the harness can sign with.
    Fixture(u8),
    /// Any modulus and exponent, as a JWK's decoded `n` and `e`.
    Raw { n: Vec<u8>, e: Vec<u8> },
}

#[derive(Arbitrary, Debug, Clone)]
pub enum RsaSignatureInput {
    Raw(Vec<u8>),
    /// A valid signature by `rsa`, then `(index, xor)` edits of its bytes.
    Valid(Vec<(u16, u8)>),
    /// A valid signature with bytes added in front (zeros or not) or cut from the front.
    Resized {
        grow: bool,
        count: u8,
        fill: u8,
    },
    /// The valid EM, edited by `(index, xor)`, raised to d.
    EditedEm(Vec<(u16, u8)>),
    /// The fuzzer's bytes as EM (right-aligned in k bytes, reduced mod n), raised to d.
    FreeEm(Vec<u8>),
    /// A valid signature plus n (when that still fits in k bytes).
    PlusModulus,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct RsaCase {
    pub key: RsaKeyInput,
    pub alg: u8,
    pub message: Vec<u8>,
    pub signature: RsaSignatureInput,
}

fn be_padded(value: &BigUint, len: usize) -> Option<Vec<u8>> {
    let bytes = value.to_bytes_be();
    let pad = len.checked_sub(bytes.len())?;
    let mut out = vec![0; pad];
    out.extend_from_slice(&bytes);
    Some(out)
}

/// `em`^d mod n as k bytes: the signature whose public operation gives `em` (mod n).
pub fn raise_to_d(private: &RsaPrivateKey, em: &[u8]) -> Vec<u8> {
    let m = BigUint::from_bytes_be(em) % private.n();
    let s = rsa_decrypt_and_check::<ChaCha8Rng>(private, None, &m).expect("RSA private op");
    be_padded(&s, private.size()).expect("s < n fits in k bytes")
}

pub fn public_em(public: &RsaPublicKey, signature: &[u8]) -> Vec<u8> {
    let s = BigUint::from_bytes_be(signature) % public.n();
    be_padded(
        &rsa_encrypt(public, &s).expect("RSA public op"),
        public.size(),
    )
    .expect("fits")
}

pub fn rsa_sign(private: &RsaPrivateKey, alg: &str, message: &[u8]) -> Vec<u8> {
    thread_local! {
        /// A private-key operation costs milliseconds under instrumentation, and the fuzzer
        /// mostly varies the signature edits of one (key, algorithm, message).
        static MEMO: std::cell::RefCell<SignatureMemo> = Default::default();
    }
    let memo_key = (private.n().bits(), alg.to_owned(), message.to_vec());
    if let Some(sig) = MEMO.with(|m| m.borrow().get(&memo_key).cloned()) {
        return sig;
    }
    let sig = rsa_sign_uncached(private, alg, message);
    MEMO.with(|m| {
        let mut memo = m.borrow_mut();
        if memo.len() >= 4096 {
            memo.clear(); // bounded: a long run must not grow without limit
        }
        memo.insert(memo_key, sig.clone());
    });
    sig
}

/// (modulus bits, algorithm, message) → signature; the fixture keys differ in size.
type SignatureMemo = std::collections::HashMap<(usize, String, Vec<u8>), Vec<u8>>;

fn rsa_sign_uncached(private: &RsaPrivateKey, alg: &str, message: &[u8]) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(message.len() as u64);
    let key = private.clone();
    match alg {
        "RS256" => rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
            .sign_with_rng(&mut rng, message)
            .to_vec(),
        "RS384" => rsa::pkcs1v15::SigningKey::<Sha384>::new(key)
            .sign_with_rng(&mut rng, message)
            .to_vec(),
        "RS512" => rsa::pkcs1v15::SigningKey::<Sha512>::new(key)
            .sign_with_rng(&mut rng, message)
            .to_vec(),
        "PS256" => rsa::pss::SigningKey::<Sha256>::new(key)
            .sign_with_rng(&mut rng, message)
            .to_vec(),
        "PS384" => rsa::pss::SigningKey::<Sha384>::new(key)
            .sign_with_rng(&mut rng, message)
            .to_vec(),
        _ => rsa::pss::SigningKey::<Sha512>::new(key)
            .sign_with_rng(&mut rng, message)
            .to_vec(),
    }
}

/// The `rsa` crate's answer (PSS with salt length = hash length, as RFC 7518 §3.5 fixes it).
pub fn rsa_reference(public: &RsaPublicKey, alg: &str, message: &[u8], signature: &[u8]) -> bool {
    use rsa::signature::Verifier;
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
        return false;
    };
    let key = public.clone();
    match alg {
        "RS256" => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
            .verify(message, &sig)
            .is_ok(),
        "RS384" => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key)
            .verify(message, &sig)
            .is_ok(),
        "RS512" => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key)
            .verify(message, &sig)
            .is_ok(),
        _ => {
            let Ok(sig) = rsa::pss::Signature::try_from(signature) else {
                return false;
            };
            match alg {
                "PS256" => rsa::pss::VerifyingKey::<Sha256>::new(key).verify(message, &sig),
                "PS384" => rsa::pss::VerifyingKey::<Sha384>::new(key).verify(message, &sig),
                _ => rsa::pss::VerifyingKey::<Sha512>::new(key).verify(message, &sig),
            }
            .is_ok()
        }
    }
}

fn edit(bytes: &mut [u8], edits: &[(u16, u8)]) {
    if bytes.is_empty() {
        return;
    }
    for &(at, xor) in edits {
        let i = usize::from(at) % bytes.len();
        bytes[i] ^= xor;
    }
}

/// The signature bytes the case describes, or `None` when it cannot be built (no private key).
fn rsa_signature(case: &RsaCase, private: Option<&RsaPrivateKey>, alg: &str) -> Option<Vec<u8>> {
    if let RsaSignatureInput::Raw(bytes) = &case.signature {
        return Some(bytes.clone());
    }
    let private = private?;
    let valid = rsa_sign(private, alg, &case.message);
    let k = private.size();
    Some(match &case.signature {
        RsaSignatureInput::Raw(_) => unreachable!("handled above"),
        RsaSignatureInput::Valid(edits) => {
            let mut sig = valid;
            edit(&mut sig, edits);
            sig
        }
        RsaSignatureInput::Resized { grow, count, fill } => {
            let count = usize::from(*count % 8) + 1;
            if *grow {
                let mut sig = vec![*fill; count];
                sig.extend_from_slice(&valid);
                sig
            } else {
                valid[count.min(valid.len())..].to_vec()
            }
        }
        RsaSignatureInput::EditedEm(edits) => {
            let mut em = public_em(&private.to_public_key(), &valid);
            edit(&mut em, edits);
            raise_to_d(private, &em)
        }
        RsaSignatureInput::FreeEm(bytes) => {
            let mut em = vec![0; k.saturating_sub(bytes.len())];
            em.extend_from_slice(&bytes[bytes.len().saturating_sub(k)..]);
            raise_to_d(private, &em)
        }
        RsaSignatureInput::PlusModulus => {
            let s = BigUint::from_bytes_be(&valid) + private.n();
            be_padded(&s, k).unwrap_or(valid)
        }
    })
}

/// Runs one case on both sides. `Err` says how they differ beyond the allowed cases.
pub fn check_rsa(case: &RsaCase) -> Result<(), String> {
    let alg = RSA_ALGS[usize::from(case.alg) % RSA_ALGS.len()];
    let verifier = RsaVerifier::from_name(alg).expect("an RSA algorithm");
    let (n, e, private) = match &case.key {
        RsaKeyInput::Fixture(i) => {
            let keys = rsa_keys();
            let private = &keys[usize::from(*i) % keys.len()];
            (
                private.n().to_bytes_be(),
                private.e().to_bytes_be(),
                Some(private),
            )
        }
        RsaKeyInput::Raw { n, e } => (n.clone(), e.clone(), None),
    };
    let filter_key = RsaVerifyingKey::new(&n, &e);
    let reference_key = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e));
    let (filter_key, public) = match (filter_key, reference_key) {
        (Ok(f), Ok(r)) => (f, r),
        (Err(_), _) => return Ok(()), // the filter may be stricter about keys (even n, small e)
        (Ok(_), Err(why)) => {
            // Only e ≥ n (a modulus of at most 34 bits, far below any policy minimum).
            if BigUint::from_bytes_be(&e) >= BigUint::from_bytes_be(&n) {
                return Ok(());
            }
            return Err(format!("the filter took a key `rsa` refuses ({why})"));
        }
    };
    if filter_key.bits() != public.n().bits() {
        return Err(format!(
            "key size {} bits, `rsa` says {}",
            filter_key.bits(),
            public.n().bits()
        ));
    }
    let Some(signature) = rsa_signature(case, private, alg) else {
        return Ok(());
    };
    let filter = filter_key.verify(verifier, &case.message, &signature);
    let reference = rsa_reference(&public, alg, &case.message, &signature);
    if filter == reference {
        return Ok(());
    }
    let pss = alg.starts_with("PS");
    if filter || !pss {
        return Err(format!(
            "{alg}, {} bits: filter {filter}, rsa {reference}",
            public.n().bits()
        ));
    }
    // rsa accepts, the filter refuses a PSS signature: only the documented case.
    let private = private.ok_or("rsa accepted a PSS signature for a key without private half")?;
    let mut em = public_em(&public, &signature);
    if public.n().bits() % 8 == 1 && em[0] != 0 {
        em[0] = 0;
        let canonical = raise_to_d(private, &em);
        return if filter_key.verify(verifier, &case.message, &canonical) {
            Ok(())
        } else {
            Err(format!(
                "{alg}: with the excess byte zeroed the filter still refuses what rsa accepted"
            ))
        };
    }
    Err(format!(
        "{alg}, {} bits: the filter refuses a PSS signature rsa accepts",
        public.n().bits()
    ))
}

/// An ECDSA signature for the differential targets (ES256, ES384), r ‖ s.
#[derive(Arbitrary, Debug, Clone)]
pub enum EcSignatureInput {
    /// Any bytes (r ‖ s of the curve's length decodes when both are in [1, n−1]; other lengths
    /// never do).
    Raw(Vec<u8>),
    /// An RFC 6979 signature by the case's key, then optional edits.
    Valid {
        /// s → n − s: the other valid signature of the same (r, message).
        negate_s: bool,
        swap: bool,
        edits: Vec<(u8, u8)>,
    },
    /// A valid signature of one message presented for another.
    OtherMessage(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Es256Case {
    /// The secret scalar (big-endian; 1 and n − 1 give Q = ±G). Out of range → a fixed key.
    pub secret: [u8; 32],
    pub message: Vec<u8>,
    pub signature: EcSignatureInput,
}

/// Runs one case on both sides: the filter's wNAF verifier and `p256`'s own.
pub fn check_es256(case: &Es256Case) -> Result<(), String> {
    let signing = p256::ecdsa::SigningKey::from_slice(&case.secret)
        .unwrap_or_else(|_| p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).expect("scalar"));
    let public = *signing.verifying_key();
    let bytes: Vec<u8> = match &case.signature {
        EcSignatureInput::Raw(bytes) => bytes.clone(),
        EcSignatureInput::Valid {
            negate_s,
            swap,
            edits,
        } => {
            let sig: p256::ecdsa::Signature = signing.sign(&case.message);
            let (r, s) = sig.split_scalars();
            let s = if *negate_s { -*s } else { *s };
            let (r, s) = if *swap { (s, *r) } else { (*r, s) };
            let mut bytes = r.to_bytes().to_vec();
            bytes.extend_from_slice(&s.to_bytes());
            for &(at, xor) in edits {
                let at = usize::from(at) % bytes.len();
                bytes[at] ^= xor;
            }
            bytes
        }
        EcSignatureInput::OtherMessage(other) => {
            let sig: p256::ecdsa::Signature = signing.sign(other);
            sig.to_bytes().to_vec()
        }
    };
    // The filter decodes ES256 signatures through jwt-compact, which uses p256's own decoding:
    // r and s in [1, n−1]. Both sides see only what decodes.
    let Ok(signature) = p256::ecdsa::Signature::from_slice(&bytes) else {
        return Ok(());
    };
    let filter = Es256VerifyingKey::new(&public).verify(&case.message, &signature);
    let reference = public.verify(&case.message, &signature).is_ok();
    if filter == reference {
        Ok(())
    } else {
        Err(format!("ES256: filter {filter}, p256 {reference}"))
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Es384Case {
    /// The secret scalar (big-endian). Out of range → a fixed key.
    pub secret: [u8; 48],
    pub message: Vec<u8>,
    pub signature: EcSignatureInput,
}

/// Runs one case on both sides: the filter's ES384 (the `p384` crate, through the JWS signature
/// decoding the filter uses) and ring's ECDSA_P384_SHA384_FIXED (BoringSSL's arithmetic).
pub fn check_es384(case: &Es384Case) -> Result<(), String> {
    use jwt_compact::AlgorithmSignature as _;
    use jwt_relay::token::es384_verify::{Es384Signature, Es384VerifyingKey};
    use p384::ecdsa::signature::Signer as _;

    let signing = p384::ecdsa::SigningKey::from_slice(&case.secret)
        .unwrap_or_else(|_| p384::ecdsa::SigningKey::from_slice(&[0x42; 48]).expect("scalar"));
    let point = signing.verifying_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err("an uncompressed point without coordinates".into());
    };
    let bytes: Vec<u8> = match &case.signature {
        EcSignatureInput::Raw(bytes) => bytes.clone(),
        EcSignatureInput::Valid {
            negate_s,
            swap,
            edits,
        } => {
            let sig: p384::ecdsa::Signature = signing.sign(&case.message);
            let (r, s) = sig.split_scalars();
            let s = if *negate_s { -*s } else { *s };
            let (r, s) = if *swap { (s, *r) } else { (*r, s) };
            let mut bytes = r.to_bytes().to_vec();
            bytes.extend_from_slice(&s.to_bytes());
            for &(at, xor) in edits {
                let at = usize::from(at) % bytes.len();
                bytes[at] ^= xor;
            }
            bytes
        }
        EcSignatureInput::OtherMessage(other) => {
            let sig: p384::ecdsa::Signature = signing.sign(other);
            sig.to_bytes().to_vec()
        }
    };
    let key = Es384VerifyingKey::from_coordinates(x, y)
        .map_err(|e| format!("the filter refused a key p384 made: {e}"))?;
    let filter = Es384Signature::try_from_slice(&bytes)
        .is_ok_and(|signature| key.verify(&case.message, &signature));
    let reference = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P384_SHA384_FIXED,
        point.as_bytes(),
    )
    .verify(&case.message, &bytes)
    .is_ok();
    if filter == reference {
        Ok(())
    } else {
        Err(format!("ES384: filter {filter}, ring {reference}"))
    }
}
