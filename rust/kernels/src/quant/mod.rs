//! Compressed multi-vectors for the first (candidate) phase of a search, and their MaxSim kernels.
//!
//! * [`binary`]: one sign bit per dimension (`x > 0`), packed into `ceil(dim / 64)` little-endian `u64`
//!   words per token (bit `k % 64` of word `k / 64`). Both sides are binarised (symmetric, as Weaviate's
//!   and Qdrant's BQ do by default) and a token pair scores the dot product of its ±1 codes,
//!   `dim - 2 · hamming`, computed by XOR + popcount. A document scores `Σ_q max_t (dim - 2 h(q, t))`.
//! * [`int8`]: symmetric int8 with one float32 scale per token (`scale = max|x| / 127`, codes
//!   `round_half_even(x / scale)`), for both the query and the documents. A token pair scores
//!   `scale_t · (q_codes · t_codes)` (the integer dot product is exact), the maximum over a document's
//!   tokens is taken per query token, then multiplied by the query token's scale and summed.
//!
//! Every instruction-set path computes the integer dot products exactly and applies the same float32
//! operations in the same order, so all paths return bit-identical scores; the tests compare them with a
//! numpy reference on the same codes.
//!
//! These scores only choose candidates: the final order comes from exact MaxSim on the originals
//! ([`crate::maxsim_topk`] with `candidates`).

pub mod binary;
pub mod fde;
pub mod int8;

use crate::error::{KernelError, Result};
use crate::maxsim::{balanced_splits, resolve_threads};
use crate::pool;
use crate::topk;

/// Worker threads and instruction-set choice of a compressed MaxSim call.
#[derive(Clone, Copy, Debug)]
pub struct QuantOptions<I> {
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
    /// Force an instruction set (tests and benchmarks); `None` picks the fastest supported one.
    pub isa: Option<I>,
}

impl<I> Default for QuantOptions<I> {
    fn default() -> Self {
        QuantOptions { threads: None, isa: None }
    }
}

/// Checks `offsets` against `total` rows: `[0, ..., total]`, non-decreasing. Returns the document count.
pub(crate) fn validate_offsets(offsets: &[i64], total: usize) -> Result<usize> {
    if offsets.is_empty() {
        return Err(KernelError::invalid("offsets", "must hold n_docs + 1 values (at least [0])"));
    }
    if offsets[0] != 0 {
        return Err(KernelError::invalid("offsets", format!("offsets[0] must be 0, got {}", offsets[0])));
    }
    if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(KernelError::invalid(
            "offsets",
            format!(
                "must be non-decreasing, but offsets[{i}] = {} > offsets[{}] = {}",
                offsets[i],
                i + 1,
                offsets[i + 1]
            ),
        ));
    }
    let last = *offsets.last().unwrap();
    if last != total as i64 {
        return Err(KernelError::invalid(
            "offsets",
            format!("offsets[-1] must equal the number of document tokens ({total}), got {last}"),
        ));
    }
    Ok(offsets.len() - 1)
}

/// The document indices to score: all, or the valid, sorted, deduplicated `candidates`; empty documents
/// are dropped.
pub(crate) fn candidate_indices(offsets: &[i64], n_docs: usize, candidates: Option<&[i64]>) -> Result<Vec<usize>> {
    let mut idx: Vec<usize> = match candidates {
        None => (0..n_docs).collect(),
        Some(c) => {
            let mut v = Vec::with_capacity(c.len());
            for (j, &d) in c.iter().enumerate() {
                if d < 0 || d as usize >= n_docs {
                    return Err(KernelError::invalid(
                        "candidates",
                        format!("candidates[{j}] = {d} is not a document index in [0, {n_docs})"),
                    ));
                }
                v.push(d as usize);
            }
            v.sort_unstable();
            v.dedup();
            v
        }
    };
    idx.retain(|&d| offsets[d + 1] > offsets[d]);
    Ok(idx)
}

/// Runs `score(ids, out)` over `idx` split into balanced pieces on `threads` workers.
/// `work_per_token` estimates the operations per document token (below ~2 M in all, one thread).
pub(crate) fn parallel_scores<F>(
    offsets: &[i64],
    idx: &[usize],
    threads: Option<usize>,
    work_per_token: usize,
    score: F,
) -> Result<Vec<f32>>
where
    F: Fn(&[usize], &mut [f32]) + Sync,
{
    let threads = resolve_threads(threads)?;
    let mut out = vec![0f32; idx.len()];
    let tokens: i64 = idx.iter().map(|&d| offsets[d + 1] - offsets[d]).sum();
    let work = tokens as u128 * work_per_token as u128;
    let threads = if work < 2_000_000 { 1 } else { threads.min(idx.len()).max(1) };
    if threads == 1 {
        score(idx, &mut out);
        return Ok(out);
    }
    let bounds = balanced_splits(offsets, idx, threads * 4);
    let score = &score;
    pool::pool(threads).scope(|s| {
        let mut rest: &mut [f32] = &mut out;
        for w in bounds.windows(2) {
            let (piece, tail) = rest.split_at_mut(w[1] - w[0]);
            rest = tail;
            let ids = &idx[w[0]..w[1]];
            s.spawn(move |_| score(ids, piece));
        }
    });
    Ok(out)
}

/// The `k` best of `(idx, scores)`, best first, ties to the lower index.
pub(crate) fn best_k(idx: Vec<usize>, scores: Vec<f32>, k: usize) -> (Vec<i64>, Vec<f32>) {
    topk::topk(idx.into_iter().zip(scores).collect(), k).into_iter().map(|(i, s)| (i as i64, s)).unzip()
}

/// Instruction-set paths of one kernel family: names, detection and the fastest available.
pub trait KernelIsa: Copy + Eq + Sized + 'static {
    /// Every path, slowest first.
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn is_supported(self) -> bool;

    fn from_name(name: &str) -> Result<Self> {
        Self::ALL.iter().copied().find(|i| i.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|i| i.name()).collect();
            KernelError::invalid(
                "isa",
                format!("unknown instruction set {name:?} (expected one of: {})", names.join(", ")),
            )
        })
    }

    /// The paths this CPU supports, slowest first.
    fn available() -> Vec<Self> {
        Self::ALL.iter().copied().filter(|i| i.is_supported()).collect()
    }

    /// The fastest supported path.
    fn best() -> Self {
        *Self::available().last().expect("the portable path is always supported")
    }

    fn checked(self) -> Result<Self> {
        if self.is_supported() {
            Ok(self)
        } else {
            let names: Vec<&str> = Self::available().iter().map(|i| i.name()).collect();
            Err(KernelError::UnsupportedIsa { isa: self.name().to_string(), available: names.join(", ") })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// xorshift64: deterministic test data.
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub(crate) fn normal(&mut self) -> f32 {
            (0..12).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum::<f32>() - 6.0
        }
    }
}
