//! MUVERA fixed-dimensional encodings (FDEs) of multi-vectors, and a brute-force scan over them.
//!
//! An FDE turns a multi-vector into one vector of `repetitions · 2^ksim · dprojections` values whose dot
//! products approximate MaxSim (Dhulipala et al., 2024; `weaviate.md` §3). Per repetition:
//! * SimHash: `ksim` Gaussian hyperplanes give each token a `ksim`-bit code (bit `j` set when the token
//!   is on the positive side of hyperplane `j`), i.e. one of `2^ksim` buckets;
//! * each token is projected to `dprojections` values by a random ±1 matrix scaled by `1/√dprojections`;
//! * a document stores the mean of its projected tokens per bucket, and fills an empty bucket with the
//!   projected token whose code is nearest in Hamming distance (ties: the earlier token);
//!   a query stores the sum per bucket (empty buckets stay zero).
//!
//! The random matrices come from a fixed seed, so encodings are reproducible across processes.

use crate::error::{KernelError, Result};
use crate::pool;
use crate::topk;
use rayon::prelude::*;

/// Weaviate's limit on `ksim`.
pub const MAX_KSIM: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MuveraParams {
    pub ksim: usize,
    pub dprojections: usize,
    pub repetitions: usize,
    pub seed: u64,
}

impl Default for MuveraParams {
    /// Weaviate's defaults: ksim 4, dprojections 16, repetitions 10.
    fn default() -> Self {
        MuveraParams { ksim: 4, dprojections: 16, repetitions: 10, seed: 0x6d75_7665_7261 }
    }
}

/// What is being encoded: documents average per bucket and fill empty buckets, queries sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Document,
    Query,
}

/// The random hyperplanes and projections for one `(params, dim)`.
#[derive(Clone, Debug)]
pub struct Muvera {
    params: MuveraParams,
    dim: usize,
    /// Per repetition, `ksim` hyperplanes then `dprojections` projection rows, each `dim` long.
    rows: Vec<f32>,
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Dot product with 16 independent accumulators (vectorised by LLVM); `FMA` uses fused multiply-adds,
/// only where the caller is compiled with the `fma` target feature.
#[inline(always)]
fn dot_impl<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] = if FMA { x[i].mul_add(y[i], acc[i]) } else { acc[i] + x[i] * y[i] };
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_impl::<false>(a, b)
}

/// Whether the AVX2 + FMA build of the encoder can run here.
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

impl Muvera {
    pub fn new(params: MuveraParams, dim: usize) -> Result<Self> {
        if params.ksim == 0 || params.ksim > MAX_KSIM {
            return Err(KernelError::invalid("ksim", format!("must be within 1..={MAX_KSIM}, got {}", params.ksim)));
        }
        if params.dprojections == 0 {
            return Err(KernelError::invalid("dprojections", "must be at least 1"));
        }
        if params.repetitions == 0 {
            return Err(KernelError::invalid("repetitions", "must be at least 1"));
        }
        if dim == 0 {
            return Err(KernelError::invalid("dim", "must be at least 1"));
        }
        let mut rng = SplitMix(params.seed);
        let per_rep = (params.ksim + params.dprojections) * dim;
        let scale = 1.0 / (params.dprojections as f64).sqrt();
        let mut rows = Vec::with_capacity(params.repetitions * per_rep);
        for _ in 0..params.repetitions {
            for _ in 0..params.ksim * dim {
                rows.push(rng.gaussian() as f32);
            }
            for _ in 0..params.dprojections * dim {
                rows.push(if rng.next() >> 63 == 0 { scale as f32 } else { -scale as f32 });
            }
        }
        Ok(Muvera { params, dim, rows })
    }

    pub fn params(&self) -> MuveraParams {
        self.params
    }

    /// The length of an encoding: `repetitions · 2^ksim · dprojections`.
    pub fn fde_dim(&self) -> usize {
        self.params.repetitions * (1 << self.params.ksim) * self.params.dprojections
    }

    /// Encodes one multi-vector (`tokens`, row-major, `n × dim`) into `out` (`fde_dim` values), with
    /// AVX2 + FMA when the CPU has them (chosen at run time).
    pub fn encode_into(&self, tokens: &[f32], side: Side, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { self.encode_avx2(tokens, side, out) };
            return;
        }
        self.encode_impl::<false>(tokens, side, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn encode_avx2(&self, tokens: &[f32], side: Side, out: &mut [f32]) {
        self.encode_impl::<true>(tokens, side, out);
    }

    /// The portable encoder (`FMA = false`), or the body of the AVX2 one (`FMA = true`).
    #[inline(always)]
    fn encode_impl<const FMA: bool>(&self, tokens: &[f32], side: Side, out: &mut [f32]) {
        let (dim, ksim, dp) = (self.dim, self.params.ksim, self.params.dprojections);
        let buckets = 1usize << ksim;
        let n = tokens.len() / dim;
        out.fill(0.0);
        if n == 0 {
            return;
        }
        let per_rep = (ksim + dp) * dim;
        let mut codes = vec![0usize; n];
        let mut proj = vec![0.0f32; n * dp];
        let mut counts = vec![0u32; buckets];
        for r in 0..self.params.repetitions {
            let rows = &self.rows[r * per_rep..(r + 1) * per_rep];
            let (planes, projs) = rows.split_at(ksim * dim);
            for (t, x) in tokens.chunks_exact(dim).enumerate() {
                let mut code = 0usize;
                for (j, g) in planes.chunks_exact(dim).enumerate() {
                    if dot_impl::<FMA>(g, x) > 0.0 {
                        code |= 1 << j;
                    }
                }
                codes[t] = code;
                for (p, s) in projs.chunks_exact(dim).enumerate() {
                    proj[t * dp + p] = dot_impl::<FMA>(s, x);
                }
            }
            let block = &mut out[r * buckets * dp..(r + 1) * buckets * dp];
            counts.fill(0);
            for t in 0..n {
                let b = codes[t];
                counts[b] += 1;
                for (o, v) in block[b * dp..(b + 1) * dp].iter_mut().zip(&proj[t * dp..(t + 1) * dp]) {
                    *o += v;
                }
            }
            if side == Side::Document {
                for b in 0..buckets {
                    let dst = &mut block[b * dp..(b + 1) * dp];
                    if counts[b] > 1 {
                        let inv = 1.0 / counts[b] as f32;
                        dst.iter_mut().for_each(|v| *v *= inv);
                    } else if counts[b] == 0 {
                        let nearest = (0..n).min_by_key(|&t| ((codes[t] ^ b).count_ones(), t)).unwrap_or(0);
                        dst.copy_from_slice(&proj[nearest * dp..(nearest + 1) * dp]);
                    }
                }
            }
        }
    }

    /// Encodes multi-vectors packed back to back (`data`: `total × dim`, delimited by `offsets`), in
    /// parallel; returns `n × fde_dim` values, row-major.
    pub fn encode_batch(&self, data: &[f32], offsets: &[i64], side: Side, threads: Option<usize>) -> Result<Vec<f32>> {
        if !data.len().is_multiple_of(self.dim) {
            return Err(KernelError::invalid(
                "data",
                format!("length {} is not a multiple of dim {}", data.len(), self.dim),
            ));
        }
        let total = (data.len() / self.dim) as i64;
        if offsets.first() != Some(&0) || offsets.last() != Some(&total) || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(KernelError::invalid(
                "offsets",
                format!("must start at 0, never decrease and end at the number of rows ({total})"),
            ));
        }
        let n = offsets.len() - 1;
        let d = self.fde_dim();
        let mut out = vec![0.0f32; n * d];
        let threads = threads.unwrap_or_else(pool::default_threads).max(1);
        pool::pool(threads).install(|| {
            out.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
                let (s, e) = (offsets[i] as usize * self.dim, offsets[i + 1] as usize * self.dim);
                self.encode_into(&data[s..e], side, row);
            });
        });
        Ok(out)
    }
}

/// The `k` encodings of `fdes` (`n × query.len()`, row-major) with the largest dot product with `query`,
/// best first, ties to the lower index; `allowed`, when given, keeps only rows `i` with `allowed[i] != 0`.
pub fn fde_topk(
    query: &[f32],
    fdes: &[f32],
    k: usize,
    allowed: Option<&[u8]>,
    threads: Option<usize>,
) -> Result<Vec<(usize, f32)>> {
    let d = query.len();
    if d == 0 {
        return Err(KernelError::invalid("query", "is empty"));
    }
    if !fdes.len().is_multiple_of(d) {
        return Err(KernelError::invalid("fdes", format!("length {} is not a multiple of {d}", fdes.len())));
    }
    let n = fdes.len() / d;
    if let Some(a) = allowed {
        if a.len() != n {
            return Err(KernelError::invalid("allowed", format!("has {} entries for {n} encodings", a.len())));
        }
    }
    let threads = threads.unwrap_or_else(pool::default_threads);
    Ok(topk::scan_rows(fdes, d, k, allowed, threads, 256, |_, row| dot(query, row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(seed: u64, n: usize, dim: usize) -> Vec<f32> {
        let mut r = SplitMix(seed);
        let mut v: Vec<f32> = (0..n * dim).map(|_| r.gaussian() as f32).collect();
        for row in v.chunks_exact_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    #[test]
    fn validates_params() {
        assert!(Muvera::new(MuveraParams { ksim: 11, ..Default::default() }, 8).is_err());
        assert!(Muvera::new(MuveraParams { ksim: 0, ..Default::default() }, 8).is_err());
        assert!(Muvera::new(MuveraParams { repetitions: 0, ..Default::default() }, 8).is_err());
        assert_eq!(Muvera::new(MuveraParams::default(), 8).unwrap().fde_dim(), 2560);
    }

    #[test]
    fn query_fde_sums_and_document_fde_fills_every_bucket() {
        let dim = 8;
        let m = Muvera::new(MuveraParams { ksim: 3, dprojections: 4, repetitions: 2, seed: 7 }, dim).unwrap();
        let t = tokens(1, 5, dim);
        let mut q = vec![0.0; m.fde_dim()];
        m.encode_into(&t, Side::Query, &mut q);
        // The sum over all buckets of a query encoding is the sum of the projected tokens: check one rep.
        let per_rep = (3 + 4) * dim;
        let projs = &m.rows[3 * dim..per_rep];
        for p in 0..4 {
            let want: f32 = t.chunks_exact(dim).map(|x| dot(&projs[p * dim..(p + 1) * dim], x)).sum();
            let got: f32 = (0..8).map(|b| q[b * 4 + p]).sum();
            assert!((want - got).abs() < 1e-4, "{want} vs {got}");
        }
        let mut d = vec![0.0; m.fde_dim()];
        m.encode_into(&t, Side::Document, &mut d);
        for block in d.chunks_exact(4) {
            assert!(block.iter().any(|&v| v != 0.0), "an empty bucket was not filled");
        }
        // Batch encoding agrees with one-at-a-time, and is reproducible.
        let t2 = tokens(2, 3, dim);
        let data = [t.clone(), t2.clone()].concat();
        let batch = m.encode_batch(&data, &[0, 5, 8], Side::Document, Some(2)).unwrap();
        assert_eq!(&batch[..m.fde_dim()], &d[..]);
        let again = Muvera::new(m.params(), dim).unwrap();
        let mut d2 = vec![0.0; m.fde_dim()];
        again.encode_into(&t, Side::Document, &mut d2);
        assert_eq!(d, d2);
    }

    #[test]
    fn scan_finds_the_best_dot_products() {
        let d = 3;
        let fdes = [1.0f32, 0.0, 0.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let q = [1.0f32, 1.0, 0.0];
        let top = fde_topk(&q, &fdes, 2, None, Some(2)).unwrap();
        assert_eq!(top, vec![(2, 3.0), (1, 2.0)]);
        let top = fde_topk(&q, &fdes, 2, Some(&[1, 0, 0, 1]), Some(1)).unwrap();
        assert_eq!(top, vec![(3, 2.0), (0, 1.0)]);
        assert!(fde_topk(&q, &fdes[..4], 1, None, None).is_err());
        assert!(fde_topk(&q, &fdes, 1, Some(&[1]), None).is_err());
        let _ = d;
    }
}
