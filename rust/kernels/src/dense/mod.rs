//! Exact nearest-neighbour search over single (dense) vectors with Weaviate's distances.
//!
//! `rows` is an `n × dim` matrix (float32 or float16, row-major, contiguous); the query is `dim`
//! float32 values. Every distance is *lower is better*, as Weaviate defines them:
//!
//! | metric       | distance                                   |
//! |--------------|--------------------------------------------|
//! | `cosine`     | `max(0, 1 − q·x / (‖q‖ ‖x‖))` (a zero vector is at distance 1) |
//! | `dot`        | `−q·x`                                     |
//! | `l2-squared` | `Σ (q_i − x_i)²`                           |
//! | `manhattan`  | `Σ |q_i − x_i|`                            |
//! | `hamming`    | `#{i : q_i ≠ x_i}`                         |
//!
//! Method: one row at a time, the SIMD path (chosen at run time, [`Isa`]) sums over the dimensions with
//! several independent accumulators; cosine sums `q̂·x` and `x·x` in the same pass, so stored vectors
//! need not be normalised. float16 rows are converted block by block into an L1-resident buffer. Rows
//! (or the candidates) are split into contiguous chunks scored on the shared thread pool, each chunk
//! keeping its own top-k, merged at the end.

use crate::error::{KernelError, Result};
use crate::isa::Isa;
use crate::pool;
use crate::topk;
use half::f16;
use half::slice::HalfFloatSliceExt;

#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Weaviate's distances for single vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Cosine,
    Dot,
    L2Squared,
    Manhattan,
    Hamming,
}

impl Metric {
    pub const ALL: [Metric; 5] = [Metric::Cosine, Metric::Dot, Metric::L2Squared, Metric::Manhattan, Metric::Hamming];

    /// The name Weaviate's configs use (`vectorIndexConfig.distance`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2Squared => "l2-squared",
            Metric::Manhattan => "manhattan",
            Metric::Hamming => "hamming",
        }
    }

    pub fn from_name(name: &str) -> Result<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name).ok_or_else(|| {
            KernelError::invalid(
                "metric",
                format!("unknown distance {name:?} (expected one of: cosine, dot, l2-squared, manhattan, hamming)"),
            )
        })
    }
}

/// The stored vectors: `n × dim` values, row-major.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::F32(d) => d.len(),
            Rows::F16(d) => d.len(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct DenseOptions {
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
    /// Force an instruction set (tests and benchmarks); `None` picks the fastest supported one.
    pub isa: Option<Isa>,
}

/// The two sums one row needs: `a` (dot, squared or absolute differences, or the count of differing
/// values) and, for cosine only, `b = x·x`.
type Sums = (f32, f32);

/// The per-row routine of one instruction set. `q` and `x` have the same length.
type RowFn = unsafe fn(Metric, &[f32], &[f32]) -> Sums;

fn row_fn(isa: Isa) -> RowFn {
    match isa {
        Isa::Portable => portable::sums,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::avx2_sums,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::avx512_sums,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => neon::sums,
        #[allow(unreachable_patterns)]
        _ => unreachable!("unsupported ISAs are rejected before dispatch"),
    }
}

/// The distance from the sums of one row.
#[inline(always)]
fn finish(metric: Metric, (a, b): Sums) -> f32 {
    match metric {
        Metric::Cosine => {
            if b > 0.0 {
                let d = 1.0 - (a as f64 / (b as f64).sqrt()) as f32;
                d.max(0.0)
            } else {
                1.0
            }
        }
        Metric::Dot => -a,
        Metric::L2Squared | Metric::Manhattan | Metric::Hamming => a,
    }
}

/// Float16 rows are converted this many values at a time into a buffer on the stack.
const F16_BLOCK: usize = 1024;

/// Distances of rows `idx` (already validated) into `out`, on the calling thread.
fn score_rows(isa: Isa, metric: Metric, q: &[f32], rows: Rows<'_>, idx: &[usize], out: &mut [f32]) {
    let f = row_fn(isa);
    let dim = q.len();
    match rows {
        Rows::F32(data) => {
            for (o, &i) in out.iter_mut().zip(idx) {
                // SAFETY: `isa` was checked as supported before dispatch; both slices are `dim` long.
                *o = finish(metric, unsafe { f(metric, q, &data[i * dim..(i + 1) * dim]) });
            }
        }
        Rows::F16(data) => {
            let mut buf = vec![0f32; dim.min(F16_BLOCK)];
            for (o, &i) in out.iter_mut().zip(idx) {
                let row = &data[i * dim..(i + 1) * dim];
                let (mut a, mut b) = (0f32, 0f32);
                for (start, part) in row.chunks(F16_BLOCK).enumerate() {
                    let n = part.len();
                    part.convert_to_f32_slice(&mut buf[..n]);
                    let qs = &q[start * F16_BLOCK..start * F16_BLOCK + n];
                    // SAFETY: as above.
                    let (x, y) = unsafe { f(metric, qs, &buf[..n]) };
                    a += x;
                    b += y;
                }
                *o = finish(metric, (a, b));
            }
        }
    }
}

/// Checked arguments of a call: the number of rows.
fn validate(query: &[f32], rows: &Rows<'_>) -> Result<usize> {
    let dim = query.len();
    if dim == 0 {
        return Err(KernelError::invalid("query", "must hold at least one value"));
    }
    if !rows.len().is_multiple_of(dim) {
        return Err(KernelError::invalid(
            "rows",
            format!("holds {} values, not a whole number of rows of dim {dim}", rows.len()),
        ));
    }
    Ok(rows.len() / dim)
}

fn checked_candidates(candidates: &[i64], n: usize) -> Result<Vec<usize>> {
    candidates
        .iter()
        .enumerate()
        .map(|(j, &c)| {
            if c < 0 || c as usize >= n {
                Err(KernelError::invalid("candidates", format!("candidates[{j}] = {c} is not a row index in [0, {n})")))
            } else {
                Ok(c as usize)
            }
        })
        .collect()
}

/// The query as the kernel uses it: for cosine, normalised (a zero query stays zero).
fn prepared_query(query: &[f32], metric: Metric) -> Vec<f32> {
    if metric != Metric::Cosine {
        return query.to_vec();
    }
    let norm = query.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
    if norm == 0.0 {
        return vec![0.0; query.len()];
    }
    query.iter().map(|&v| (v as f64 / norm) as f32).collect()
}

/// Below this many multiply-adds a call runs on the calling thread (a hand-off costs more).
const PARALLEL_WORK: usize = 1 << 20;

fn threads_for(opts: &DenseOptions, rows: usize, dim: usize) -> Result<usize> {
    let t = crate::maxsim::resolve_threads(opts.threads)?;
    Ok(if rows.saturating_mul(dim) < PARALLEL_WORK { 1 } else { t.min(rows).max(1) })
}

/// The distance from `query` of every row (`candidates`: of those rows, in the order given).
pub fn dense_distances(
    query: &[f32],
    rows: Rows<'_>,
    metric: Metric,
    candidates: Option<&[i64]>,
    opts: DenseOptions,
) -> Result<Vec<f32>> {
    let n = validate(query, &rows)?;
    let isa = opts.isa.unwrap_or_else(Isa::best).checked()?;
    let idx: Vec<usize> = match candidates {
        None => (0..n).collect(),
        Some(c) => checked_candidates(c, n)?,
    };
    let threads = threads_for(&opts, idx.len(), query.len())?;
    let q = prepared_query(query, metric);
    let mut out = vec![0f32; idx.len()];
    if threads == 1 {
        score_rows(isa, metric, &q, rows, &idx, &mut out);
        return Ok(out);
    }
    let chunk = idx.len().div_ceil(threads * 4).max(1);
    pool::pool(threads).scope(|s| {
        for (piece, ids) in out.chunks_mut(chunk).zip(idx.chunks(chunk)) {
            let q = &q;
            s.spawn(move |_| score_rows(isa, metric, q, rows, ids, piece));
        }
    });
    Ok(out)
}

/// The `k` rows nearest to `query` (or fewer), nearest first, ties to the lower row index (NaN, which
/// stored vectors never hold, last). `candidates` restricts the search to those rows (duplicates count
/// once).
pub fn dense_topk(
    query: &[f32],
    rows: Rows<'_>,
    k: usize,
    metric: Metric,
    candidates: Option<&[i64]>,
    opts: DenseOptions,
) -> Result<(Vec<i64>, Vec<f32>)> {
    let n = validate(query, &rows)?;
    let isa = opts.isa.unwrap_or_else(Isa::best).checked()?;
    let idx: Vec<usize> = match candidates {
        None => (0..n).collect(),
        Some(c) => {
            let mut v = checked_candidates(c, n)?;
            v.sort_unstable();
            v.dedup();
            v
        }
    };
    if k == 0 || idx.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let threads = threads_for(&opts, idx.len(), query.len())?;
    let q = prepared_query(query, metric);
    // The k best of one piece; scores are negated distances so that `topk` (highest first) applies.
    let best_of = |ids: &[usize]| -> Vec<(usize, f32)> {
        let mut d = vec![0f32; ids.len()];
        score_rows(isa, metric, &q, rows, ids, &mut d);
        topk::topk(ids.iter().copied().zip(d.into_iter().map(|x| -x)).collect(), k)
    };
    let best = if threads == 1 {
        best_of(&idx)
    } else {
        let chunk = idx.len().div_ceil(threads * 4).max(1);
        let mut parts: Vec<Vec<(usize, f32)>> = vec![Vec::new(); idx.len().div_ceil(chunk)];
        pool::pool(threads).scope(|s| {
            for (part, ids) in parts.iter_mut().zip(idx.chunks(chunk)) {
                let best_of = &best_of;
                s.spawn(move |_| *part = best_of(ids));
            }
        });
        topk::topk(parts.into_iter().flatten().collect(), k)
    };
    Ok(best.into_iter().map(|(i, s)| (i as i64, -s)).unzip())
}

#[cfg(test)]
mod tests;
