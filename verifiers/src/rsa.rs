//! RSA signature verification for `RS256/384/512` (RSASSA-PKCS1-v1_5) and `PS256/384/512`
//! (RSASSA-PSS), as a jwt-compact [`Algorithm`] that only verifies.
//!
//! Why not jwt-compact's own `Rsa`: it verifies through the `rsa` 0.9 crate, whose public-key
//! operation is `num-bigint-dig`'s generic `modpow`. For e = 65537 that runs a 4-bit window over
//! the whole 32-bit exponent word (about 50 Montgomery products instead of 18) and recomputes
//! R² mod n with a 4096-bit long division on every call. In wasm32 under V8 that is most of the
//! ~490 µs an RS256 verify cost (see `bench/verify/`).
//!
//! Here the Montgomery parameters are computed once per key (crypto-bigint's
//! [`DynResidueParams`], with 32-bit limbs on wasm32, whose 32×32→64 products are native wasm
//! `i64.mul`), and the exponentiation is plain left-to-right square-and-multiply over the bits of
//! e: 16 squarings and one product for 65537.
//!
//! Only public values are handled (key, signature, message), so nothing here needs to be
//! constant time. The padding checks follow RFC 8017 exactly:
//! - PKCS#1 v1.5 (§8.2.2): the expected encoded message `00 01 FF..FF 00 DigestInfo H` is built
//!   and compared whole with the recovered one; nothing is parsed out of the signature.
//! - PSS (§8.1.2, §9.1.2): EMSA-PSS-VERIFY with MGF1 over the same hash and a salt as long as
//!   the hash, which RFC 7518 §3.5 requires for `PS*`.
//!
//! A signature must be exactly as long as the modulus and, as an integer, smaller than it.

use std::borrow::Cow;
use std::fmt;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, Word, U2048, U3072, U4096};
use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The largest modulus accepted, as in the `rsa` crate (and so in jwt-compact's `RsaPublicKey`).
pub const MAX_MODULUS_BITS: usize = 4096;

/// The public exponent range the `rsa` crate accepts (2..=2³³-1), narrowed to odd values:
/// an even e cannot be an RSA exponent.
const MAX_EXPONENT: u64 = (1 << 33) - 1;

const WORD_BYTES: usize = Word::BITS as usize / 8;

/// Why an RSA public key cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaKeyError {
    /// The modulus is even or smaller than 3.
    InvalidModulus,
    /// The modulus has more than [`MAX_MODULUS_BITS`] bits.
    ModulusTooLarge { bits: usize },
    /// The public exponent is even, smaller than 3 or larger than 2³³-1.
    InvalidExponent,
}

impl fmt::Display for RsaKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RsaKeyError::InvalidModulus => f.write_str("the modulus must be odd and at least 3"),
            RsaKeyError::ModulusTooLarge { bits } => write!(
                f,
                "the modulus is {bits} bits; at most {MAX_MODULUS_BITS} are supported"
            ),
            RsaKeyError::InvalidExponent => {
                f.write_str("the public exponent must be odd and between 3 and 2^33-1")
            }
        }
    }
}

impl std::error::Error for RsaKeyError {}

/// Montgomery parameters for a modulus, in the smallest fixed width that holds it.
#[derive(Clone)]
enum Modulus {
    W2048(Box<DynResidueParams<{ U2048::LIMBS }>>),
    W3072(Box<DynResidueParams<{ U3072::LIMBS }>>),
    W4096(Box<DynResidueParams<{ U4096::LIMBS }>>),
}

/// An RSA public key prepared for verification: n, e and n's Montgomery parameters.
#[derive(Clone)]
pub struct RsaVerifyingKey {
    modulus: Modulus,
    /// Bit length of n.
    bits: usize,
    /// k, the byte length of n: every signature is exactly this long (RFC 8017 §8.2.2 step 1).
    len: usize,
    exponent: u64,
}

impl fmt::Debug for RsaVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaVerifyingKey")
            .field("bits", &self.bits)
            .field("exponent", &self.exponent)
            .finish()
    }
}

impl RsaVerifyingKey {
    /// A key from its big-endian modulus `n` and public exponent `e` (a JWK's decoded `n` and
    /// `e`; leading zero bytes are allowed). The minimum size is the caller's policy.
    pub fn new(n: &[u8], e: &[u8]) -> Result<Self, RsaKeyError> {
        let n = strip_leading_zeros(n);
        let bits = bit_length(n);
        if bits > MAX_MODULUS_BITS {
            return Err(RsaKeyError::ModulusTooLarge { bits });
        }
        if bits < 2 || n.last().is_none_or(|low| low & 1 == 0) {
            return Err(RsaKeyError::InvalidModulus);
        }
        let e = strip_leading_zeros(e);
        if e.len() > 8 {
            return Err(RsaKeyError::InvalidExponent);
        }
        let exponent = e
            .iter()
            .fold(0_u64, |acc, &byte| acc << 8 | u64::from(byte));
        if !(3..=MAX_EXPONENT).contains(&exponent) || exponent & 1 == 0 {
            return Err(RsaKeyError::InvalidExponent);
        }
        // n is odd here, which is all DynResidueParams::new requires.
        let modulus = if bits <= 2048 {
            Modulus::W2048(Box::new(DynResidueParams::new(&uint_from_be(n))))
        } else if bits <= 3072 {
            Modulus::W3072(Box::new(DynResidueParams::new(&uint_from_be(n))))
        } else {
            Modulus::W4096(Box::new(DynResidueParams::new(&uint_from_be(n))))
        };
        Ok(RsaVerifyingKey {
            modulus,
            bits,
            len: n.len(),
            exponent,
        })
    }

    /// Bit length of the modulus.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Whether `signature` is a valid `alg` signature of `message` under this key.
    pub fn verify(&self, alg: RsaVerifier, message: &[u8], signature: &[u8]) -> bool {
        let Some(mut em) = self.public_operation(signature) else {
            return false;
        };
        let m_hash = alg.hash.digest(&[message]);
        match alg.padding {
            Padding::Pkcs1v15 => em == pkcs1v15_encoded(alg.hash, m_hash.as_slice(), self.len),
            Padding::Pss => pss_verify(alg.hash, m_hash.as_slice(), &mut em, self.bits),
        }
    }

    /// RSAVP1 then I2OSP (RFC 8017 §8.2.2 steps 1–2, §5.2.2): `signature`^e mod n as k bytes,
    /// or `None` when the signature is not k bytes long or not smaller than n. Public for the
    /// benchmarks (`bench/verify` times it alone); a verdict comes only from [`Self::verify`].
    pub fn public_operation(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.len {
            return None;
        }
        match &self.modulus {
            Modulus::W2048(params) => power(params, self.exponent, signature, self.len),
            Modulus::W3072(params) => power(params, self.exponent, signature, self.len),
            Modulus::W4096(params) => power(params, self.exponent, signature, self.len),
        }
    }
}

/// `base`^`exponent` mod n as `len` big-endian bytes; `None` if base ≥ n.
fn power<const LIMBS: usize>(
    params: &DynResidueParams<LIMBS>,
    exponent: u64,
    base: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let base = uint_from_be::<LIMBS>(base);
    if base >= *params.modulus() {
        return None;
    }
    let base = DynResidue::new(&base, *params);
    let mut acc = base;
    // exponent ≥ 3, so its top bit is at least bit 1; the loop starts below it.
    let top = (u64::BITS - 1).saturating_sub(exponent.leading_zeros());
    for bit in (0..top).rev() {
        acc = acc.square();
        if exponent >> bit & 1 == 1 {
            acc = acc.mul(&base);
        }
    }
    Some(uint_to_be(&acc.retrieve(), len))
}

/// The RS*/PS* algorithms, verification only. Use with jwt-compact's validator:
/// `RsaVerifier::RS256.validator::<T>(&key).validate(&token)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaVerifier {
    hash: HashAlg,
    padding: Padding,
}

impl RsaVerifier {
    pub const RS256: Self = Self::new(HashAlg::Sha256, Padding::Pkcs1v15);
    pub const RS384: Self = Self::new(HashAlg::Sha384, Padding::Pkcs1v15);
    pub const RS512: Self = Self::new(HashAlg::Sha512, Padding::Pkcs1v15);
    pub const PS256: Self = Self::new(HashAlg::Sha256, Padding::Pss);
    pub const PS384: Self = Self::new(HashAlg::Sha384, Padding::Pss);
    pub const PS512: Self = Self::new(HashAlg::Sha512, Padding::Pss);

    const fn new(hash: HashAlg, padding: Padding) -> Self {
        RsaVerifier { hash, padding }
    }

    /// The algorithm with this JOSE name (`"RS256"` … `"PS512"`, case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            _ => return None,
        })
    }

    /// The JOSE name, which jwt-compact's validator matches against the token's `alg`.
    pub fn name(self) -> &'static str {
        match (self.padding, self.hash) {
            (Padding::Pkcs1v15, HashAlg::Sha256) => "RS256",
            (Padding::Pkcs1v15, HashAlg::Sha384) => "RS384",
            (Padding::Pkcs1v15, HashAlg::Sha512) => "RS512",
            (Padding::Pss, HashAlg::Sha256) => "PS256",
            (Padding::Pss, HashAlg::Sha384) => "PS384",
            (Padding::Pss, HashAlg::Sha512) => "PS512",
        }
    }
}

/// An RS*/PS* signature as it appears in a token: bytes, checked only when verifying (its
/// length against the key's). The same as jwt-compact's `RsaSignature`, without needing
/// jwt-compact's `rsa` feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaSignature(Vec<u8>);

impl AlgorithmSignature for RsaSignature {
    fn try_from_slice(bytes: &[u8]) -> anyhow::Result<Self> {
        Ok(RsaSignature(bytes.to_vec()))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
}

/// There is no signing with [`RsaVerifier`]: this type has no values.
#[derive(Debug)]
pub enum NoSigningKey {}

impl Algorithm for RsaVerifier {
    type SigningKey = NoSigningKey;
    type VerifyingKey = RsaVerifyingKey;
    type Signature = RsaSignature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(RsaVerifier::name(*self))
    }

    fn sign(&self, signing_key: &NoSigningKey, _message: &[u8]) -> RsaSignature {
        match *signing_key {}
    }

    fn verify_signature(
        &self,
        signature: &RsaSignature,
        verifying_key: &RsaVerifyingKey,
        message: &[u8],
    ) -> bool {
        verifying_key.verify(*self, message, &signature.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Padding {
    Pkcs1v15,
    Pss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

/// A hash output of up to 64 bytes, without allocating.
struct HashOutput {
    bytes: [u8; 64],
    len: usize,
}

impl HashOutput {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

impl HashAlg {
    fn len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The hash of the concatenation of `parts`.
    fn digest(self, parts: &[&[u8]]) -> HashOutput {
        fn run<D: Digest>(parts: &[&[u8]], out: &mut [u8]) {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            // `out` is as long as D's output (HashAlg::len); zip cannot panic on a mismatch.
            for (to, from) in out.iter_mut().zip(hasher.finalize()) {
                *to = from;
            }
        }
        let mut output = HashOutput {
            bytes: [0; 64],
            len: self.len(),
        };
        let Some(out) = output.bytes.get_mut(..self.len()) else {
            return output;
        };
        match self {
            HashAlg::Sha256 => run::<Sha256>(parts, out),
            HashAlg::Sha384 => run::<Sha384>(parts, out),
            HashAlg::Sha512 => run::<Sha512>(parts, out),
        }
        output
    }

    /// The DER prefix of DigestInfo for this hash (RFC 8017 §9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            HashAlg::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            HashAlg::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            HashAlg::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// EMSA-PKCS1-v1_5-ENCODE (RFC 8017 §9.2) of an already computed hash into `em_len` bytes:
/// `00 01 FF..FF 00 || DigestInfo prefix || H`. Empty when `em_len` < tLen + 11 (step 3),
/// which no recovered k-byte message equals.
fn pkcs1v15_encoded(hash: HashAlg, m_hash: &[u8], em_len: usize) -> Vec<u8> {
    let prefix = hash.digest_info_prefix();
    let t_len = prefix.len().saturating_add(m_hash.len());
    // At least 8 bytes of 0xff padding (step 3); ps_end is where the 0x00 separator goes.
    let Some(ps_end) = em_len.checked_sub(t_len).and_then(|n| n.checked_sub(1)) else {
        return Vec::new();
    };
    if ps_end < 10 {
        return Vec::new();
    }
    let mut em = Vec::with_capacity(em_len);
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(ps_end, 0xff);
    em.push(0x00);
    em.extend_from_slice(prefix);
    em.extend_from_slice(m_hash);
    em
}

/// RFC 8017 §8.1.2 step 2c and EMSA-PSS-VERIFY (§9.1.2) with sLen = hLen, MGF1 with the same
/// hash. `em` is the k-byte I2OSP output of the public operation; it is unmasked in place.
fn pss_verify(hash: HashAlg, m_hash: &[u8], em: &mut [u8], mod_bits: usize) -> bool {
    pss_check(hash, m_hash, em, mod_bits).is_some()
}

/// [`pss_verify`] with every bound checked: `None` is a refusal, wherever it comes from.
fn pss_check(hash: HashAlg, m_hash: &[u8], em: &mut [u8], mod_bits: usize) -> Option<()> {
    let h_len = hash.len();
    let s_len = h_len;
    let em_bits = mod_bits.checked_sub(1)?;
    let em_len = em_bits.div_ceil(8);
    // §8.1.2 step 2c: I2OSP(m, emLen). When emLen < k the extra leading byte must be zero,
    // otherwise m does not fit in emLen bytes.
    let (excess, em) = em.split_at_mut_checked(em.len().checked_sub(em_len)?)?;
    if excess.iter().any(|&byte| byte != 0) {
        return None;
    }
    // Step 3: emLen ≥ hLen + sLen + 2; `zeros` is the length of PS in step 10.
    let zeros = em_len
        .checked_sub(h_len)?
        .checked_sub(s_len)?
        .checked_sub(2)?;
    // Step 4.
    let (last, em) = em.split_last_mut()?;
    if *last != 0xbc {
        return None;
    }
    // Step 5: maskedDB (emLen − hLen − 1 bytes), then H.
    let (db, h) = em.split_at_mut_checked(em.len().checked_sub(h_len)?)?;
    // Step 6: the leftmost 8·emLen − emBits bits of maskedDB must be zero (0 to 7 bits).
    let unused_bits = em_len.checked_mul(8)?.checked_sub(em_bits)?;
    let top_mask: u8 = 0xff_u8.checked_shr(u32::try_from(unused_bits).ok()?)?;
    let first = db.first_mut()?;
    if *first & !top_mask != 0 {
        return None;
    }
    // Steps 7–8: DB = maskedDB ⊕ MGF1(H, emLen − hLen − 1).
    mgf1_xor(hash, h, db);
    // Step 9.
    let first = db.first_mut()?;
    *first &= top_mask;
    // Step 10: emLen − hLen − sLen − 2 zero octets, then 0x01, then the salt.
    let (padding, rest) = db.split_at_checked(zeros)?;
    let (separator, salt) = rest.split_first()?;
    if padding.iter().any(|&byte| byte != 0) || *separator != 0x01 || salt.len() != s_len {
        return None;
    }
    // Steps 11–14: H' = Hash(0x00 × 8 || mHash || salt) must equal H.
    let h_prime = hash.digest(&[&[0_u8; 8], m_hash, salt]);
    (h_prime.as_slice() == &*h).then_some(())
}

/// XORs MGF1(`seed`) (RFC 8017 B.2.1) into `out`, as long as `out` is.
fn mgf1_xor(hash: HashAlg, seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in (0_u32..).zip(out.chunks_mut(hash.len())) {
        let block = hash.digest(&[seed, &counter.to_be_bytes()]);
        for (byte, mask) in chunk.iter_mut().zip(block.as_slice()) {
            *byte ^= mask;
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Bit length of a big-endian integer without leading zero bytes. Key bytes are far fewer than
/// usize::MAX / 8: saturation only guards the type.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(&top) => bytes
            .len()
            .saturating_mul(8)
            .saturating_sub(top.leading_zeros() as usize),
        None => 0,
    }
}

/// A big-endian byte string as an integer of `LIMBS` words. Callers pass at most
/// `LIMBS * WORD_BYTES` bytes (the modulus fits its width, and signatures are as long as it);
/// any excess high bytes would be dropped, never read out of bounds.
fn uint_from_be<const LIMBS: usize>(bytes: &[u8]) -> Uint<LIMBS> {
    let mut words = [0 as Word; LIMBS];
    for (word, chunk) in words.iter_mut().zip(bytes.rchunks(WORD_BYTES)) {
        *word = chunk
            .iter()
            .fold(0, |acc: Word, &byte| acc << 8 | Word::from(byte));
    }
    Uint::from_words(words)
}

/// The low `len` bytes of `value`, big-endian (I2OSP; `value` < n, which has `len` bytes).
fn uint_to_be<const LIMBS: usize>(value: &Uint<LIMBS>, len: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; LIMBS.saturating_mul(WORD_BYTES)];
    for (chunk, word) in bytes.rchunks_mut(WORD_BYTES).zip(value.as_words()) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    bytes.split_off(bytes.len().saturating_sub(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{PS256_JWS, PS256_N, RS256_JWS, RS256_N};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use jwt_compact::alg::{Rsa, RsaPrivateKey, RsaPublicKey};
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{AlgorithmExt, UntrustedToken};
    use serde_json::{Map, Value};

    type Custom = Map<String, Value>;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    const AQAB: &[u8] = &[1, 0, 1];

    /// A 2049-bit test key (private JWK, made for these tests only): a modulus whose length
    /// is 1 mod 8, so emLen < k for PSS, in the 3072-bit width.
    const KEY_2049_BITS: &str = concat!(
        "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AaD_9oLcQoTYIUFlxDeKaqFrv71t28Mq78hIiR1HjP1_Ut3IIsQDQHg",
        "2tqYGJxXBdR9CA3Btktv9SI6-HeUBcFGqK3WHF6fm4wxAYgGrGb3mK-94CJAt1RMFNz--o7Jf9kB9zq_t4Qa",
        "1L8jJ7S0-uUY-DAKWdTVLvlzXbUXhAxP-rWmrYN1YhNqNk19k7_sE-0-BuYLAC9WPm2Ja8KQeVnqH_MGbnd_",
        "aZGnX1yeNWpRnatk9tuo64DgzDV82ur1TFj_oYGZxvJuDzP-PzY1fgJmSFX4d3Gt0ubHCjUPt1qDXtI5FV6z",
        "P4TU8wBw6EVddshsIrI8Ru1Jeef1YiOXvwUc\",\"d\":\"i8qDBydznTkfHN9SwhPC305Rvt0fOPQh4hB-9rPPz",
        "gNq8jJvhSpZ6HLfFBUn8SEjdFEa-guhmeH0-vU87FJpJtdXLlUVVxINt0O2Fz0WqhSJUgP5Suwya-fpt5LfK",
        "aMF2GTUbyHdt_Pxiuw2eF54mdWfDRcHP9Cehl0poq1l7MMoAIMCKFRQydFGDfcMbZMjefGUmHn2qamMXr2mE",
        "e3p8dDXyD2wKvZAcN2uhZdAfRH8pa_gGLqda3H7pctJkRwm6z6Qn0okelBJFgddHB7-93Bs-2Z0em9jHgGkh",
        "gkuHL3ZEETE25XFMGVhaVcWR8doyDXO9lh6eVugiVPc2RYQIQ\",\"p\":\"AaHj-lukY8W9Q8oHq4IdETmBcFa4",
        "Dor9lQl6HuLmu6_z4CkVyPJ0fsAw70HomSoZlHD5S_V6n7hLyH3tZccn4dcnwyyQ3rlipyl9ImxPiG7Wk9Eg",
        "MESSCdbujO4s5zZwlFNCC3aPOg3-jSqpSBMB6Rb-wtnPM__1wzv_wqj1-rR_\",\"q\":\"_3RRXvPaSGxKLyVH0",
        "Ku8a37p2u0Dr10jZilG-VpvQnuflOw-JS2GtxX_OANX9H1_pHeyfIR6hyUfgdBl98wYPwgMRKltNyOlWBeqA",
        "UGdPPyKBO8fKcuHlC_SqhHy7oQREWKfqQpx5169W-bbKNTFiTGW6MU7kc_MpiCVi-Pl7zk\"}",
    );
    /// A 3073-bit test key (private JWK, made for these tests only): a modulus whose length
    /// is 1 mod 8, so emLen < k for PSS, in the 4096-bit width.
    const KEY_3073_BITS: &str = concat!(
        "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AUVz8i7m7j2zySUeDT_JI6ms6rK7-YvoJ5PXzDELC-hLU69O0fbcun7",
        "B7fhCljmsGuxbpDsS_oIsRuow5hmJshqqqKryrgUvUGgyMO_XJfwgFmqgUpaYMEdvr6ryjtQcOPWvKej3voI",
        "6f_hOt9EA1nGjVvSmTLjYxAfsRL2DMppGmMFio9KP1gVRbqlSXL4OjgWdF4PkxF0W2amgEWpHa5pSnFx3zxP",
        "g8uHglN07irVG2B2YXbfihaN-7MjCSRk_OtOfqoNQe1LzpEwMX1Q7C9qhiwiGoX4R6Aj_QVkd9AWAKmuLZdR",
        "2pZ_WepoywY9Y-Vm296lpGcK6VdBTOoJKB0AKBFjxyH61tDmjZ9VjmjKjIe9UuWJHA65mQ55ZNuhrXWwKriS",
        "gHQBHPkvo9o_HnIs-kdPZr_-MgXRt7KPpN2Dw95kh2Dlihc0QUYASEjCap7YwyD2DXi5c1lK4Aj-GQ7HrKRD",
        "0mqjydz-LetKYHqnUe53VFq_M_sRw6f2CJIXMJQ\",\"d\":\"SB8h6gVogdlz54sRlhNRmSIV765q5nd3v9JYcH",
        "zZcmyw-p49ttZi6MC6puPArT6nx72mNyYmKvw7ad4Uu8-RHco4bwuxBzqdN735rMjRpN4Kga4OJ0vKFSaZuA",
        "khID2x3LYo1DUErZDft4vgPcuQ-iVfmX857NOym2vfLt0ia2BeLSraEYko_Uw2uQSkw0Rv8iwGIEcjwdpUuX",
        "ucqF_z50LL3kz5oZbd1DMD4kP14Oa2cVaI3D1xbpIr0HCHqPXi4enJpknT2Dh4GmOEJSUcdwbhcQhI46Ept0",
        "eYj_L-gA0dOfq9KmrSXr_IJB90Y9QN7362JxlnQxQ_Bmk3Fgt_FKRD6Lxymwja1IiQSc_Q5NPCRlsjMpDMbB",
        "qJOmevryGf2jhDeMGumKYBvXY7E-qjilrViFqw_Iesdpj-994-UYZsjTen1Vyz2kTE7UgOTiUk3z7iQ4jirs",
        "lD7ZJrSwgaASJ3Eu9T2KZmsS4WtXoTOJsJ_C_e2UgKY9vM982XMWn5\",\"p\":\"AYrxIg0RzyYl2HVX3v1tjEE",
        "_7HNrVG9hZuRfWwnQ8YClqmONuN8_n50SYnsjkruAcwkWEu08Ryrl1uQzPfA5FHPPymtt4ZlRn8AiFhOKOoI",
        "19HQxe0HwCmO3oIu9muwHAD930tHaJXMv-FWqjKv6NSQbHqzIDQ1BBLwRn4gNLEt_elWEjksJpPsCzhsPFUV",
        "lcUhqm7nsPaO_jcp4PU07lTGPHAcsMcDkhAH_xdaWxDMuwQZdkiTWato7X-Rsaxi_6Q\",\"q\":\"0vUcLs_qex",
        "scaM25jr3aRP_nvpVLN4Vy9XVUPBqnsg0iB5hM-yNGugxD33x18VUKeMnvZfTcEV8yGNy6DiUchKo3y39x81",
        "2IsfmOPwQVpjM-uhbc_VrUdAW9KnwpTdYNq7Jmr4uhAYlvmOImN7GdqJtmBGoziT118BWW9qv-U3IzrHbkX5",
        "BuFmUCgXdZuI2tZ1BR-P8DCjCnWsmfePaR3wMfuFgHZRGotB8UJYHavXe7-K1qcYnP9VQPIF4-8yDd\"}",
    );

    /// Private JWKs to sign with: the 2048-bit demo key and the two keys above.
    fn signing_keys() -> Vec<(usize, RsaPrivateKey, Vec<u8>)> {
        let demo = include_str!("../../envoy/demo-keys/rsa.jwk.json");
        [(2048, demo), (2049, KEY_2049_BITS), (3073, KEY_3073_BITS)]
            .into_iter()
            .map(|(bits, json)| {
                let jwk: JsonWebKey<'_> = serde_json::from_str(json).unwrap();
                let JsonWebKey::Rsa { modulus, .. } = &jwk else {
                    panic!("not an RSA key")
                };
                let n = modulus.to_vec();
                (bits, RsaPrivateKey::try_from(&jwk).unwrap(), n)
            })
            .collect()
    }

    /// (signing input, signature) of a compact JWS.
    fn split(jws: &str) -> (&[u8], Vec<u8>) {
        let dot = jws.rfind('.').unwrap();
        (&jws.as_bytes()[..dot], b64(&jws[dot + 1..]))
    }

    /// What jwt-compact's own `Rsa` (the `rsa` crate) says about the same signature.
    fn reference(alg: &str, n: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let jwk = JsonWebKey::Rsa {
            modulus: n.into(),
            public_exponent: AQAB.into(),
            private_parts: None,
        };
        let key = RsaPublicKey::try_from(&jwk).unwrap();
        let alg: Rsa = alg.parse().unwrap();
        let signature = <Rsa as Algorithm>::Signature::try_from_slice(signature).unwrap();
        alg.verify_signature(&signature, &key, message)
    }

    /// Checks `verify` against the reference for one case and returns the verdict.
    fn check(alg: &str, n: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let key = RsaVerifyingKey::new(n, AQAB).unwrap();
        let ours = key.verify(RsaVerifier::from_name(alg).unwrap(), message, signature);
        assert_eq!(
            ours,
            reference(alg, n, message, signature),
            "{alg}: disagrees with the rsa crate"
        );
        ours
    }

    #[test]
    fn rfc7515_rs256_example_verifies_through_the_validator() {
        let key = RsaVerifyingKey::new(&b64(RS256_N), AQAB).unwrap();
        assert_eq!(key.bits(), 2048);
        let token = UntrustedToken::new(RS256_JWS).unwrap();
        let token = RsaVerifier::RS256
            .validator::<Custom>(&key)
            .validate(&token)
            .unwrap();
        assert_eq!(token.claims().custom["iss"], "joe");
        // The validator matches the token's `alg` against the algorithm's name.
        let token = UntrustedToken::new(RS256_JWS).unwrap();
        assert!(RsaVerifier::PS256
            .validator::<Custom>(&key)
            .validate(&token)
            .is_err());
        let (message, signature) = split(RS256_JWS);
        assert!(check("RS256", &b64(RS256_N), message, &signature));
        for other in ["RS384", "RS512", "PS256", "PS384", "PS512"] {
            assert!(!check(other, &b64(RS256_N), message, &signature), "{other}");
        }
    }

    #[test]
    fn keycloak_ps256_token_verifies() {
        let n = b64(PS256_N);
        let (message, signature) = split(PS256_JWS);
        assert!(check("PS256", &n, message, &signature));
        assert!(!check("RS256", &n, message, &signature));
        assert!(!check("PS384", &n, message, &signature));
    }

    #[test]
    fn tampered_or_misplaced_signatures_are_refused() {
        for (alg, n, jws) in [
            ("RS256", b64(RS256_N), RS256_JWS),
            ("PS256", b64(PS256_N), PS256_JWS),
        ] {
            let (message, signature) = split(jws);
            let key = RsaVerifyingKey::new(&n, AQAB).unwrap();
            let alg_ = RsaVerifier::from_name(alg).unwrap();
            assert!(key.verify(alg_, message, &signature));
            // Any flipped signature bit (a sample across the whole length).
            for bit in (0..signature.len() * 8).step_by(61) {
                let mut flipped = signature.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert!(!check(alg, &n, message, &flipped), "{alg} bit {bit}");
            }
            // A changed message.
            let mut other = message.to_vec();
            other[5] ^= 1;
            assert!(!check(alg, &n, &other, &signature));
            // Wrong lengths: truncated, empty, one zero byte too many (same integer).
            assert!(!check(alg, &n, message, &signature[..signature.len() - 1]));
            assert!(!key.verify(alg_, message, &[]));
            let mut padded = vec![0];
            padded.extend_from_slice(&signature);
            assert!(!key.verify(alg_, message, &padded));
            // s ≥ n: n itself, n + s (which is s mod n), and all ones.
            assert!(!key.verify(alg_, message, &n));
            let sum = add_be(&n, &signature);
            if sum.len() == n.len() {
                assert!(!key.verify(alg_, message, &sum));
            }
            assert!(!key.verify(alg_, message, &vec![0xff; n.len()]));
            // Trivial signatures: 0 and 1 (m = s for any e).
            let mut one = vec![0; n.len()];
            assert!(!check(alg, &n, message, &one));
            *one.last_mut().unwrap() = 1;
            assert!(!check(alg, &n, message, &one));
        }
    }

    #[test]
    fn the_wrong_key_refuses() {
        let (message, signature) = split(RS256_JWS);
        assert!(!check("RS256", &b64(PS256_N), message, &signature));
        let (message, signature) = split(PS256_JWS);
        assert!(!check("PS256", &b64(RS256_N), message, &signature));
    }

    #[test]
    fn signatures_made_by_the_rsa_crate_verify_for_every_alg_and_width() {
        for (bits, private, n) in signing_keys() {
            let key = RsaVerifyingKey::new(&n, AQAB).unwrap();
            assert_eq!(key.bits(), bits);
            let message = format!("header.payload signed with a {bits}-bit key");
            let message = message.as_bytes();
            // Each alg, and the other padding with the same hash, which must refuse it.
            for (name, other) in [
                ("RS256", "PS256"),
                ("RS384", "PS384"),
                ("RS512", "PS512"),
                ("PS256", "RS256"),
                ("PS384", "RS384"),
                ("PS512", "RS512"),
            ] {
                let signer: Rsa = name.parse().unwrap();
                let signature = signer.sign(&private, message);
                let signature = signature.as_bytes();
                assert!(check(name, &n, message, &signature), "{name} {bits}");
                assert!(!check(other, &n, message, &signature), "{name} as {other}");
                let mut flipped = signature.to_vec();
                flipped[signature.len() / 2] ^= 0x10;
                assert!(!check(name, &n, message, &flipped), "{name} {bits}");
            }
        }
    }

    #[test]
    fn the_exponentiation_matches_crypto_bigints_generic_pow() {
        let jwk: JsonWebKey<'_> = serde_json::from_str(KEY_3073_BITS).unwrap();
        let JsonWebKey::Rsa { modulus: n, .. } = &jwk else {
            panic!("not an RSA key")
        };
        for e in [3_u64, 17, 65537, (1 << 33) - 1] {
            let key = RsaVerifyingKey::new(n, &e.to_be_bytes()).unwrap();
            let Modulus::W4096(params) = &key.modulus else {
                panic!("a 3073-bit key is held in 4096 bits")
            };
            let mut base = n.to_vec();
            base[0] -= 1;
            let ours = power(params, e, &base, n.len()).unwrap();
            let base = DynResidue::new(&uint_from_be(&base), **params);
            let exponent = Uint::<{ U4096::LIMBS }>::from_u64(e);
            let expected = base.pow_bounded_exp(&exponent, 34).retrieve();
            assert_eq!(ours, uint_to_be(&expected, n.len()), "e = {e}");
        }
    }

    #[test]
    fn keys_are_checked() {
        let n = b64(RS256_N);
        let mut padded = vec![0, 0];
        padded.extend_from_slice(&n);
        assert_eq!(
            RsaVerifyingKey::new(&padded, &[0, 1, 0, 1]).unwrap().bits(),
            2048
        );
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert_eq!(
            RsaVerifyingKey::new(&even, AQAB).unwrap_err(),
            RsaKeyError::InvalidModulus
        );
        assert_eq!(
            RsaVerifyingKey::new(&[], AQAB).unwrap_err(),
            RsaKeyError::InvalidModulus
        );
        assert_eq!(
            RsaVerifyingKey::new(&vec![0xff; 513], AQAB).unwrap_err(),
            RsaKeyError::ModulusTooLarge { bits: 4104 }
        );
        assert!(RsaVerifyingKey::new(&vec![0xff; 512], AQAB).is_ok());
        for e in [&[][..], &[1], &[2], &[1, 0, 0], &[2, 0, 0, 0, 1], &[1; 9]] {
            assert_eq!(
                RsaVerifyingKey::new(&n, e).unwrap_err(),
                RsaKeyError::InvalidExponent,
                "{e:?}"
            );
        }
        assert!(RsaVerifyingKey::new(&n, &[3]).is_ok());
        assert!(RsaVerifyingKey::new(&n, &[1, 0xff, 0xff, 0xff, 0xff]).is_ok());
    }

    #[test]
    fn pkcs1v15_encoding_is_exact() {
        let em = pkcs1v15_encoded(HashAlg::Sha256, &[0xab; 32], 256);
        assert_eq!(em.len(), 256);
        assert_eq!(&em[..2], &[0, 1]);
        assert!(em[2..256 - 52].iter().all(|&byte| byte == 0xff));
        assert_eq!(em[256 - 52], 0);
        assert_eq!(
            &em[256 - 51..256 - 32],
            HashAlg::Sha256.digest_info_prefix()
        );
        assert_eq!(&em[256 - 32..], &[0xab; 32]);
        // Too short for SHA-512's T (83 bytes) plus 11.
        assert!(pkcs1v15_encoded(HashAlg::Sha512, &[0; 64], 93).is_empty());
        assert_eq!(pkcs1v15_encoded(HashAlg::Sha512, &[0; 64], 94).len(), 94);
    }

    #[test]
    fn integers_round_trip() {
        let n = b64(RS256_N);
        let value = uint_from_be::<{ U2048::LIMBS }>(&n);
        assert_eq!(uint_to_be(&value, n.len()), n);
        let value = uint_from_be::<{ U4096::LIMBS }>(&n[1..]);
        assert_eq!(uint_to_be(&value, n.len()), [&[0], &n[1..]].concat());
    }

    /// Big-endian a + b, one byte longer only when it carries out.
    fn add_be(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut out = vec![0_u8; a.len()];
        let mut carry = 0_u16;
        for i in (0..a.len()).rev() {
            let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
            out[i] = sum as u8;
            carry = sum >> 8;
        }
        if carry != 0 {
            out.insert(0, 1);
        }
        out
    }
}
