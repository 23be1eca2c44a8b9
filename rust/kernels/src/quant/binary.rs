//! Binary (sign-bit) multi-vectors and their MaxSim by XOR + popcount.
//!
//! A token of `dim` values is `words(dim) = ceil(dim / 64)` `u64` words; bit `k % 64` of word `k / 64` is
//! set when value `k` is `> 0` (NaN and zeros give 0). Bits past `dim` in the last word are ignored by the
//! kernels (masked), whatever they hold. A token pair scores `dim - 2 · popcount(q XOR t)`, the dot
//! product of the ±1 codes; a document scores `Σ_q max_t` of it (an empty document `-inf`).

use super::{best_k, candidate_indices, parallel_scores, validate_offsets, KernelIsa, QuantOptions};
use crate::error::{KernelError, Result};

/// Instruction-set paths of the binary kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryIsa {
    /// `u64::count_ones` on the baseline target (x86-64 without POPCNT: a bit-twiddling sequence;
    /// aarch64: NEON `CNT`, part of the baseline, so this is also the NEON path).
    Portable,
    /// x86-64 scalar `POPCNT`.
    Popcnt,
    /// x86-64 AVX-512F + VPOPCNTDQ: 8 document tokens per 512-bit register.
    Avx512,
}

impl KernelIsa for BinaryIsa {
    const ALL: &'static [BinaryIsa] = &[BinaryIsa::Portable, BinaryIsa::Popcnt, BinaryIsa::Avx512];

    fn name(self) -> &'static str {
        match self {
            BinaryIsa::Portable => "portable",
            BinaryIsa::Popcnt => "popcnt",
            BinaryIsa::Avx512 => "avx512vpopcntdq",
        }
    }

    fn is_supported(self) -> bool {
        match self {
            BinaryIsa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            BinaryIsa::Popcnt => std::arch::is_x86_feature_detected!("popcnt"),
            #[cfg(target_arch = "x86_64")]
            BinaryIsa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

pub type BinaryOptions = QuantOptions<BinaryIsa>;

/// `u64` words per token of `dim` values.
pub fn words(dim: usize) -> usize {
    dim.div_ceil(64)
}

/// Sign bits of `data` (`n × dim` float32, row-major): `n × words(dim)` words.
pub fn binarize(data: &[f32], dim: usize) -> Result<Vec<u64>> {
    if dim == 0 {
        return Err(KernelError::invalid("data", "dim must be at least 1"));
    }
    if !data.len().is_multiple_of(dim) {
        return Err(KernelError::invalid("data", format!("holds {} values, not rows of dim {dim}", data.len())));
    }
    let w = words(dim);
    let mut out = vec![0u64; data.len() / dim * w];
    for (row, code) in data.chunks_exact(dim).zip(out.chunks_exact_mut(w)) {
        for (k, &v) in row.iter().enumerate() {
            if v > 0.0 {
                code[k / 64] |= 1u64 << (k % 64);
            }
        }
    }
    Ok(out)
}

/// The bits of the last word that belong to the vector.
fn last_mask(dim: usize) -> u64 {
    match dim % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

struct Prepared<'a> {
    /// The query codes, last word masked.
    query: Vec<u64>,
    nq: usize,
    w: usize,
    dim: usize,
    mask: u64,
    docs: &'a [u64],
    offsets: &'a [i64],
}

fn prepare<'a>(query: &[u64], docs: &'a [u64], offsets: &'a [i64], dim: usize) -> Result<(Prepared<'a>, usize)> {
    if dim == 0 {
        return Err(KernelError::invalid("dim", "must be at least 1"));
    }
    let w = words(dim);
    if query.is_empty() || !query.len().is_multiple_of(w) {
        return Err(KernelError::invalid(
            "query",
            format!("holds {} words, expected nq × {w} (at least one token of dim {dim})", query.len()),
        ));
    }
    if !docs.len().is_multiple_of(w) {
        return Err(KernelError::invalid(
            "docs",
            format!("holds {} words, not a whole number of {w}-word tokens (dim {dim})", docs.len()),
        ));
    }
    let n_docs = validate_offsets(offsets, docs.len() / w)?;
    let mask = last_mask(dim);
    let mut q = query.to_vec();
    for row in q.chunks_exact_mut(w) {
        row[w - 1] &= mask;
    }
    Ok((Prepared { nq: query.len() / w, query: q, w, dim, mask, docs, offsets }, n_docs))
}

/// `Σ_q (dim - 2 · best[q])`, the document's score from its per-query minimum Hamming distances.
#[inline]
fn finish(best: &[u32], dim: usize) -> f32 {
    best.iter().map(|&h| dim as i64 - 2 * h as i64).sum::<i64>() as f32
}

#[inline(always)]
fn score_scalar(p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    // Tokens of up to 64, 128 and 256 dimensions get a loop with the words in registers (2-3x the
    // throughput of the general loop at 128 dimensions); the general loop takes every other size.
    match p.w {
        1 => score_fixed::<1>(p, ids, out),
        2 => score_fixed::<2>(p, ids, out),
        4 => score_fixed::<4>(p, ids, out),
        _ => score_general(p, ids, out),
    }
}

/// [`score_general`] for tokens of exactly `W` words: a document token's words (the last one masked) stay
/// in registers while every query token is compared with them.
#[inline(always)]
fn score_fixed<const W: usize>(p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    let query: Vec<[u64; W]> = p.query.chunks_exact(W).map(|c| c.try_into().expect("chunks of W words")).collect();
    let mut best = vec![u32::MAX; p.nq];
    for (o, &d) in out.iter_mut().zip(ids) {
        let (s, e) = (p.offsets[d] as usize, p.offsets[d + 1] as usize);
        if s == e {
            *o = f32::NEG_INFINITY;
            continue;
        }
        best.fill(u32::MAX);
        for row in p.docs[s * W..e * W].chunks_exact(W) {
            let mut r: [u64; W] = row.try_into().expect("a token of W words");
            r[W - 1] &= p.mask; // the query's last word is masked already
            for (b, qr) in best.iter_mut().zip(&query) {
                let mut h = 0u32;
                for k in 0..W {
                    h += (qr[k] ^ r[k]).count_ones();
                }
                *b = (*b).min(h);
            }
        }
        *o = finish(&best, p.dim);
    }
}

#[inline(always)]
fn score_general(p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    let (w, nq) = (p.w, p.nq);
    let mut best = vec![u32::MAX; nq];
    for (o, &d) in out.iter_mut().zip(ids) {
        let (s, e) = (p.offsets[d] as usize, p.offsets[d + 1] as usize);
        if s == e {
            *o = f32::NEG_INFINITY;
            continue;
        }
        best.fill(u32::MAX);
        for t in s..e {
            let row = &p.docs[t * w..(t + 1) * w];
            for (b, qr) in best.iter_mut().zip(p.query.chunks_exact(w)) {
                let mut h = ((qr[w - 1] ^ row[w - 1]) & p.mask).count_ones();
                for (a, b) in qr[..w - 1].iter().zip(&row[..w - 1]) {
                    h += (a ^ b).count_ones();
                }
                *b = (*b).min(h);
            }
        }
        *o = finish(&best, p.dim);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn score_popcnt(p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    score_scalar(p, ids, out)
}

/// Document tokens per AVX-512 group (one 64-bit lane each).
#[cfg(target_arch = "x86_64")]
const G: usize = 8;
/// Words per token the AVX-512 path keeps in registers (dim ≤ 1024); longer tokens use POPCNT.
#[cfg(target_arch = "x86_64")]
const MAX_W: usize = 16;

/// AVX-512: a document is transposed once (`buf[k * tpad + t]` = word `k` of token `t`, the last word
/// masked, padded to whole groups by repeating the last token, which cannot lower a minimum); then each
/// query token, its words broadcast in registers, runs over the groups with two independent minima.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
unsafe fn score_avx512(p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (w, nq) = (p.w, p.nq);
    if w > MAX_W {
        return score_scalar(p, ids, out);
    }
    let mut buf: Vec<u64> = Vec::new();
    let mut best = vec![0u32; nq];
    for (o, &d) in out.iter_mut().zip(ids) {
        let (s, e) = (p.offsets[d] as usize, p.offsets[d + 1] as usize);
        if s == e {
            *o = f32::NEG_INFINITY;
            continue;
        }
        let n = e - s;
        let groups = n.div_ceil(G);
        let tpad = groups * G;
        buf.clear();
        buf.resize(w * tpad, 0);
        for t in 0..tpad {
            let row = &p.docs[(s + t.min(n - 1)) * w..][..w];
            for (k, &v) in row.iter().enumerate() {
                buf[k * tpad + t] = v;
            }
            buf[(w - 1) * tpad + t] &= p.mask;
        }
        let bp = buf.as_ptr();
        for (b, qr) in best.iter_mut().zip(p.query.chunks_exact(w)) {
            let mut qv = [_mm512_setzero_si512(); MAX_W];
            for (v, &q) in qv.iter_mut().zip(qr) {
                *v = _mm512_set1_epi64(q as i64);
            }
            let mut m0 = _mm512_set1_epi64(-1);
            let mut m1 = m0;
            let mut g = 0;
            while g + 1 < groups {
                let (mut a0, mut a1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                for (k, &q) in qv[..w].iter().enumerate() {
                    let base = bp.add(k * tpad + g * G);
                    a0 = _mm512_add_epi64(
                        a0,
                        _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(base as *const _))),
                    );
                    a1 = _mm512_add_epi64(
                        a1,
                        _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(base.add(G) as *const _))),
                    );
                }
                m0 = _mm512_min_epu64(m0, a0);
                m1 = _mm512_min_epu64(m1, a1);
                g += 2;
            }
            if g < groups {
                let mut a0 = _mm512_setzero_si512();
                for (k, &q) in qv[..w].iter().enumerate() {
                    let base = bp.add(k * tpad + g * G);
                    a0 = _mm512_add_epi64(
                        a0,
                        _mm512_popcnt_epi64(_mm512_xor_si512(q, _mm512_loadu_si512(base as *const _))),
                    );
                }
                m0 = _mm512_min_epu64(m0, a0);
            }
            *b = _mm512_reduce_min_epu64(_mm512_min_epu64(m0, m1)) as u32;
        }
        *o = finish(&best, p.dim);
    }
}

fn dispatch(isa: BinaryIsa, p: &Prepared<'_>, ids: &[usize], out: &mut [f32]) {
    match isa {
        BinaryIsa::Portable => score_scalar(p, ids, out),
        // SAFETY: `isa` was checked to be supported by this CPU.
        #[cfg(target_arch = "x86_64")]
        BinaryIsa::Popcnt => unsafe { score_popcnt(p, ids, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        BinaryIsa::Avx512 => unsafe { score_avx512(p, ids, out) },
        #[allow(unreachable_patterns)]
        _ => unreachable!("unsupported paths are rejected before dispatch"),
    }
}

fn run(p: &Prepared<'_>, idx: &[usize], opts: BinaryOptions) -> Result<Vec<f32>> {
    let isa = opts.isa.unwrap_or_else(BinaryIsa::best).checked()?;
    parallel_scores(p.offsets, idx, opts.threads, p.nq * p.w * 4, |ids, out| dispatch(isa, p, ids, out))
}

/// Binary MaxSim of every document. `query` is `nq × words(dim)` words, `docs` `total_tokens × words(dim)`,
/// `offsets` `n_docs + 1` values. Scores are integers (as float32); an empty document scores `-inf`.
pub fn maxsim_binary(
    query: &[u64],
    docs: &[u64],
    offsets: &[i64],
    dim: usize,
    opts: BinaryOptions,
) -> Result<Vec<f32>> {
    let (p, n_docs) = prepare(query, docs, offsets, dim)?;
    let idx: Vec<usize> = (0..n_docs).collect();
    run(&p, &idx, opts)
}

/// The `k` best documents by binary MaxSim (or fewer), best first, ties to the lower index; `candidates`
/// restricts the scan to those documents (duplicates count once). Empty documents never match.
pub fn maxsim_binary_topk(
    query: &[u64],
    docs: &[u64],
    offsets: &[i64],
    dim: usize,
    k: usize,
    candidates: Option<&[i64]>,
    opts: BinaryOptions,
) -> Result<(Vec<i64>, Vec<f32>)> {
    let (p, n_docs) = prepare(query, docs, offsets, dim)?;
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

    fn reference(query: &[u64], docs: &[u64], offsets: &[i64], dim: usize) -> Vec<f32> {
        let w = words(dim);
        offsets
            .windows(2)
            .map(|o| {
                if o[0] == o[1] {
                    return f32::NEG_INFINITY;
                }
                let mut total = 0i64;
                for q in query.chunks_exact(w) {
                    let mut best = i64::MIN;
                    for t in o[0] as usize..o[1] as usize {
                        let row = &docs[t * w..(t + 1) * w];
                        // Bit by bit: +1 where the signs agree, -1 where they differ.
                        let mut dot = 0i64;
                        for k in 0..dim {
                            let (a, b) = ((q[k / 64] >> (k % 64)) & 1, (row[k / 64] >> (k % 64)) & 1);
                            dot += if a == b { 1 } else { -1 };
                        }
                        best = best.max(dot);
                    }
                    total += best;
                }
                total as f32
            })
            .collect()
    }

    #[test]
    fn binarize_sets_sign_bits() {
        let data = [0.5f32, -1.0, 0.0, 2.0, f32::NAN, -0.0, 3.0];
        let codes = binarize(&data, 7).unwrap();
        assert_eq!(codes, vec![0b100_1001]);
        let long: Vec<f32> = (0..130).map(|k| if k % 3 == 0 { 1.0 } else { -1.0 }).collect();
        let c = binarize(&long, 130).unwrap();
        assert_eq!(c.len(), 3);
        for k in 0..130 {
            assert_eq!((c[k / 64] >> (k % 64)) & 1 == 1, k % 3 == 0);
        }
        assert!(binarize(&data, 0).is_err());
        assert!(binarize(&data, 3).is_err());
    }

    #[test]
    fn every_path_equals_the_bitwise_reference() {
        let mut rng = Rng(0x1234_5678);
        for &(nq, dim, ref lens) in &[
            (1usize, 1usize, vec![1usize]),
            (3, 64, vec![0, 1, 7, 8, 9, 17]),
            (22, 128, vec![885, 3, 0, 16]),
            (5, 130, vec![2, 11, 0]),
            (40, 200, vec![31, 1, 64]),
            (2, 1100, vec![3, 0, 5]),
        ] {
            let w = words(dim);
            // Random words, including junk past `dim`, which must be ignored.
            let query: Vec<u64> = (0..nq * w).map(|_| rng.next()).collect();
            let total: usize = lens.iter().sum();
            let docs: Vec<u64> = (0..total * w).map(|_| rng.next()).collect();
            let mut offsets = vec![0i64];
            for &l in lens {
                offsets.push(offsets.last().unwrap() + l as i64);
            }
            let want = reference(&query, &docs, &offsets, dim);
            for isa in BinaryIsa::available() {
                for threads in [1, 3] {
                    let got = maxsim_binary(
                        &query,
                        &docs,
                        &offsets,
                        dim,
                        BinaryOptions { threads: Some(threads), isa: Some(isa) },
                    )
                    .unwrap();
                    assert_eq!(got, want, "isa {} dim {dim}", isa.name());
                }
            }
        }
    }

    #[test]
    fn topk_and_candidates() {
        let mut rng = Rng(99);
        let dim = 128;
        let lens = [5usize, 0, 9, 3, 12, 1, 7];
        let total: usize = lens.iter().sum();
        let query: Vec<u64> = (0..4 * 2).map(|_| rng.next()).collect();
        let docs: Vec<u64> = (0..total * 2).map(|_| rng.next()).collect();
        let mut offsets = vec![0i64];
        for &l in &lens {
            offsets.push(offsets.last().unwrap() + l as i64);
        }
        let all = reference(&query, &docs, &offsets, dim);
        let mut order: Vec<usize> = (0..lens.len()).filter(|&i| lens[i] > 0).collect();
        order.sort_by(|&a, &b| all[b].partial_cmp(&all[a]).unwrap().then(a.cmp(&b)));
        let (idx, sc) = maxsim_binary_topk(&query, &docs, &offsets, dim, 3, None, Default::default()).unwrap();
        assert_eq!(idx, order[..3].iter().map(|&i| i as i64).collect::<Vec<_>>());
        assert_eq!(sc, order[..3].iter().map(|&i| all[i]).collect::<Vec<_>>());
        let (idx, _) =
            maxsim_binary_topk(&query, &docs, &offsets, dim, 10, Some(&[6, 1, 6, 0]), Default::default()).unwrap();
        let mut want = vec![0i64, 6];
        want.sort_by(|&a, &b| all[b as usize].partial_cmp(&all[a as usize]).unwrap().then(a.cmp(&b)));
        assert_eq!(idx, want);
        assert!(maxsim_binary_topk(&query, &docs, &offsets, dim, 1, Some(&[7]), Default::default()).is_err());
    }

    #[test]
    fn rejects_bad_shapes() {
        let o = [0i64, 1];
        assert!(maxsim_binary(&[1, 2], &[1, 2], &o, 0, Default::default()).is_err());
        assert!(maxsim_binary(&[1], &[1, 2], &o, 128, Default::default()).is_err());
        assert!(maxsim_binary(&[1, 2], &[1, 2, 3], &o, 128, Default::default()).is_err());
        assert!(maxsim_binary(&[1, 2], &[1, 2], &[0, 2], 128, Default::default()).is_err());
        assert!(maxsim_binary(&[], &[1, 2], &o, 128, Default::default()).is_err());
    }
}
