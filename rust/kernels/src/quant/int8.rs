//! int8 multi-vectors (one float32 scale per token) and their MaxSim with an int8 query.
//!
//! Encoding: `scale = max_k |x_k| / 127` (float32), `code_k = round_half_even(x_k / scale)` clamped to
//! `[-127, 127]`; an all-zero token has scale 0 and zero codes. A per-token scale needs no training (codes
//! never change as a collection grows or drifts) and keeps every token's relative precision, which matters
//! because MaxSim compares one query token against every token of a page.
//!
//! Scoring: `runmax[q] = max_t f32(dot_i32(q, t)) · scale_t` (float32), then
//! `score = Σ_q f64(runmax[q] · scale_q)` rounded to float32 (an empty document: `-inf`). The integer dot
//! product is exact on every path and the float32 steps are the same, so every path gives the same bits.
//!
//! x86 paths: AVX-512 VNNI and AVX-VNNI use `VPDPBUSD` (unsigned × signed bytes): the query is offset by
//! +128 into `u8` and `128 · Σ_k t_k` is subtracted per document token; AVX2 sign-extends to 16 bits and
//! uses `VPMADDWD`. Queries sit in panels of 16 (AVX-512) or 8 lanes, a document's tokens are broadcast.

use super::{best_k, candidate_indices, parallel_scores, validate_offsets, KernelIsa, QuantOptions};
use crate::error::{KernelError, Result};

/// Instruction-set paths of the int8 kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Int8Isa {
    /// Plain Rust (LLVM vectorises the `i8 → i32` dot product with the baseline SIMD: SSE2, NEON).
    Portable,
    /// x86-64 AVX2: `VPMADDWD` on sign-extended 16-bit pairs, 8 query lanes.
    Avx2,
    /// x86-64 AVX-VNNI (VEX `VPDPBUSD`, 256-bit), 8 query lanes.
    AvxVnni,
    /// x86-64 AVX-512 VNNI (`VPDPBUSD`, 512-bit), 16 query lanes.
    Avx512Vnni,
}

impl KernelIsa for Int8Isa {
    const ALL: &'static [Int8Isa] = &[Int8Isa::Portable, Int8Isa::Avx2, Int8Isa::AvxVnni, Int8Isa::Avx512Vnni];

    fn name(self) -> &'static str {
        match self {
            Int8Isa::Portable => "portable",
            Int8Isa::Avx2 => "avx2",
            Int8Isa::AvxVnni => "avxvnni",
            Int8Isa::Avx512Vnni => "avx512vnni",
        }
    }

    fn is_supported(self) -> bool {
        match self {
            Int8Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Int8Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Int8Isa::AvxVnni => {
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("avxvnni")
            }
            #[cfg(target_arch = "x86_64")]
            Int8Isa::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

pub type Int8Options = QuantOptions<Int8Isa>;

/// Per-token symmetric int8 codes of `data` (`n × dim` float32): `(codes n × dim, scales n)`.
/// Non-finite values are rejected.
pub fn quantize(data: &[f32], dim: usize) -> Result<(Vec<i8>, Vec<f32>)> {
    if dim == 0 {
        return Err(KernelError::invalid("data", "dim must be at least 1"));
    }
    if !data.len().is_multiple_of(dim) {
        return Err(KernelError::invalid("data", format!("holds {} values, not rows of dim {dim}", data.len())));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(KernelError::invalid("data", format!("value {} (row {}) is not finite", data[i], i / dim)));
    }
    let n = data.len() / dim;
    let mut codes = vec![0i8; data.len()];
    let mut scales = vec![0f32; n];
    for ((row, code), s) in data.chunks_exact(dim).zip(codes.chunks_exact_mut(dim)).zip(scales.iter_mut()) {
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if amax == 0.0 {
            continue;
        }
        let scale = amax / 127.0;
        *s = scale;
        for (c, &v) in code.iter_mut().zip(row) {
            *c = (v / scale).round_ties_even().clamp(-127.0, 127.0) as i8;
        }
    }
    Ok((codes, scales))
}

/// A validated call: the query and the documents.
struct Prepared<'a> {
    qcodes: &'a [i8],
    qscales: &'a [f32],
    nq: usize,
    dim: usize,
    docs: &'a [i8],
    dscales: &'a [f32],
    offsets: &'a [i64],
}

fn prepare<'a>(
    qcodes: &'a [i8],
    qscales: &'a [f32],
    docs: &'a [i8],
    dscales: &'a [f32],
    offsets: &'a [i64],
    dim: usize,
) -> Result<(Prepared<'a>, usize)> {
    if dim == 0 {
        return Err(KernelError::invalid("query", "dim must be at least 1"));
    }
    let nq = qscales.len();
    if nq == 0 {
        return Err(KernelError::invalid("query_scales", "must have at least one query token"));
    }
    if qcodes.len() != nq * dim {
        return Err(KernelError::invalid(
            "query",
            format!("holds {} codes, expected nq × dim = {nq} × {dim}", qcodes.len()),
        ));
    }
    if let Some(i) = qscales.iter().position(|s| !s.is_finite() || *s < 0.0) {
        return Err(KernelError::invalid(
            "query_scales",
            format!("query_scales[{i}] = {} is not a finite scale ≥ 0", qscales[i]),
        ));
    }
    // The largest |dot| is 127 · 128 · dim (offset query) and must be exact in float32 and in i32.
    if dim > 1024 {
        return Err(KernelError::invalid("query", format!("dim {dim} exceeds the int8 kernel's limit of 1024")));
    }
    if !docs.len().is_multiple_of(dim) {
        return Err(KernelError::invalid("docs", format!("holds {} codes, not rows of dim {dim}", docs.len())));
    }
    let total = docs.len() / dim;
    if dscales.len() != total {
        return Err(KernelError::invalid(
            "doc_scales",
            format!("holds {} scales for {total} document tokens", dscales.len()),
        ));
    }
    let n_docs = validate_offsets(offsets, total)?;
    Ok((Prepared { qcodes, qscales, nq, dim, docs, dscales, offsets }, n_docs))
}

#[inline]
fn finish(runmax: &[f32], qscales: &[f32]) -> f32 {
    runmax.iter().zip(qscales).map(|(&m, &s)| (m * s) as f64).sum::<f64>() as f32
}

fn score_portable(p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    let dim = p.dim;
    let mut runmax = vec![0f32; p.nq];
    for (o, &d) in out.iter_mut().zip(ids) {
        let (s, e) = (p.offsets[d] as usize, p.offsets[d + 1] as usize);
        if s == e {
            *o = f32::NEG_INFINITY;
            continue;
        }
        runmax.fill(f32::NEG_INFINITY);
        for t in s..e {
            let row = &p.docs[t * dim..(t + 1) * dim];
            let st = p.dscales[t];
            for (m, q) in runmax.iter_mut().zip(p.qcodes.chunks_exact(dim)) {
                let dot: i32 = q.iter().zip(row).map(|(&a, &b)| a as i32 * b as i32).sum();
                *m = m.max(dot as f32 * st);
            }
        }
        *o = finish(&runmax, p.qscales);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{finish, Prepared};
    use std::arch::x86_64::*;

    /// Document tokens per register tile.
    const G: usize = 8;

    /// The query in panels of `lanes` rows: `out[(p * chunks + c) * lanes + lane]` packs `per` values of
    /// dims `c * per ..` of query row `p * lanes + lane` into one 32-bit word, through `enc`; padding
    /// rows and dims encode code 0.
    fn pack_query(p: &Prepared<'_>, lanes: usize, per: usize, enc: impl Fn(&[i8]) -> i32) -> (Vec<i32>, usize, usize) {
        let chunks = p.dim.div_ceil(per);
        let panels = p.nq.div_ceil(lanes);
        let mut out = vec![enc(&vec![0i8; per]); panels * chunks * lanes];
        let mut tmp = vec![0i8; per];
        for (i, row) in p.qcodes.chunks_exact(p.dim).enumerate() {
            let (pn, lane) = (i / lanes, i % lanes);
            for c in 0..chunks {
                for (j, v) in tmp.iter_mut().enumerate() {
                    *v = row.get(c * per + j).copied().unwrap_or(0);
                }
                out[(pn * chunks + c) * lanes + lane] = enc(&tmp);
            }
        }
        (out, chunks, panels)
    }

    fn bytes_u8_offset(v: &[i8]) -> i32 {
        i32::from_le_bytes([
            (v[0] as i16 + 128) as u8,
            (v[1] as i16 + 128) as u8,
            (v[2] as i16 + 128) as u8,
            (v[3] as i16 + 128) as u8,
        ])
    }
    fn pair_i16(v: &[i8]) -> i32 {
        (v[0] as i16 as u16 as u32 | ((v[1] as i16 as u16 as u32) << 16)) as i32
    }

    /// Packs tokens `t0 .. t0 + G` (the last repeated past `n`) as `buf[g * chunks + c]` (`per` values of
    /// dims `c * per ..` in one 32-bit word: bytes when `per == 4`, sign-extended 16-bit values when
    /// `per == 2`; zero padding), and `128 · Σ t` per token into `corr`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn pack_group(
        p: &Prepared<'_>,
        t0: usize,
        n: usize,
        per: usize,
        chunks: usize,
        buf: &mut [i32],
        corr: &mut [i32; G],
        sc: &mut [f32; G],
    ) {
        let dim = p.dim;
        for g in 0..G {
            let t = t0 + g.min(n - 1);
            let row = &p.docs[t * dim..(t + 1) * dim];
            corr[g] = 128 * row.iter().map(|&v| v as i32).sum::<i32>();
            sc[g] = p.dscales[t];
            let dst = &mut buf[g * chunks..(g + 1) * chunks];
            if per == 4 {
                // SAFETY: `dst` is `chunks × 4 ≥ dim` bytes of plain integers.
                let bytes = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut i8, chunks * 4) };
                bytes[..dim].copy_from_slice(row);
                bytes[dim..].fill(0);
            } else {
                // SAFETY: `dst` is `chunks × 2 ≥ dim` 16-bit integers (little-endian pairs per word).
                let halves = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut i16, chunks * 2) };
                for (h, &v) in halves.iter_mut().zip(row) {
                    *h = v as i16;
                }
                halves[dim..].fill(0);
            }
        }
    }

    macro_rules! kernel {
        ($name:ident, $feat:literal, $lanes:expr, $per:expr, $qenc:path, $vec:ty,
         $zero:expr, $load:ident, $set1:ident, $sub:ident, $cvt:ident, $mul:ident, $max:ident, $setps:ident,
         $loadps:ident, $storeps:ident, $step:expr, $corr:expr) => {
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $name(p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
                const L: usize = $lanes;
                let (qp, chunks, panels) = pack_query(p, L, $per, $qenc);
                let mut buf = vec![0i32; G * chunks];
                let mut corr = [0i32; G];
                let mut sc = [0f32; G];
                let mut runmax = vec![0f32; panels * L];
                for (o, &d) in out.iter_mut().zip(ids) {
                    let (s, e) = (p.offsets[d] as usize, p.offsets[d + 1] as usize);
                    if s == e {
                        *o = f32::NEG_INFINITY;
                        continue;
                    }
                    runmax.fill(f32::NEG_INFINITY);
                    let mut t0 = s;
                    while t0 < e {
                        let n = G.min(e - t0);
                        pack_group(p, t0, n, $per, chunks, &mut buf, &mut corr, &mut sc);
                        for pn in 0..panels {
                            let qb = qp.as_ptr().add(pn * chunks * L);
                            let mut acc: [$vec; G] = [$zero; G];
                            for c in 0..chunks {
                                let qv = $load(qb.add(c * L) as *const _);
                                for g in 0..G {
                                    acc[g] = $step(acc[g], qv, $set1(*buf.get_unchecked(g * chunks + c)));
                                }
                            }
                            let rp = runmax.as_mut_ptr().add(pn * L);
                            let mut m = $loadps(rp);
                            for g in 0..G {
                                let dot = if $corr { $sub(acc[g], $set1(corr[g])) } else { acc[g] };
                                m = $max(m, $mul($cvt(dot), $setps(sc[g])));
                            }
                            $storeps(rp, m);
                        }
                        t0 += n;
                    }
                    *o = finish(&runmax[..p.nq], p.qscales);
                }
            }
        };
    }

    kernel!(
        avx512vnni,
        "avx512f,avx512vnni",
        16,
        4,
        bytes_u8_offset,
        __m512i,
        _mm512_setzero_si512(),
        _mm512_loadu_si512,
        _mm512_set1_epi32,
        _mm512_sub_epi32,
        _mm512_cvtepi32_ps,
        _mm512_mul_ps,
        _mm512_max_ps,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_dpbusd_epi32,
        true
    );
    kernel!(
        avxvnni,
        "avx2,avxvnni",
        8,
        4,
        bytes_u8_offset,
        __m256i,
        _mm256_setzero_si256(),
        _mm256_loadu_si256,
        _mm256_set1_epi32,
        _mm256_sub_epi32,
        _mm256_cvtepi32_ps,
        _mm256_mul_ps,
        _mm256_max_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_dpbusd_avx_epi32,
        true
    );
    kernel!(
        avx2,
        "avx2",
        8,
        2,
        pair_i16,
        __m256i,
        _mm256_setzero_si256(),
        _mm256_loadu_si256,
        _mm256_set1_epi32,
        _mm256_sub_epi32,
        _mm256_cvtepi32_ps,
        _mm256_mul_ps,
        _mm256_max_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        madd_add,
        false
    );

    #[inline(always)]
    unsafe fn madd_add(acc: __m256i, q: __m256i, d: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(q, d))
    }
}

fn dispatch(isa: Int8Isa, p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    match isa {
        Int8Isa::Portable => score_portable(p, ids, out),
        // SAFETY (all three): `isa` was checked to be supported by this CPU.
        #[cfg(target_arch = "x86_64")]
        Int8Isa::Avx2 => unsafe { x86::avx2(p, ids, out) },
        #[cfg(target_arch = "x86_64")]
        Int8Isa::AvxVnni => unsafe { x86::avxvnni(p, ids, out) },
        #[cfg(target_arch = "x86_64")]
        Int8Isa::Avx512Vnni => unsafe { x86::avx512vnni(p, ids, out) },
        #[allow(unreachable_patterns)]
        _ => unreachable!("unsupported paths are rejected before dispatch"),
    }
}

fn run(p: &Prepared<'_>, idx: &[usize], opts: Int8Options) -> Result<Vec<f32>> {
    let isa = opts.isa.unwrap_or_else(Int8Isa::best).checked()?;
    parallel_scores(p.offsets, idx, opts.threads, p.nq * p.dim, |ids, out| dispatch(isa, p, ids, out))
}

/// int8 MaxSim of every document: `query` `nq × dim` codes with `query_scales` (`nq`), `docs`
/// `total_tokens × dim` codes with `doc_scales` (`total_tokens`), `offsets` `n_docs + 1` values.
pub fn maxsim_int8(
    query: &[i8],
    query_scales: &[f32],
    docs: &[i8],
    doc_scales: &[f32],
    offsets: &[i64],
    dim: usize,
    opts: Int8Options,
) -> Result<Vec<f32>> {
    let (p, n_docs) = prepare(query, query_scales, docs, doc_scales, offsets, dim)?;
    let idx: Vec<usize> = (0..n_docs).collect();
    run(&p, &idx, opts)
}

/// The `k` best documents by int8 MaxSim (or fewer), best first, ties to the lower index; `candidates`
/// restricts the scan (duplicates count once). Empty documents never match.
#[allow(clippy::too_many_arguments)]
pub fn maxsim_int8_topk(
    query: &[i8],
    query_scales: &[f32],
    docs: &[i8],
    doc_scales: &[f32],
    offsets: &[i64],
    dim: usize,
    k: usize,
    candidates: Option<&[i64]>,
    opts: Int8Options,
) -> Result<(Vec<i64>, Vec<f32>)> {
    let (p, n_docs) = prepare(query, query_scales, docs, doc_scales, offsets, dim)?;
    let idx = candidate_indices(offsets, n_docs, candidates)?;
    if k == 0 || idx.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let scores = run(&p, &idx, opts)?;
    Ok(best_k(idx, scores, k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::tests::Rng;

    /// i64 dot products, then the documented float32 steps.
    fn reference(q: &[i8], qs: &[f32], d: &[i8], ds: &[f32], offsets: &[i64], dim: usize) -> Vec<f32> {
        offsets
            .windows(2)
            .map(|o| {
                if o[0] == o[1] {
                    return f32::NEG_INFINITY;
                }
                let mut total = 0f64;
                for (qi, qr) in q.chunks_exact(dim).enumerate() {
                    let mut m = f32::NEG_INFINITY;
                    for t in o[0] as usize..o[1] as usize {
                        let dot: i64 =
                            qr.iter().zip(&d[t * dim..(t + 1) * dim]).map(|(&a, &b)| a as i64 * b as i64).sum();
                        m = m.max(dot as f32 * ds[t]);
                    }
                    total += (m * qs[qi]) as f64;
                }
                total as f32
            })
            .collect()
    }

    #[test]
    fn quantize_rounds_half_even_per_token() {
        let data = [1.27f32, -1.27, 0.005, 0.0, 0.0, 0.0, 0.0, 0.0];
        let (c, s) = quantize(&data, 4).unwrap();
        assert_eq!(s, vec![1.27 / 127.0, 0.0]);
        assert_eq!(&c[..2], &[127, -127]);
        assert_eq!((0.005f32 / s[0]).round_ties_even() as i8, c[2]);
        assert_eq!(&c[4..], &[0, 0, 0, 0]);
        assert!(quantize(&[f32::NAN], 1).is_err());
        assert!(quantize(&[1.0, 2.0, 3.0], 2).is_err());
    }

    #[test]
    fn every_path_equals_the_integer_reference() {
        let mut rng = Rng(77);
        for &(nq, dim, ref lens) in &[
            (1usize, 1usize, vec![1usize]),
            (3, 5, vec![0, 1, 7, 8, 9, 17]),
            (22, 128, vec![885, 3, 0, 16]),
            (17, 130, vec![2, 11, 0]),
            (33, 67, vec![31, 1, 64]),
        ] {
            let total: usize = lens.iter().sum();
            // Extreme codes included (±127) so that the u8 offset and the 16-bit pairs are exercised.
            let code = |r: &mut Rng| ((r.next() % 255) as i32 - 127) as i8;
            let q: Vec<i8> = (0..nq * dim).map(|_| code(&mut rng)).collect();
            let d: Vec<i8> = (0..total * dim).map(|_| code(&mut rng)).collect();
            let qs: Vec<f32> = (0..nq).map(|_| (rng.next() % 1000) as f32 / 7e4).collect();
            let ds: Vec<f32> = (0..total).map(|_| (rng.next() % 1000) as f32 / 7e4).collect();
            let mut offsets = vec![0i64];
            for &l in lens {
                offsets.push(offsets.last().unwrap() + l as i64);
            }
            let want = reference(&q, &qs, &d, &ds, &offsets, dim);
            for isa in Int8Isa::available() {
                for threads in [1, 3] {
                    let opts = Int8Options { threads: Some(threads), isa: Some(isa) };
                    let got = maxsim_int8(&q, &qs, &d, &ds, &offsets, dim, opts).unwrap();
                    assert_eq!(got, want, "isa {} nq {nq} dim {dim}", isa.name());
                }
            }
            let all_max = vec![127i8; nq * dim];
            let docs_min = vec![-127i8; total * dim];
            let want = reference(&all_max, &qs, &docs_min, &ds, &offsets, dim);
            for isa in Int8Isa::available() {
                let opts = Int8Options { threads: Some(1), isa: Some(isa) };
                assert_eq!(maxsim_int8(&all_max, &qs, &docs_min, &ds, &offsets, dim, opts).unwrap(), want);
            }
        }
    }

    #[test]
    fn topk_with_candidates() {
        let mut rng = Rng(5);
        let (nq, dim) = (4, 16);
        let lens = [5usize, 0, 9, 3, 12, 1, 7];
        let total: usize = lens.iter().sum();
        let data: Vec<f32> = (0..(nq + total) * dim).map(|_| rng.normal()).collect();
        let (c, s) = quantize(&data, dim).unwrap();
        let (q, qs, d, ds) = (&c[..nq * dim], &s[..nq], &c[nq * dim..], &s[nq..]);
        let mut offsets = vec![0i64];
        for &l in &lens {
            offsets.push(offsets.last().unwrap() + l as i64);
        }
        let all = reference(q, qs, d, ds, &offsets, dim);
        let mut order: Vec<i64> = (0..lens.len() as i64).filter(|&i| lens[i as usize] > 0).collect();
        order.sort_by(|&a, &b| all[b as usize].partial_cmp(&all[a as usize]).unwrap().then(a.cmp(&b)));
        let (idx, sc) = maxsim_int8_topk(q, qs, d, ds, &offsets, dim, 4, None, Default::default()).unwrap();
        assert_eq!(idx, order[..4]);
        assert_eq!(sc, order[..4].iter().map(|&i| all[i as usize]).collect::<Vec<_>>());
        let (idx, _) =
            maxsim_int8_topk(q, qs, d, ds, &offsets, dim, 9, Some(&[1, 4, 2, 4]), Default::default()).unwrap();
        let mut want = vec![2i64, 4];
        want.sort_by(|&a, &b| all[b as usize].partial_cmp(&all[a as usize]).unwrap().then(a.cmp(&b)));
        assert_eq!(idx, want);
    }

    #[test]
    fn rejects_bad_shapes() {
        let o = [0i64, 1];
        let z = [0i8; 4];
        assert!(maxsim_int8(&z, &[1.0], &z, &[1.0], &o, 4, Default::default()).is_ok());
        assert!(maxsim_int8(&z, &[], &z, &[1.0], &o, 4, Default::default()).is_err());
        assert!(maxsim_int8(&z, &[f32::NAN], &z, &[1.0], &o, 4, Default::default()).is_err());
        assert!(maxsim_int8(&z, &[1.0], &z, &[1.0, 2.0], &o, 4, Default::default()).is_err());
        assert!(maxsim_int8(&z, &[1.0], &z[..3], &[1.0], &o, 4, Default::default()).is_err());
        assert!(maxsim_int8(&z, &[1.0], &z, &[1.0], &[0, 2], 4, Default::default()).is_err());
    }
}
