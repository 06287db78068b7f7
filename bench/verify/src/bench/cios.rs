//! Experiment, not for the filter: hand-written Montgomery (CIOS, 32-bit limbs, variable time)
//! to see how far crypto-bigint's generic code is from a tight loop in wasm32.

pub struct Modulus {
    n: Vec<u32>,
    n0: u32,
    r2: Vec<u32>,
}

impl Modulus {
    pub fn new(n_be: &[u8]) -> Modulus {
        let n = limbs(n_be, n_be.len().div_ceil(4));
        // n0 = -n^-1 mod 2^32 (Newton).
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n[0].wrapping_mul(inv)));
        }
        let n0 = inv.wrapping_neg();
        // R^2 mod n by doubling 2·32·s times from 1 (slow, once per key).
        let s = n.len();
        let mut r = vec![0u32; s];
        r[0] = 1;
        for _ in 0..(2 * 32 * s) {
            let carry = shl1(&mut r);
            if carry || geq(&r, &n) {
                sub(&mut r, &n);
            }
        }
        Modulus { n, n0, r2: r }
    }

    /// base^65537 mod n, big-endian `len` bytes.
    pub fn pow65537(&self, base_be: &[u8]) -> Option<Vec<u8>> {
        let s = self.n.len();
        let x = limbs(base_be, s);
        if geq(&x, &self.n) {
            return None;
        }
        let mut t = vec![0u32; s + 2];
        let mut xm = vec![0u32; s];
        self.mul(&x, &self.r2, &mut t, &mut xm);
        let mut acc = xm.clone();
        let mut tmp = vec![0u32; s];
        for _ in 0..16 {
            self.mul(&acc, &acc, &mut t, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
        }
        // acc·x·R^-1 = x^65537 (acc is x^65536 in Montgomery form, x is plain).
        self.mul(&acc, &x, &mut t, &mut tmp);
        let mut out = vec![0u8; s * 4];
        for (chunk, limb) in out.rchunks_mut(4).zip(&tmp) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        Some(out.split_off(out.len() - base_be.len()))
    }

    /// out = a·b·R^-1 mod n (CIOS).
    fn mul(&self, a: &[u32], b: &[u32], t: &mut [u32], out: &mut [u32]) {
        let s = self.n.len();
        let (a, b, n) = (&a[..s], &b[..s], &self.n[..s]);
        let t = &mut t[..s + 2];
        t.fill(0);
        for &bi in b {
            let mut c: u64 = 0;
            for j in 0..s {
                let v = u64::from(t[j]) + u64::from(a[j]) * u64::from(bi) + c;
                t[j] = v as u32;
                c = v >> 32;
            }
            let v = u64::from(t[s]) + c;
            t[s] = v as u32;
            t[s + 1] = (v >> 32) as u32;
            let m = t[0].wrapping_mul(self.n0);
            let mut c = (u64::from(t[0]) + u64::from(m) * u64::from(n[0])) >> 32;
            for j in 1..s {
                let v = u64::from(t[j]) + u64::from(m) * u64::from(n[j]) + c;
                t[j - 1] = v as u32;
                c = v >> 32;
            }
            let v = u64::from(t[s]) + c;
            t[s - 1] = v as u32;
            t[s] = t[s + 1] + (v >> 32) as u32;
        }
        let out = &mut out[..s];
        out.copy_from_slice(&t[..s]);
        if t[s] != 0 || geq(out, n) {
            sub(out, n);
        }
    }
}

fn limbs(be: &[u8], s: usize) -> Vec<u32> {
    let mut out = vec![0u32; s];
    for (limb, chunk) in out.iter_mut().zip(be.rchunks(4)) {
        *limb = chunk.iter().fold(0, |acc, &b| acc << 8 | u32::from(b));
    }
    out
}

fn geq(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x > y;
        }
    }
    true
}

fn sub(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let v = u64::from(*x)
            .wrapping_sub(u64::from(y))
            .wrapping_sub(borrow);
        *x = v as u32;
        borrow = (v >> 63) & 1;
    }
}

fn shl1(a: &mut [u32]) -> bool {
    let mut carry = 0;
    for x in a.iter_mut() {
        let next = *x >> 31;
        *x = *x << 1 | carry;
        carry = next;
    }
    carry != 0
}
