//! int8 MUVERA encodings (compressed FDEs) and the brute-force scan over them that picks a search's first
//! candidates.
//!
//! Encoding (the same as [`super::int8`] with one "token" per encoding): `scale = max_k |x_k| / 127`,
//! `code_k = round_half_even(x_k / scale)` in `[-127, 127]`. A float32 encoding of 2,560 values (10 KB)
//! becomes 2,560 bytes and one scale: the scan reads a quarter of the memory.
//!
//! Scoring: `score = (f32(dot_i32(q, row)) · scale_row) · scale_q`. The integer dot product is exact on every
//! path and the float32 steps are the same, so every path gives the same bits (the tests check them against
//! an integer reference). Codes must lie in `[-127, 127]`, as quantisation makes them: the AVX2 path's
//! byte products saturate for `-128 · -128` pairs.
//!
//! x86 paths: AVX2 `VPMADDUBSW` on `|q|` (unsigned) and `sign(row, q)` (signed), then `VPMADDWD` by ones into
//! 32-bit sums: 32 byte products per instruction. AVX-512 VNNI: `VPDPBUSD` on `row + 128` (unsigned: the
//! sign bit flipped) and `q` (signed), 64 byte products summed into 32-bit lanes per instruction without
//! 16-bit intermediates; the offset is taken off once per row as `128 · Σq` (computed once per query).

use super::{KernelIsa, QuantOptions};
use crate::error::{KernelError, Result};
use crate::pool;
use crate::topk;
use rayon::prelude::*;

/// Instruction-set paths of the int8 encoding scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FdeIsa {
    /// Plain Rust (LLVM vectorises the `i8 → i32` dot product with the baseline SIMD: SSE2, NEON).
    Portable,
    /// x86-64 AVX2: `VPMADDUBSW` + `VPMADDWD`.
    Avx2,
    /// x86-64 AVX-512 VNNI: `VPDPBUSD` on the offset rows.
    Avx512Vnni,
}

impl KernelIsa for FdeIsa {
    const ALL: &'static [FdeIsa] = &[FdeIsa::Portable, FdeIsa::Avx2, FdeIsa::Avx512Vnni];

    fn name(self) -> &'static str {
        match self {
            FdeIsa::Portable => "portable",
            FdeIsa::Avx2 => "avx2",
            FdeIsa::Avx512Vnni => "avx512vnni",
        }
    }

    fn is_supported(self) -> bool {
        match self {
            FdeIsa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            FdeIsa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            FdeIsa::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

pub type FdeOptions = QuantOptions<FdeIsa>;

fn dot_portable(q: &[i8], r: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (cq, cr) = (q.chunks_exact(16), r.chunks_exact(16));
    let (tq, tr) = (cq.remainder(), cr.remainder());
    for (a, b) in cq.zip(cr) {
        for i in 0..16 {
            acc[i] += a[i] as i32 * b[i] as i32;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (a, b) in tq.iter().zip(tr) {
        s += *a as i32 * *b as i32;
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2; `q` and `r` have the same length.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot_avx2(q: &[i8], r: &[i8]) -> i32 {
        let n = q.len();
        let ones = _mm256_set1_epi16(1);
        let (mut a0, mut a1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut i = 0;
        while i + 64 <= n {
            let x0 = _mm256_loadu_si256(q.as_ptr().add(i) as *const __m256i);
            let y0 = _mm256_loadu_si256(r.as_ptr().add(i) as *const __m256i);
            let x1 = _mm256_loadu_si256(q.as_ptr().add(i + 32) as *const __m256i);
            let y1 = _mm256_loadu_si256(r.as_ptr().add(i + 32) as *const __m256i);
            let p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(x0, x0), _mm256_sign_epi8(y0, x0));
            let p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(x1, x1), _mm256_sign_epi8(y1, x1));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(p0, ones));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(p1, ones));
            i += 64;
        }
        while i + 32 <= n {
            let x0 = _mm256_loadu_si256(q.as_ptr().add(i) as *const __m256i);
            let y0 = _mm256_loadu_si256(r.as_ptr().add(i) as *const __m256i);
            let p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(x0, x0), _mm256_sign_epi8(y0, x0));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(p0, ones));
            i += 32;
        }
        let acc = _mm256_add_epi32(a0, a1);
        let s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        let mut total = _mm_cvtsi128_si32(s);
        while i < n {
            total += *q.get_unchecked(i) as i32 * *r.get_unchecked(i) as i32;
            i += 1;
        }
        total
    }

    /// `Σ (r_k + 128) · q_k − 128 · qsum` = `Σ r_k · q_k` when `qsum = Σ q_k`.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, BW and VNNI; `q` and `r` have the same length.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn dot_avx512vnni(q: &[i8], r: &[i8], qsum: i32) -> i32 {
        let n = q.len();
        let flip = _mm512_set1_epi8(-128);
        let (mut a0, mut a1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let mut i = 0;
        while i + 128 <= n {
            let x0 = _mm512_loadu_si512(q.as_ptr().add(i) as *const _);
            let y0 = _mm512_xor_si512(_mm512_loadu_si512(r.as_ptr().add(i) as *const _), flip);
            let x1 = _mm512_loadu_si512(q.as_ptr().add(i + 64) as *const _);
            let y1 = _mm512_xor_si512(_mm512_loadu_si512(r.as_ptr().add(i + 64) as *const _), flip);
            a0 = _mm512_dpbusd_epi32(a0, y0, x0);
            a1 = _mm512_dpbusd_epi32(a1, y1, x1);
            i += 128;
        }
        while i < n {
            // the last (partial) 64 bytes: lanes past the end load as 0 in `q`, so their products vanish
            let m: __mmask64 = if n - i >= 64 { !0 } else { (1u64 << (n - i)) - 1 };
            let x0 = _mm512_maskz_loadu_epi8(m, q.as_ptr().add(i));
            let y0 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, r.as_ptr().add(i)), flip);
            a0 = _mm512_dpbusd_epi32(a0, y0, x0);
            i += 64;
        }
        // The offset sum may pass i32 for long encodings; wrapping arithmetic then still gives the exact
        // dot product whenever that fits in an i32 (what every path assumes).
        _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)).wrapping_sub(128 * qsum)
    }
}

fn dot(isa: FdeIsa, q: &[i8], r: &[i8], qsum: i32) -> i32 {
    match isa {
        FdeIsa::Portable => dot_portable(q, r),
        // SAFETY: `isa` was checked to be supported by this CPU; the slices have the same length.
        #[cfg(target_arch = "x86_64")]
        FdeIsa::Avx2 => unsafe { x86::dot_avx2(q, r) },
        // SAFETY: as above; `qsum` is the query's code sum (computed by `code_sum`).
        #[cfg(target_arch = "x86_64")]
        FdeIsa::Avx512Vnni => unsafe { x86::dot_avx512vnni(q, r, qsum) },
        #[allow(unreachable_patterns)]
        _ => unreachable!("unsupported paths are rejected before dispatch"),
    }
}

/// The int8 scores of every encoding: `codes` `n × query.len()` (row-major), `scales` `n`.
pub fn fde_scores_int8(
    query: &[i8],
    query_scale: f32,
    codes: &[i8],
    scales: &[f32],
    opts: FdeOptions,
) -> Result<Vec<f32>> {
    let n = check(query, codes, scales, None)?;
    let isa = opts.isa.unwrap_or_else(FdeIsa::best).checked()?;
    let qsum = code_sum(query)?;
    let d = query.len();
    let mut out = vec![0f32; n];
    let threads = opts.threads.unwrap_or_else(pool::default_threads).max(1);
    pool::pool(threads).install(|| {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, piece)| {
            for (j, o) in piece.iter_mut().enumerate() {
                let i = c * CHUNK + j;
                *o = score(isa, query, qsum, query_scale, &codes[i * d..(i + 1) * d], scales[i]);
            }
        });
    });
    Ok(out)
}

const CHUNK: usize = 512;

#[inline]
fn score(isa: FdeIsa, q: &[i8], qsum: i32, qs: f32, row: &[i8], s: f32) -> f32 {
    (dot(isa, q, row, qsum) as f32 * s) * qs
}

/// `Σ q_k`, checked so that `128 · Σ q_k` (the VNNI path's offset) fits in an i32: encodings of up to
/// 131,000 values (MUVERA's default is 2,560).
fn code_sum(q: &[i8]) -> Result<i32> {
    let s: i64 = q.iter().map(|&x| x as i64).sum();
    i32::try_from(s * 128)
        .map(|_| s as i32)
        .map_err(|_| KernelError::invalid("query", format!("has {} values, too many for 32-bit sums", q.len())))
}

fn check(query: &[i8], codes: &[i8], scales: &[f32], allowed: Option<&[u8]>) -> Result<usize> {
    let d = query.len();
    if d == 0 {
        return Err(KernelError::invalid("query", "is empty"));
    }
    if !codes.len().is_multiple_of(d) {
        return Err(KernelError::invalid("codes", format!("length {} is not a multiple of {d}", codes.len())));
    }
    let n = codes.len() / d;
    if scales.len() != n {
        return Err(KernelError::invalid("scales", format!("has {} entries for {n} encodings", scales.len())));
    }
    if let Some(a) = allowed {
        if a.len() != n {
            return Err(KernelError::invalid("allowed", format!("has {} entries for {n} encodings", a.len())));
        }
    }
    Ok(n)
}

/// The `k` encodings with the largest int8 score, best first, ties to the lower index; `allowed`, when
/// given, keeps only rows `i` with `allowed[i] != 0`.
pub fn fde_topk_int8(
    query: &[i8],
    query_scale: f32,
    codes: &[i8],
    scales: &[f32],
    k: usize,
    allowed: Option<&[u8]>,
    opts: FdeOptions,
) -> Result<Vec<(usize, f32)>> {
    let n = check(query, codes, scales, allowed)?;
    let isa = opts.isa.unwrap_or_else(FdeIsa::best).checked()?;
    let qsum = code_sum(query)?;
    if k == 0 || n == 0 {
        return Ok(Vec::new());
    }
    let d = query.len();
    let threads = opts.threads.unwrap_or_else(pool::default_threads);
    Ok(topk::scan_rows(codes, d, k, allowed, threads, CHUNK, |i, row| {
        score(isa, query, qsum, query_scale, row, scales[i])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::int8::quantize;
    use crate::quant::tests::Rng;

    fn data(seed: u64, n: usize, d: usize) -> (Vec<i8>, Vec<f32>) {
        let mut r = Rng(seed);
        let v: Vec<f32> = (0..n * d).map(|_| r.normal()).collect();
        quantize(&v, d).unwrap()
    }

    /// i64 dot products, then the documented float32 steps.
    fn reference(q: &[i8], qs: f32, codes: &[i8], scales: &[f32]) -> Vec<f32> {
        let d = q.len();
        codes
            .chunks_exact(d)
            .zip(scales)
            .map(|(row, &s)| {
                let dot: i64 = row.iter().zip(q).map(|(&a, &b)| a as i64 * b as i64).sum();
                (dot as f32 * s) * qs
            })
            .collect()
    }

    #[test]
    fn every_path_equals_the_integer_reference() {
        // odd lengths exercise the tails; 2560 is MUVERA's default encoding size
        for &d in &[1usize, 31, 33, 95, 128, 2560] {
            let (codes, scales) = data(d as u64 + 1, 300, d);
            let (q, qs) = data(d as u64 + 99, 1, d);
            let want = reference(&q, qs[0], &codes, &scales);
            for isa in FdeIsa::available() {
                for threads in [1, 3] {
                    let opts = FdeOptions { threads: Some(threads), isa: Some(isa) };
                    let got = fde_scores_int8(&q, qs[0], &codes, &scales, opts).unwrap();
                    assert_eq!(got, want, "{isa:?} d={d} threads={threads}");
                }
            }
        }
    }

    #[test]
    fn extreme_codes_are_exact() {
        // 100,000: the VNNI path's offset sum passes i32, the dot product does not
        for d in [4096usize, 100_000] {
            let q: Vec<i8> = (0..d).map(|i| if i % 3 == 0 { -127 } else { 127 }).collect();
            let row: Vec<i8> = (0..d).map(|i| if i % 5 == 0 { 127 } else { -127 }).collect();
            let same: Vec<i8> = vec![127; d];
            for (q, row) in [(&q, &row), (&same, &same)] {
                let want = reference(q, 1.0, row, &[1.0]);
                for isa in FdeIsa::available() {
                    let opts = FdeOptions { threads: Some(1), isa: Some(isa) };
                    assert_eq!(fde_scores_int8(q, 1.0, row, &[1.0], opts).unwrap(), want, "{isa:?} d={d}");
                }
            }
        }
    }

    #[test]
    fn topk_orders_filters_and_breaks_ties() {
        let d = 64;
        let (mut codes, mut scales) = data(5, 1500, d);
        // rows 7 and 900 are identical: equal scores, the lower index first
        let row7 = codes[7 * d..8 * d].to_vec();
        codes[900 * d..901 * d].copy_from_slice(&row7);
        scales[900] = scales[7];
        let (q, qs) = (row7.clone(), 0.5f32);
        let all = reference(&q, qs, &codes, &scales);
        let mut want: Vec<(usize, f32)> = all.iter().copied().enumerate().collect();
        want.sort_by(|a, b| topk::better(*a, *b));
        for isa in FdeIsa::available() {
            let opts = FdeOptions { threads: Some(2), isa: Some(isa) };
            let got = fde_topk_int8(&q, qs, &codes, &scales, 20, None, opts).unwrap();
            assert_eq!(got, want[..20].to_vec());
            let pos7 = got.iter().position(|x| x.0 == 7).unwrap();
            assert_eq!(got[pos7 + 1].0, 900);
            let allowed: Vec<u8> = (0..1500).map(|i| (i % 7 == 0) as u8).collect();
            let got = fde_topk_int8(&q, qs, &codes, &scales, 10, Some(&allowed), opts).unwrap();
            let kept: Vec<(usize, f32)> = want.iter().copied().filter(|x| x.0 % 7 == 0).take(10).collect();
            assert_eq!(got, kept);
            assert!(fde_topk_int8(&q, qs, &codes, &scales, 0, None, opts).unwrap().is_empty());
            assert_eq!(fde_topk_int8(&q, qs, &codes, &scales, 5000, None, opts).unwrap().len(), 1500);
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let o = FdeOptions::default();
        assert!(fde_topk_int8(&[], 1.0, &[], &[], 1, None, o).is_err());
        assert!(fde_topk_int8(&[1, 2], 1.0, &[1, 2, 3], &[1.0], 1, None, o).is_err());
        assert!(fde_topk_int8(&[1, 2], 1.0, &[1, 2, 3, 4], &[1.0], 1, None, o).is_err());
        assert!(fde_topk_int8(&[1, 2], 1.0, &[1, 2], &[1.0], 1, Some(&[1, 1]), o).is_err());
        assert!(fde_scores_int8(&[1, 2], 1.0, &[1, 2], &[1.0, 2.0], o).is_err());
    }
}
