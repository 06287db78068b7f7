//! Experiment: Montgomery multiplication in radix 2^28 with lazy carries. Each product of two
//! 28-bit limbs fits 56 bits, so up to 256 of them add up in a u64 with no carry chain: the
//! inner loop is independent multiply-adds (and vectorizable with simd128). Values stay in
//! [0, 2n) between products (R = 2^(28·s) > 4n), reduced once at the end.

const W: u32 = 28;
const MASK: u64 = (1 << W) - 1;

pub struct Modulus {
    n: Vec<u32>,
    /// -n^-1 mod 2^28.
    n0: u32,
    /// R² mod n.
    r2: Vec<u32>,
    len: usize,
}

impl Modulus {
    /// `n_be`: an odd modulus of at most 3556 bits (s ≤ 127 limbs keeps 2s products < 2^64).
    pub fn new(n_be: &[u8]) -> Modulus {
        let bits = n_be.len() * 8;
        let s = (bits + 2).div_ceil(W as usize); // R > 4n
        assert!(s <= 127);
        let n = to_limbs(n_be, s);
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n[0].wrapping_mul(inv)));
        }
        let n0 = inv.wrapping_neg() & MASK as u32;
        // R² mod n by doubling from 1 (2·28·s times), fully reduced.
        let mut r = vec![0u32; s];
        r[0] = 1;
        for _ in 0..(2 * W as usize * s) {
            let mut carry = 0;
            for limb in r.iter_mut() {
                let v = (*limb << 1) | carry;
                carry = v >> W;
                *limb = v & MASK as u32;
            }
            if carry != 0 || !less(&r, &n) {
                sub(&mut r, &n);
            }
        }
        Modulus {
            n,
            n0,
            r2: r,
            len: n_be.len(),
        }
    }

    /// base^65537 mod n as `len` big-endian bytes; `None` when base ≥ n.
    pub fn pow65537(&self, base_be: &[u8]) -> Option<Vec<u8>> {
        let s = self.n.len();
        let x = to_limbs(base_be, s);
        if !less(&x, &self.n) {
            return None;
        }
        let mut t = vec![0u64; s];
        let mut u = vec![0u64; s];
        let mut acc = vec![0u32; s];
        let mut tmp = vec![0u32; s];
        self.mul(&x, &self.r2, &mut t, &mut u, &mut acc);
        for _ in 0..16 {
            self.mul(&acc, &acc, &mut t, &mut u, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
        }
        self.mul(&acc, &x, &mut t, &mut u, &mut tmp);
        if !less(&tmp, &self.n) {
            sub(&mut tmp, &self.n);
        }
        Some(from_limbs(&tmp, self.len))
    }

    /// out = a·b·R^-1 mod n, in [0, 2n), normalized 28-bit limbs. a, b < 2n.
    #[inline(never)]
    fn mul(&self, a: &[u32], b: &[u32], t: &mut Vec<u64>, u: &mut Vec<u64>, out: &mut [u32]) {
        let s = self.n.len();
        let (a, b, n) = (&a[..s], &b[..s], &self.n[..s]);
        t.fill(0);
        for &bi in b {
            let bi = u64::from(bi);
            let t0 = t[0] + u64::from(a[0]) * bi;
            let m = u64::from((t0 as u32).wrapping_mul(self.n0) & MASK as u32);
            let carry = (t0 + m * u64::from(n[0])) >> W;
            row(&mut u[..s - 1], &t[1..s], &a[1..s], &n[1..s], bi, m);
            u[s - 1] = 0;
            u[0] += carry;
            std::mem::swap(t, u);
        }
        let mut c = 0u64;
        for (o, &v) in out.iter_mut().zip(t.iter()) {
            let v = v + c;
            *o = (v & MASK) as u32;
            c = v >> W;
        }
        debug_assert_eq!(c, 0);
    }
}

fn to_limbs(be: &[u8], s: usize) -> Vec<u32> {
    let mut out = vec![0u32; s];
    let (mut acc, mut have, mut k) = (0u64, 0u32, 0usize);
    for &byte in be.iter().rev() {
        acc |= u64::from(byte) << have;
        have += 8;
        while have >= W && k < s {
            out[k] = (acc & MASK) as u32;
            acc >>= W;
            have -= W;
            k += 1;
        }
    }
    if k < s {
        out[k] = (acc & MASK) as u32;
    }
    out
}

fn from_limbs(limbs: &[u32], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let (mut acc, mut have, mut k) = (0u64, 0u32, 0usize);
    for &limb in limbs {
        acc |= u64::from(limb) << have;
        have += W;
        while have >= 8 && k < len {
            out[len - 1 - k] = acc as u8;
            acc >>= 8;
            have -= 8;
            k += 1;
        }
    }
    while k < len {
        out[len - 1 - k] = acc as u8;
        acc >>= 8;
        k += 1;
    }
    out
}

fn less(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

fn sub(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0i64;
    for (x, &y) in a.iter_mut().zip(b) {
        let v = i64::from(*x) - i64::from(y) - borrow;
        borrow = i64::from(v < 0);
        *x = (v + (borrow << W)) as u32;
    }
}

/// dst[j] = src[j] + a[j]·b + n[j]·m, all lengths equal.
#[cfg(not(target_family = "wasm"))]
fn row(dst: &mut [u64], src: &[u64], a: &[u32], n: &[u32], b: u64, m: u64) {
    for j in 0..dst.len() {
        dst[j] = src[j] + u64::from(a[j]) * b + m * u64::from(n[j]);
    }
}

#[cfg(target_family = "wasm")]
fn row(dst: &mut [u64], src: &[u64], a: &[u32], n: &[u32], b: u64, m: u64) {
    // SAFETY: Envoy's V8 and Node's support SIMD; the lengths are checked inside.
    unsafe { row_simd(dst, src, a, n, b as u32, m as u32) }
}

#[cfg(target_family = "wasm")]
#[target_feature(enable = "simd128")]
unsafe fn row_simd(dst: &mut [u64], src: &[u64], a: &[u32], n: &[u32], b: u32, m: u32) {
    use core::arch::wasm32::*;
    let len = dst.len();
    assert!(src.len() == len && a.len() == len && n.len() == len);
    let (vb, vm) = (u32x4_splat(b), u32x4_splat(m));
    let mut j = 0;
    while j + 4 <= len {
        let va = v128_load(a.as_ptr().add(j).cast());
        let vn = v128_load(n.as_ptr().add(j).cast());
        let lo = u64x2_add(
            u64x2_extmul_low_u32x4(va, vb),
            u64x2_extmul_low_u32x4(vn, vm),
        );
        let hi = u64x2_add(
            u64x2_extmul_high_u32x4(va, vb),
            u64x2_extmul_high_u32x4(vn, vm),
        );
        let s0 = v128_load(src.as_ptr().add(j).cast());
        let s1 = v128_load(src.as_ptr().add(j + 2).cast());
        v128_store(dst.as_mut_ptr().add(j).cast(), u64x2_add(s0, lo));
        v128_store(dst.as_mut_ptr().add(j + 2).cast(), u64x2_add(s1, hi));
        j += 4;
    }
    while j < len {
        dst[j] = src[j] + u64::from(a[j]) * u64::from(b) + u64::from(m) * u64::from(n[j]);
        j += 1;
    }
}
