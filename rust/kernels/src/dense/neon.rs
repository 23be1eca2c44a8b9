//! aarch64 NEON path (NEON is part of the aarch64 baseline): 4 accumulators of 4 lanes.

use super::{Metric, Sums};
use std::arch::aarch64::*;

/// The sums of one row; `q` and `x` have the same length.
///
/// # Safety
/// aarch64 only (NEON is always present there).
pub(crate) unsafe fn sums(metric: Metric, q: &[f32], x: &[f32]) -> Sums {
    match metric {
        Metric::Cosine => cosine(q, x),
        Metric::Dot => (fold(q, x, |a, b, acc| vfmaq_f32(acc, a, b)), 0.0),
        Metric::L2Squared => (
            fold(q, x, |a, b, acc| {
                let d = vsubq_f32(a, b);
                vfmaq_f32(acc, d, d)
            }),
            0.0,
        ),
        Metric::Manhattan => (fold(q, x, |a, b, acc| vaddq_f32(acc, vabdq_f32(a, b))), 0.0),
        Metric::Hamming => (
            fold(q, x, |a, b, acc| {
                // Lanes that differ (or hold NaN): not equal, as Go's `a != b`.
                let ne = vmvnq_u32(vceqq_f32(a, b));
                vaddq_f32(acc, vreinterpretq_f32_u32(vandq_u32(ne, vreinterpretq_u32_f32(vdupq_n_f32(1.0)))))
            }),
            0.0,
        ),
    }
}

#[inline(always)]
unsafe fn fold(q: &[f32], x: &[f32], step: impl Fn(float32x4_t, float32x4_t, float32x4_t) -> float32x4_t) -> f32 {
    let n = q.len();
    let (qp, xp) = (q.as_ptr(), x.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = step(vld1q_f32(qp.add(i + 4 * j)), vld1q_f32(xp.add(i + 4 * j)), *a);
        }
        i += 16;
    }
    while i + 4 <= n {
        acc[0] = step(vld1q_f32(qp.add(i)), vld1q_f32(xp.add(i)), acc[0]);
        i += 4;
    }
    let mut total = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    while i < n {
        let r = step(vdupq_n_f32(*qp.add(i)), vdupq_n_f32(*xp.add(i)), vdupq_n_f32(0.0));
        total += vgetq_lane_f32::<0>(r);
        i += 1;
    }
    total
}

#[inline(always)]
unsafe fn cosine(q: &[f32], x: &[f32]) -> Sums {
    let n = q.len();
    let (qp, xp) = (q.as_ptr(), x.as_ptr());
    let z = vdupq_n_f32(0.0);
    let (mut d0, mut d1, mut s0, mut s1) = (z, z, z, z);
    let mut i = 0;
    while i + 8 <= n {
        let (a0, b0) = (vld1q_f32(qp.add(i)), vld1q_f32(xp.add(i)));
        let (a1, b1) = (vld1q_f32(qp.add(i + 4)), vld1q_f32(xp.add(i + 4)));
        d0 = vfmaq_f32(d0, a0, b0);
        s0 = vfmaq_f32(s0, b0, b0);
        d1 = vfmaq_f32(d1, a1, b1);
        s1 = vfmaq_f32(s1, b1, b1);
        i += 8;
    }
    let (mut dot, mut sq) = (vaddvq_f32(vaddq_f32(d0, d1)), vaddvq_f32(vaddq_f32(s0, s1)));
    while i < n {
        let (a, b) = (*qp.add(i), *xp.add(i));
        dot += a * b;
        sq += b * b;
        i += 1;
    }
    (dot, sq)
}
