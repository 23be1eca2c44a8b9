//! x86-64 paths: AVX2 + FMA and AVX-512F, selected at run time by `Isa::is_supported`.

use super::{Metric, Sums};
use std::arch::x86_64::*;

/// The sums of one row with AVX2 + FMA: 4 accumulators of 8 lanes (32 values per step).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `q` and `x` have the same length.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn avx2_sums(metric: Metric, q: &[f32], x: &[f32]) -> Sums {
    match metric {
        Metric::Cosine => avx2_cosine(q, x),
        Metric::Dot => (avx2_fold(q, x, |a, b, acc| _mm256_fmadd_ps(a, b, acc)), 0.0),
        Metric::L2Squared => (
            avx2_fold(q, x, |a, b, acc| {
                let d = _mm256_sub_ps(a, b);
                _mm256_fmadd_ps(d, d, acc)
            }),
            0.0,
        ),
        Metric::Manhattan => (
            avx2_fold(q, x, |a, b, acc| {
                let d = _mm256_sub_ps(a, b);
                _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0), d))
            }),
            0.0,
        ),
        Metric::Hamming => (
            avx2_fold(q, x, |a, b, acc| {
                // NEQ_UQ: true when the values differ (or either is NaN), as Go's `a != b`.
                let ne = _mm256_cmp_ps::<_CMP_NEQ_UQ>(a, b);
                _mm256_add_ps(acc, _mm256_and_ps(ne, _mm256_set1_ps(1.0)))
            }),
            0.0,
        ),
    }
}

#[inline(always)]
unsafe fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// `Σ step(q, x)` over 8-lane vectors with 4 accumulators; the tail is scalar (the same step on one
/// lane: a masked-off load would need AVX-512).
#[inline(always)]
unsafe fn avx2_fold(q: &[f32], x: &[f32], step: impl Fn(__m256, __m256, __m256) -> __m256) -> f32 {
    let n = q.len();
    let (qp, xp) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = step(_mm256_loadu_ps(qp.add(i + 8 * j)), _mm256_loadu_ps(xp.add(i + 8 * j)), *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = step(_mm256_loadu_ps(qp.add(i)), _mm256_loadu_ps(xp.add(i)), acc[0]);
        i += 8;
    }
    let mut total = hsum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    while i < n {
        // One lane at a time through the same vector step (so the rounding matches the vector lanes).
        let r = step(_mm256_set1_ps(*qp.add(i)), _mm256_set1_ps(*xp.add(i)), _mm256_setzero_ps());
        total += _mm256_cvtss_f32(r);
        i += 1;
    }
    total
}

#[inline(always)]
unsafe fn avx2_cosine(q: &[f32], x: &[f32]) -> Sums {
    let n = q.len();
    let (qp, xp) = (q.as_ptr(), x.as_ptr());
    let (mut d0, mut d1, mut s0, mut s1) =
        (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        let (a0, b0) = (_mm256_loadu_ps(qp.add(i)), _mm256_loadu_ps(xp.add(i)));
        let (a1, b1) = (_mm256_loadu_ps(qp.add(i + 8)), _mm256_loadu_ps(xp.add(i + 8)));
        d0 = _mm256_fmadd_ps(a0, b0, d0);
        s0 = _mm256_fmadd_ps(b0, b0, s0);
        d1 = _mm256_fmadd_ps(a1, b1, d1);
        s1 = _mm256_fmadd_ps(b1, b1, s1);
        i += 16;
    }
    while i + 8 <= n {
        let (a0, b0) = (_mm256_loadu_ps(qp.add(i)), _mm256_loadu_ps(xp.add(i)));
        d0 = _mm256_fmadd_ps(a0, b0, d0);
        s0 = _mm256_fmadd_ps(b0, b0, s0);
        i += 8;
    }
    let (mut dot, mut sq) = (hsum256(_mm256_add_ps(d0, d1)), hsum256(_mm256_add_ps(s0, s1)));
    while i < n {
        let (a, b) = (*qp.add(i), *xp.add(i));
        dot += a * b;
        sq += b * b;
        i += 1;
    }
    (dot, sq)
}

/// The sums of one row with AVX-512F: 4 accumulators of 16 lanes (64 values per step); the tail is one
/// masked load.
///
/// # Safety
/// The CPU must support AVX-512F; `q` and `x` have the same length.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn avx512_sums(metric: Metric, q: &[f32], x: &[f32]) -> Sums {
    match metric {
        Metric::Cosine => avx512_cosine(q, x),
        Metric::Dot => (avx512_fold(q, x, |a, b, acc| _mm512_fmadd_ps(a, b, acc)), 0.0),
        Metric::L2Squared => (
            avx512_fold(q, x, |a, b, acc| {
                let d = _mm512_sub_ps(a, b);
                _mm512_fmadd_ps(d, d, acc)
            }),
            0.0,
        ),
        Metric::Manhattan => {
            (avx512_fold(q, x, |a, b, acc| _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(a, b)))), 0.0)
        }
        Metric::Hamming => {
            // Counted in integers: a mask per 16 values, popcounted.
            let n = q.len();
            let (qp, xp) = (q.as_ptr(), x.as_ptr());
            let mut count = 0u32;
            let mut i = 0;
            while i + 16 <= n {
                let m = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(_mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(xp.add(i)));
                count += m.count_ones();
                i += 16;
            }
            if i < n {
                let k: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as u16;
                let m = _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(
                    k,
                    _mm512_maskz_loadu_ps(k, qp.add(i)),
                    _mm512_maskz_loadu_ps(k, xp.add(i)),
                );
                count += m.count_ones();
            }
            (count as f32, 0.0)
        }
    }
}

#[inline(always)]
unsafe fn avx512_fold(q: &[f32], x: &[f32], step: impl Fn(__m512, __m512, __m512) -> __m512) -> f32 {
    let n = q.len();
    let (qp, xp) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = step(_mm512_loadu_ps(qp.add(i + 16 * j)), _mm512_loadu_ps(xp.add(i + 16 * j)), *a);
        }
        i += 64;
    }
    while i + 16 <= n {
        acc[0] = step(_mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(xp.add(i)), acc[0]);
        i += 16;
    }
    if i < n {
        // Masked-off lanes load 0 on both sides: every step maps (0, 0) to an unchanged accumulator.
        let k: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as u16;
        acc[1] = step(_mm512_maskz_loadu_ps(k, qp.add(i)), _mm512_maskz_loadu_ps(k, xp.add(i)), acc[1]);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
}

#[inline(always)]
unsafe fn avx512_cosine(q: &[f32], x: &[f32]) -> Sums {
    let n = q.len();
    let (qp, xp) = (q.as_ptr(), x.as_ptr());
    let (mut d0, mut d1, mut s0, mut s1) =
        (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 32 <= n {
        let (a0, b0) = (_mm512_loadu_ps(qp.add(i)), _mm512_loadu_ps(xp.add(i)));
        let (a1, b1) = (_mm512_loadu_ps(qp.add(i + 16)), _mm512_loadu_ps(xp.add(i + 16)));
        d0 = _mm512_fmadd_ps(a0, b0, d0);
        s0 = _mm512_fmadd_ps(b0, b0, s0);
        d1 = _mm512_fmadd_ps(a1, b1, d1);
        s1 = _mm512_fmadd_ps(b1, b1, s1);
        i += 32;
    }
    while i < n {
        let k: __mmask16 = if n - i >= 16 { 0xFFFF } else { ((1u32 << (n - i)) - 1) as u16 };
        let (a0, b0) = (_mm512_maskz_loadu_ps(k, qp.add(i)), _mm512_maskz_loadu_ps(k, xp.add(i)));
        d0 = _mm512_fmadd_ps(a0, b0, d0);
        s0 = _mm512_fmadd_ps(b0, b0, s0);
        i += 16;
    }
    (_mm512_reduce_add_ps(_mm512_add_ps(d0, d1)), _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)))
}
