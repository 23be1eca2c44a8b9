//! Plain Rust on fixed-size lane arrays: LLVM vectorises it with the target's baseline SIMD.

use super::{Metric, Sums};

const L: usize = 16;

/// The sums of one row (see [`super::Sums`]); `q` and `x` have the same length.
///
/// # Safety
/// None needed (safe code); `unsafe` only to share the signature of the SIMD paths.
pub(crate) unsafe fn sums(metric: Metric, q: &[f32], x: &[f32]) -> Sums {
    match metric {
        Metric::Cosine => two(q, x, |a, b| a * b, |_, b| b * b),
        Metric::Dot => two(q, x, |a, b| a * b, |_, _| 0.0),
        Metric::L2Squared => two(q, x, |a, b| (a - b) * (a - b), |_, _| 0.0),
        Metric::Manhattan => two(q, x, |a, b| (a - b).abs(), |_, _| 0.0),
        Metric::Hamming => two(q, x, |a, b| if a != b { 1.0 } else { 0.0 }, |_, _| 0.0),
    }
}

#[inline(always)]
fn two(q: &[f32], x: &[f32], fa: impl Fn(f32, f32) -> f32, fb: impl Fn(f32, f32) -> f32) -> Sums {
    let mut acc_a = [0f32; L];
    let mut acc_b = [0f32; L];
    let (qc, xc) = (q.chunks_exact(L), x.chunks_exact(L));
    let (qr, xr) = (qc.remainder(), xc.remainder());
    for (qq, xx) in qc.zip(xc) {
        for l in 0..L {
            acc_a[l] += fa(qq[l], xx[l]);
            acc_b[l] += fb(qq[l], xx[l]);
        }
    }
    let mut a: f32 = acc_a.iter().sum();
    let mut b: f32 = acc_b.iter().sum();
    for (&qq, &xx) in qr.iter().zip(xr) {
        a += fa(qq, xx);
        b += fb(qq, xx);
    }
    (a, b)
}
