//! x86-64 kernels: AVX2 + FMA (+ F16C) and AVX-512F. Selected at run time by `Isa::is_supported`.

use super::{pack_scalar, Kernel, KC, PANEL};
use half::f16;
use std::arch::x86_64::*;

/// Copies (f32) one group into `[k / 16][G][16]`; full chunks with vector moves.
#[inline(always)]
unsafe fn pack_f32_chunks<const G: usize>(
    rows: &[f32],
    n: usize,
    dim: usize,
    dim_pad: usize,
    buf: *mut f32,
    copy16: impl Fn(*const f32, *mut f32),
) {
    if !dim.is_multiple_of(KC) {
        let b = std::slice::from_raw_parts_mut(buf, G * dim_pad);
        pack_scalar(rows, n, dim, dim_pad, G, b, |v| v);
        return;
    }
    let chunks = dim / KC;
    for t in 0..G {
        let src = rows.as_ptr().add(t.min(n - 1) * dim);
        for c in 0..chunks {
            copy16(src.add(c * KC), buf.add((c * G + t) * KC));
        }
    }
}

#[inline(always)]
unsafe fn pack_f16_chunks<const G: usize>(
    rows: &[f16],
    n: usize,
    dim: usize,
    dim_pad: usize,
    buf: *mut f32,
    cvt16: impl Fn(*const f16, *mut f32),
) {
    if !dim.is_multiple_of(KC) {
        let b = std::slice::from_raw_parts_mut(buf, G * dim_pad);
        pack_scalar(rows, n, dim, dim_pad, G, b, f16::to_f32);
        return;
    }
    let chunks = dim / KC;
    for t in 0..G {
        let src = rows.as_ptr().add(t.min(n - 1) * dim);
        for c in 0..chunks {
            cvt16(src.add(c * KC), buf.add((c * G + t) * KC));
        }
    }
}

/// Prefetch hint for one cache line; never faults, whatever the address.
#[inline(always)]
fn prefetch(p: *const i8) {
    // SAFETY: PREFETCHT0 is in the x86-64 baseline (SSE) and does not fault on any address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
}

// ---------------------------------------------------------------------------------------------------
// AVX2: 16 queries (2 ymm) × 6 tokens = 12 accumulators + 2 query registers + 1 broadcast.

pub(crate) struct Avx2;
const G2: usize = 6;

#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_pack_f32(rows: &[f32], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
    pack_f32_chunks::<G2>(rows, n, dim, dim_pad, buf, |s, d| unsafe {
        _mm256_store_ps(d, _mm256_loadu_ps(s));
        _mm256_store_ps(d.add(8), _mm256_loadu_ps(s.add(8)));
    });
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn avx2_pack_f16(rows: &[f16], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
    pack_f16_chunks::<G2>(rows, n, dim, dim_pad, buf, |s, d| unsafe {
        let h = _mm256_loadu_si256(s as *const __m256i);
        _mm256_store_ps(d, _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
        _mm256_store_ps(d.add(8), _mm256_cvtph_ps(_mm256_extracti128_si256::<1>(h)));
    });
}

#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_tile(
    qpanel: *const f32,
    buf: *const f32,
    chunks: usize,
    runmax: *mut f32,
    pf: *const i8,
    pf_stride: usize,
) {
    let mut pf = pf;
    let z = _mm256_setzero_ps();
    let (mut a00, mut a01, mut a02, mut a03, mut a04, mut a05) = (z, z, z, z, z, z);
    let (mut a10, mut a11, mut a12, mut a13, mut a14, mut a15) = (z, z, z, z, z, z);
    let mut qp = qpanel;
    let mut bp = buf;
    for _ in 0..chunks {
        for kk in 0..KC {
            prefetch(pf);
            if pf_stride > 64 {
                prefetch(pf.wrapping_add(64));
            }
            pf = pf.wrapping_add(pf_stride);
            let q0 = _mm256_load_ps(qp.add(kk * PANEL));
            let q1 = _mm256_load_ps(qp.add(kk * PANEL + 8));
            macro_rules! step {
                ($t:expr, $x0:ident, $x1:ident) => {
                    let b = _mm256_broadcast_ss(&*bp.add($t * KC + kk));
                    $x0 = _mm256_fmadd_ps(q0, b, $x0);
                    $x1 = _mm256_fmadd_ps(q1, b, $x1);
                };
            }
            step!(0, a00, a10);
            step!(1, a01, a11);
            step!(2, a02, a12);
            step!(3, a03, a13);
            step!(4, a04, a14);
            step!(5, a05, a15);
        }
        qp = qp.add(KC * PANEL);
        bp = bp.add(G2 * KC);
    }
    let m0 = _mm256_max_ps(_mm256_max_ps(_mm256_max_ps(a00, a01), _mm256_max_ps(a02, a03)), _mm256_max_ps(a04, a05));
    let m1 = _mm256_max_ps(_mm256_max_ps(_mm256_max_ps(a10, a11), _mm256_max_ps(a12, a13)), _mm256_max_ps(a14, a15));
    _mm256_store_ps(runmax, _mm256_max_ps(_mm256_load_ps(runmax), m0));
    _mm256_store_ps(runmax.add(8), _mm256_max_ps(_mm256_load_ps(runmax.add(8)), m1));
}

unsafe impl Kernel for Avx2 {
    const G: usize = G2;
    unsafe fn pack_f32(rows: &[f32], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        avx2_pack_f32(rows, n, dim, dim_pad, buf)
    }
    unsafe fn pack_f16(rows: &[f16], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        avx2_pack_f16(rows, n, dim, dim_pad, buf)
    }
    unsafe fn tile(
        qpanel: *const f32,
        buf: *const f32,
        chunks: usize,
        runmax: *mut f32,
        pf: *const i8,
        pf_stride: usize,
    ) {
        avx2_tile(qpanel, buf, chunks, runmax, pf, pf_stride)
    }
}

// ---------------------------------------------------------------------------------------------------
// AVX-512F: 16 queries (1 zmm) × 24 tokens = 24 accumulators; broadcasts are FMA memory operands.

pub(crate) struct Avx512;
const G5: usize = 24;

#[target_feature(enable = "avx512f")]
unsafe fn avx512_pack_f32(rows: &[f32], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
    pack_f32_chunks::<G5>(rows, n, dim, dim_pad, buf, |s, d| unsafe { _mm512_store_ps(d, _mm512_loadu_ps(s)) });
}

#[target_feature(enable = "avx512f")]
unsafe fn avx512_pack_f16(rows: &[f16], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
    pack_f16_chunks::<G5>(rows, n, dim, dim_pad, buf, |s, d| unsafe {
        _mm512_store_ps(d, _mm512_cvtph_ps(_mm256_loadu_si256(s as *const __m256i)))
    });
}

#[target_feature(enable = "avx512f")]
unsafe fn avx512_tile(
    qpanel: *const f32,
    buf: *const f32,
    chunks: usize,
    runmax: *mut f32,
    pf: *const i8,
    pf_stride: usize,
) {
    let mut pf = pf;
    let z = _mm512_setzero_ps();
    let mut a = [z; G5];
    let mut qp = qpanel;
    let mut bp = buf;
    for _ in 0..chunks {
        for kk in 0..KC {
            prefetch(pf);
            if pf_stride > 64 {
                prefetch(pf.wrapping_add(64));
            }
            pf = pf.wrapping_add(pf_stride);
            let q = _mm512_load_ps(qp.add(kk * PANEL));
            macro_rules! steps {
                ($($t:literal)*) => { $( a[$t] = _mm512_fmadd_ps(q, _mm512_set1_ps(*bp.add($t * KC + kk)), a[$t]); )* };
            }
            steps!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23);
        }
        qp = qp.add(KC * PANEL);
        bp = bp.add(G5 * KC);
    }
    let mut m = _mm512_load_ps(runmax);
    for v in a {
        m = _mm512_max_ps(m, v);
    }
    _mm512_store_ps(runmax, m);
}

unsafe impl Kernel for Avx512 {
    const G: usize = G5;
    unsafe fn pack_f32(rows: &[f32], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        avx512_pack_f32(rows, n, dim, dim_pad, buf)
    }
    unsafe fn pack_f16(rows: &[f16], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        avx512_pack_f16(rows, n, dim, dim_pad, buf)
    }
    unsafe fn tile(
        qpanel: *const f32,
        buf: *const f32,
        chunks: usize,
        runmax: *mut f32,
        pf: *const i8,
        pf_stride: usize,
    ) {
        avx512_tile(qpanel, buf, chunks, runmax, pf, pf_stride)
    }
}
