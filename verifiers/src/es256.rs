//! ES256 (ECDSA on P-256 with SHA-256) verification, as a jwt-compact [`Algorithm`] that only
//! verifies.
//!
//! Why not jwt-compact's own `Es256`: it verifies through `p256` 0.13 / `ecdsa` 0.16, which
//! computes u1·G + u2·Q as two separate constant-time scalar multiplications (4-bit windows,
//! a constant-time table scan per window): about 500 point doublings and 160 additions. A
//! verifier handles only public values (key, signature, message), so here the same point
//! arithmetic from `p256` (its complete formulas, field and scalar code) is driven by a
//! variable-time interleaved wNAF: one shared chain of 256 doublings, about 75 mixed additions,
//! odd multiples of G in a table computed once per VM and of Q once per key.
//!
//! The ECDSA check itself is SEC 1 §4.1.4 (as `ecdsa::hazmat::verify_prehashed`): r and s in
//! [1, n−1] (enforced when jwt-compact decodes the signature), z = the SHA-256 digest reduced
//! mod n, w = s⁻¹, R = (z·w)·G + (r·w)·Q, reject R = ∞, accept iff x(R) mod n = r.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use jwt_compact::alg::Es256;
use jwt_compact::Algorithm;
use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::ops::{Invert, Reduce};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{AffinePoint, ProjectivePoint, Scalar, U256};
use sha2::{Digest, Sha256};

/// The signature type jwt-compact decodes ES256 signatures into (r ‖ s, both checked non-zero
/// and below the group order).
pub type Es256Signature = <Es256 as Algorithm>::Signature;
/// The public key type jwt-compact parses P-256 JWKs into.
pub type P256PublicKey = <Es256 as Algorithm>::VerifyingKey;

/// wNAF width for G: 32 odd multiples, computed once per VM.
const G_WIDTH: u32 = 7;
const G_TABLE: usize = 1 << (G_WIDTH - 2);
/// wNAF width for a key's Q: 8 odd multiples per key.
const Q_WIDTH: u32 = 5;
const Q_TABLE: usize = 1 << (Q_WIDTH - 2);
/// Digit positions of a width-w NAF of a scalar below 2²⁵⁶ (the top carry may reach bit 256).
const NAF_LEN: usize = 257;

/// A P-256 public key prepared for verification: Q and its odd multiples Q, 3Q, …, 15Q.
#[derive(Clone)]
pub struct Es256VerifyingKey {
    key: P256PublicKey,
    /// Boxed: 8 affine points are 600 bytes, too many to move around inside a key enum.
    table: Box<[AffinePoint; Q_TABLE]>,
}

impl fmt::Debug for Es256VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Es256VerifyingKey").finish_non_exhaustive()
    }
}

impl Es256VerifyingKey {
    /// Prepares a key jwt-compact parsed (`P256PublicKey::try_from(&jwk)`, which checks that the
    /// point is on the curve and not the identity).
    pub fn new(key: &P256PublicKey) -> Self {
        Es256VerifyingKey {
            key: *key,
            table: Box::new(odd_multiples::<Q_TABLE>(ProjectivePoint::from(
                *key.as_affine(),
            ))),
        }
    }

    /// The key as jwt-compact's type.
    pub fn public_key(&self) -> &P256PublicKey {
        &self.key
    }

    /// Whether `signature` is a valid ES256 signature of `message` under this key.
    // The operators are p256's scalar arithmetic mod n: they cannot overflow.
    #[allow(clippy::arithmetic_side_effects)]
    pub fn verify(&self, message: &[u8], signature: &Es256Signature) -> bool {
        let (r, s) = signature.split_scalars();
        let z = <Scalar as Reduce<U256>>::reduce_bytes(&Sha256::digest(message));
        let s_inv = *s.invert_vartime();
        let u1 = z * s_inv;
        let u2 = *r * s_inv;
        let point = lincomb(g_table(), &u1, &self.table, &u2);
        if bool::from(point.is_identity()) {
            return false;
        }
        <Scalar as Reduce<U256>>::reduce_bytes(&point.to_affine().x()) == *r
    }
}

/// ES256, verification only. Use with jwt-compact's validator:
/// `Es256Verifier.validator::<T>(&key).validate(&token)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Es256Verifier;

/// There is no signing with [`Es256Verifier`]: this type has no values.
#[derive(Debug)]
pub enum NoSigningKey {}

impl Algorithm for Es256Verifier {
    type SigningKey = NoSigningKey;
    type VerifyingKey = Es256VerifyingKey;
    type Signature = Es256Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES256")
    }

    fn sign(&self, signing_key: &NoSigningKey, _message: &[u8]) -> Es256Signature {
        match *signing_key {}
    }

    fn verify_signature(
        &self,
        signature: &Es256Signature,
        verifying_key: &Es256VerifyingKey,
        message: &[u8],
    ) -> bool {
        verifying_key.verify(message, signature)
    }
}

fn g_table() -> &'static [AffinePoint; G_TABLE] {
    static TABLE: OnceLock<[AffinePoint; G_TABLE]> = OnceLock::new();
    TABLE.get_or_init(|| odd_multiples::<G_TABLE>(ProjectivePoint::GENERATOR))
}

/// P, 3P, 5P, …, (2N−1)P in affine form. P is not the identity and has prime order n > 2N,
/// so no entry is the identity. (One inversion each: N ≤ 32, once per key or per VM.)
// Point addition on the curve: p256's group operators cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
fn odd_multiples<const N: usize>(point: ProjectivePoint) -> [AffinePoint; N] {
    let double = point.double();
    let mut current = point;
    let mut multiples = [AffinePoint::IDENTITY; N];
    for multiple in &mut multiples {
        *multiple = current.to_affine();
        current += double;
    }
    multiples
}

/// a·A + b·B, with A and B given by their odd-multiple tables (widths G_WIDTH and Q_WIDTH).
fn lincomb(
    table_a: &[AffinePoint; G_TABLE],
    a: &Scalar,
    table_b: &[AffinePoint; Q_TABLE],
    b: &Scalar,
) -> ProjectivePoint {
    let naf_a = wnaf(a, G_WIDTH);
    let naf_b = wnaf(b, Q_WIDTH);
    let mut acc = ProjectivePoint::IDENTITY;
    // From the most significant digit down; doubling the identity above it would change nothing.
    let digits = naf_a.iter().zip(&naf_b).rev();
    for (&digit_a, &digit_b) in digits.skip_while(|(a, b)| **a == 0 && **b == 0) {
        acc = acc.double();
        acc = add_digit(acc, digit_a, table_a);
        acc = add_digit(acc, digit_b, table_b);
    }
    acc
}

/// acc + digit·P for an odd digit (|digit| < 2·table length), or acc for 0.
// Point addition on the curve: p256's group operators cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
fn add_digit(acc: ProjectivePoint, digit: i8, table: &[AffinePoint]) -> ProjectivePoint {
    // wnaf's digits always index the table; a miss could only make the signature fail.
    let Some(multiple) = table.get(usize::from(digit.unsigned_abs() / 2)) else {
        return ProjectivePoint::IDENTITY;
    };
    match digit {
        0 => acc,
        1.. => acc + multiple,
        _ => acc + -*multiple,
    }
}

/// The width-`w` non-adjacent form of `k`: digits zero or odd with |d| < 2^(w−1), at least
/// w−1 zeros after each non-zero digit, and k = Σ dᵢ·2ⁱ.
///
/// Exempt from the crate's panic lints, by argument: `k` is a reduced 256-bit scalar and `w` a
/// constant of 2 to 7 (G_WIDTH, Q_WIDTH), so `pos < NAF_LEN` = 257 keeps `index + 1 ≤ 5` inside
/// the six limbs, `shift` in 1..64, `window ≤ 2^w` and every digit in −2^(w−1)..2^(w−1) ⊂ i8.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
fn wnaf(k: &Scalar, w: u32) -> [i8; NAF_LEN] {
    // Little-endian 64-bit limbs, two zero limbs above the scalar for the window reads.
    let mut limbs = [0_u64; 6];
    for (limb, chunk) in limbs.iter_mut().zip(k.to_bytes().rchunks(8)) {
        *limb = chunk
            .iter()
            .fold(0, |acc, &byte| acc << 8 | u64::from(byte));
    }
    let width = 1_u64 << w;
    let mask = width - 1;
    let mut naf = [0_i8; NAF_LEN];
    let mut pos = 0;
    let mut carry = 0;
    while pos < NAF_LEN {
        let (index, shift) = (pos / 64, pos % 64);
        let bits = if shift == 0 {
            limbs[index]
        } else {
            limbs[index] >> shift | limbs[index + 1] << (64 - shift)
        };
        let window = carry + (bits & mask);
        if window & 1 == 0 {
            pos += 1;
            continue;
        }
        // window < 2^w + 1 and odd; a digit above half the width becomes negative with a carry.
        if window < width / 2 {
            carry = 0;
            naf[pos] = window as i8;
        } else {
            carry = 1;
            naf[pos] = (window as i16 - width as i16) as i8;
        }
        pos += w as usize;
    }
    naf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{ES256_JWS, ES256_KEY};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{AlgorithmExt, AlgorithmSignature, UntrustedToken};
    use p256::elliptic_curve::ops::LinearCombination;
    use serde_json::{Map, Value};

    type Custom = Map<String, Value>;
    type P256SigningKey = <Es256 as Algorithm>::SigningKey;

    fn rfc7515_public() -> P256PublicKey {
        let jwk: JsonWebKey<'_> = serde_json::from_str(ES256_KEY).unwrap();
        let JsonWebKey::EllipticCurve { curve, x, y, .. } = jwk else {
            panic!("not an EC key")
        };
        P256PublicKey::try_from(&JsonWebKey::EllipticCurve {
            curve,
            x,
            y,
            secret: None,
        })
        .unwrap()
    }

    /// A deterministic test scalar.
    fn scalar(seed: &str) -> Scalar {
        <Scalar as Reduce<U256>>::reduce_bytes(&Sha256::digest(seed.as_bytes()))
    }

    /// A signing key from a seed (deterministic, test-only).
    fn signer(seed: &str) -> P256SigningKey {
        P256SigningKey::from_slice(&Sha256::digest(seed.as_bytes())).unwrap()
    }

    /// Checks our verdict against p256's own verify and returns it.
    fn check(key: &P256PublicKey, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = Es256Signature::try_from_slice(signature) else {
            return false;
        };
        let ours = Es256VerifyingKey::new(key).verify(message, &signature);
        assert_eq!(
            ours,
            Es256.verify_signature(&signature, key, message),
            "disagrees with p256"
        );
        ours
    }

    #[test]
    fn rfc7515_es256_example_verifies_through_the_validator() {
        let key = Es256VerifyingKey::new(&rfc7515_public());
        let token = UntrustedToken::new(ES256_JWS).unwrap();
        let token = Es256Verifier
            .validator::<Custom>(&key)
            .validate(&token)
            .unwrap();
        assert_eq!(token.claims().custom["iss"], "joe");
        let (message, signature) = ES256_JWS.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(check(&rfc7515_public(), message.as_bytes(), &signature));
    }

    #[test]
    fn signatures_from_p256_verify_and_tampering_is_refused() {
        let keys: Vec<_> = ["a", "b", "c"].map(signer).into_iter().collect();
        for (k, signing) in keys.iter().enumerate() {
            let public = *signing.verifying_key();
            let wrong = *keys[(k + 1) % keys.len()].verifying_key();
            for m in 0..4 {
                let message = format!("eyJhbGciOiJFUzI1NiJ9.message-{k}-{m}");
                let message = message.as_bytes();
                let signature = Es256.sign(signing, message);
                let bytes = signature.as_bytes().into_owned();
                assert!(check(&public, message, &bytes), "key {k} message {m}");
                assert!(!check(&wrong, message, &bytes));
                let mut other = message.to_vec();
                other[m] ^= 1;
                assert!(!check(&public, &other, &bytes));
                // Flipped bits in r and in s.
                for bit in [0, 77, 255, 256, 300, 511] {
                    let mut flipped = bytes.clone();
                    flipped[bit / 8] ^= 1 << (bit % 8);
                    assert!(!check(&public, message, &flipped), "bit {bit}");
                }
                // (s, r) instead of (r, s).
                let swapped = [&bytes[32..], &bytes[..32]].concat();
                assert!(!check(&public, message, &swapped));
                // (r, n − s) verifies too: ECDSA signatures are malleable, and p256 accepts
                // both (RFC 7518 does not require low s).
                let (r, s) = signature.split_scalars();
                let negated = [r.to_bytes(), (-*s).to_bytes()].concat();
                assert!(check(&public, message, &negated));
            }
        }
    }

    #[test]
    fn out_of_range_signatures_do_not_decode() {
        let n = Scalar::ZERO - Scalar::ONE; // n − 1
        let mut order = n.to_bytes().to_vec();
        order[31] += 1; // n itself
        let one = Scalar::ONE.to_bytes().to_vec();
        for bad in [
            [vec![0; 32], one.clone()].concat(),
            [one.clone(), vec![0; 32]].concat(),
            [order.clone(), one.clone()].concat(),
            [one.clone(), vec![0xff; 32]].concat(),
            one.clone(),
        ] {
            assert!(Es256Signature::try_from_slice(&bad).is_err());
        }
    }

    #[test]
    fn wnaf_digits_are_odd_sparse_and_sum_to_the_scalar() {
        for seed in ["0", "1", "2", "3", "4"] {
            let mut scalars = vec![scalar(seed), -scalar(seed)];
            scalars.extend([Scalar::ZERO, Scalar::ONE, Scalar::ZERO - Scalar::ONE]);
            for k in scalars {
                for w in [Q_WIDTH, G_WIDTH] {
                    let naf = wnaf(&k, w);
                    let mut sum = Scalar::ZERO;
                    let mut power = Scalar::ONE;
                    let mut last = None;
                    for (i, &digit) in naf.iter().enumerate() {
                        if digit != 0 {
                            assert!(digit % 2 != 0 && i32::from(digit).abs() < 1 << (w - 1));
                            if let Some(last) = last {
                                assert!(i - last >= w as usize, "digits too close");
                            }
                            last = Some(i);
                            let magnitude = Scalar::from(u64::from(digit.unsigned_abs()));
                            sum += if digit > 0 { magnitude } else { -magnitude } * power;
                        }
                        power = power.double();
                    }
                    assert_eq!(sum, k, "w = {w}");
                }
            }
        }
    }

    #[test]
    fn lincomb_matches_p256() {
        let q = ProjectivePoint::from(*rfc7515_public().as_affine());
        let table = odd_multiples::<Q_TABLE>(q);
        let g = ProjectivePoint::GENERATOR;
        for (a, b) in [
            (scalar("x"), scalar("y")),
            (Scalar::ZERO, scalar("y")),
            (scalar("x"), Scalar::ZERO),
            (Scalar::ONE, Scalar::ZERO - Scalar::ONE),
        ] {
            let expected = ProjectivePoint::lincomb(&g, &a, &q, &b);
            assert_eq!(lincomb(g_table(), &a, &table, &b), expected);
        }
        // a·G + b·Q = ∞ when Q = G and b = −a.
        let a = scalar("z");
        let on_g = odd_multiples::<Q_TABLE>(g);
        assert!(bool::from(lincomb(g_table(), &a, &on_g, &-a).is_identity()));
    }
}
