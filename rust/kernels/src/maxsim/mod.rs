//! MaxSim (late interaction): `score[i] = Σ_q max_{t ∈ doc i} q · t`.
//!
//! Layout and method (see `docs/architecture.md`):
//! * Documents are packed back to back (`docs`, `total_tokens × dim`, float32 or float16) and delimited by
//!   `offsets` (`n_docs + 1` values): no padding, variable lengths.
//! * The query is packed once per call into panels of [`PANEL`] (16) query rows, transposed so that one
//!   SIMD load gives 16 queries' values for one dimension (`[panel][k][16]`, zero-padded).
//! * A document is consumed `G` tokens at a time (`G` depends on the instruction set). The group is copied
//!   (float16: converted) into a small L1-resident buffer laid out `[k / 16][G][16]`, so every broadcast has
//!   a constant offset; the last group is padded by repeating its last token, which cannot change a max.
//! * The register tile holds `16 × G` dot products; at the end of a group it is folded into the running
//!   per-query max with `G` vector max instructions. The score matrix never exists in memory.
//! * Documents are split into contiguous chunks of equal token counts, scored on a thread pool.

use crate::error::{KernelError, Result};
use crate::isa::Isa;
use crate::pool;
use crate::topk;
use half::f16;

#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Query rows per panel (SIMD lanes of the register tile).
pub const PANEL: usize = 16;
/// Dimensions per chunk of the packed layouts; `dim` is zero-padded to a multiple of it.
pub const KC: usize = 16;

/// Document token storage.
#[derive(Clone, Copy, Debug)]
pub enum Docs<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

impl Docs<'_> {
    fn len(&self) -> usize {
        match self {
            Docs::F32(d) => d.len(),
            Docs::F16(d) => d.len(),
        }
    }
}

/// The query multi-vector: `nq` rows of `dim` values, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub data: &'a [f32],
    pub nq: usize,
    pub dim: usize,
}

impl<'a> Query<'a> {
    pub fn new(data: &'a [f32], nq: usize, dim: usize) -> Self {
        Query { data, nq, dim }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MaxSimOptions {
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
    /// Force an instruction set (tests and benchmarks); `None` picks the fastest supported one.
    pub isa: Option<Isa>,
}

/// 64-byte aligned float storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

pub(crate) struct AlignedBuf {
    lines: Vec<Line>,
}

impl AlignedBuf {
    fn zeroed(floats: usize) -> Self {
        AlignedBuf { lines: vec![Line([0.0; 16]); floats.div_ceil(16).max(1)] }
    }
    pub(crate) fn as_ptr(&self) -> *const f32 {
        self.lines.as_ptr() as *const f32
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut f32 {
        self.lines.as_mut_ptr() as *mut f32
    }
    fn as_mut_slice(&mut self) -> &mut [f32] {
        let n = self.lines.len() * 16;
        // SAFETY: `Line` is `repr(C)` over `[f32; 16]` with no padding beyond its alignment (64 = 16 × 4).
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), n) }
    }
}

/// The query, transposed into panels of 16 rows: `data[(p * dim_pad + k) * 16 + lane]`.
pub(crate) struct PackedQuery {
    pub nq: usize,
    pub dim: usize,
    pub dim_pad: usize,
    pub panels: usize,
    data: AlignedBuf,
}

impl PackedQuery {
    fn new(query: &[f32], nq: usize, dim: usize) -> Self {
        let dim_pad = dim.div_ceil(KC) * KC;
        let panels = nq.div_ceil(PANEL);
        let mut data = AlignedBuf::zeroed(panels * dim_pad * PANEL);
        let out = data.as_mut_slice();
        for (i, row) in query.chunks_exact(dim).enumerate() {
            let (p, lane) = (i / PANEL, i % PANEL);
            for (k, &v) in row.iter().enumerate() {
                out[(p * dim_pad + k) * PANEL + lane] = v;
            }
        }
        PackedQuery { nq, dim, dim_pad, panels, data }
    }

    pub(crate) fn panel(&self, p: usize) -> *const f32 {
        debug_assert!(p < self.panels);
        // SAFETY: within the allocation (panels × dim_pad × 16 floats).
        unsafe { self.data.as_ptr().add(p * self.dim_pad * PANEL) }
    }
}

/// One instruction set's packing and register-tile routines.
///
/// # Safety
/// Implementations use CPU features; callers must only use a kernel whose [`Isa`] is supported.
pub(crate) unsafe trait Kernel {
    /// Tokens per group (the tile's second dimension).
    const G: usize;

    /// Copies tokens `rows[0..n]` (each `dim` long, contiguous) into `buf` as `[k / 16][G][16]`,
    /// zero-padding dims up to `dim_pad` and repeating row `n - 1` for rows `n..G`. `1 ≤ n ≤ G`.
    unsafe fn pack_f32(rows: &[f32], n: usize, dim: usize, dim_pad: usize, buf: *mut f32);
    unsafe fn pack_f16(rows: &[f16], n: usize, dim: usize, dim_pad: usize, buf: *mut f32);

    /// Updates `runmax[0..16]` with the max over the group's `G` tokens of each query lane's dot product.
    /// `qpanel` is `[dim_pad][16]`, `buf` is the packed group, `chunks = dim_pad / 16`.
    /// Each k step also prefetches the lines `[pf + step * pf_stride, + pf_stride)` (64 or 128 bytes; a
    /// hint: any address is allowed).
    unsafe fn tile(
        qpanel: *const f32,
        buf: *const f32,
        chunks: usize,
        runmax: *mut f32,
        pf: *const i8,
        pf_stride: usize,
    );
}

/// Scalar packing shared by the kernels for the rare partial chunk (dims not a multiple of 16).
#[inline(always)]
pub(crate) fn pack_scalar<T: Copy>(
    rows: &[T],
    n: usize,
    dim: usize,
    dim_pad: usize,
    g: usize,
    buf: &mut [f32],
    cvt: impl Fn(T) -> f32,
) {
    for t in 0..g {
        let src = &rows[t.min(n - 1) * dim..][..dim];
        for c in 0..dim_pad / KC {
            let dst = &mut buf[(c * g + t) * KC..][..KC];
            for (kk, d) in dst.iter_mut().enumerate() {
                let k = c * KC + kk;
                *d = if k < dim { cvt(src[k]) } else { 0.0 };
            }
        }
    }
}

/// Scores the documents `idx` into `out` (same length) with kernel `K` on the calling thread.
fn score_docs<K: Kernel>(q: &PackedQuery, docs: Docs<'_>, offsets: &[i64], idx: &[usize], out: &mut [f32]) {
    let g = K::G;
    let dim = q.dim;
    let chunks = q.dim_pad / KC;
    let mut buf = AlignedBuf::zeroed(g * q.dim_pad);
    let mut runmax = AlignedBuf::zeroed(q.panels * PANEL);
    let (row_bytes, base) = match docs {
        Docs::F32(d) => (dim * 4, d.as_ptr() as *const i8),
        Docs::F16(d) => (dim * 2, d.as_ptr() as *const i8),
    };
    let group_bytes = (g * row_bytes, base);
    // Cache lines to prefetch per k step so that the panels' steps cover one group.
    let steps = q.panels * q.dim_pad;
    // With G ≤ 24 float32 tokens per group this is at most 2 lines (G × 4 / 64 per k step).
    let pf_stride = 64 * group_bytes.0.div_ceil(64).div_ceil(steps).clamp(1, 2);
    for (o, &d) in out.iter_mut().zip(idx) {
        let (start, end) = (offsets[d] as usize, offsets[d + 1] as usize);
        if start == end {
            *o = f32::NEG_INFINITY;
            continue;
        }
        runmax.as_mut_slice().fill(f32::NEG_INFINITY);
        let mut t0 = start;
        while t0 < end {
            let n = g.min(end - t0);
            // SAFETY: `K` is only instantiated for a supported ISA (see `dispatch`); the slices hold
            // exactly `n` rows of `dim` values and `buf` holds `g × dim_pad` floats.
            unsafe {
                match docs {
                    Docs::F32(d) => K::pack_f32(&d[t0 * dim..(t0 + n) * dim], n, dim, q.dim_pad, buf.as_mut_ptr()),
                    Docs::F16(d) => K::pack_f16(&d[t0 * dim..(t0 + n) * dim], n, dim, q.dim_pad, buf.as_mut_ptr()),
                }
                // The tiles prefetch the next group (of this or the next document) one cache line per
                // step, spread over the panels, so the loads overlap the arithmetic.
                let next = group_bytes.1.wrapping_add((t0 + n) * row_bytes);
                for p in 0..q.panels {
                    let pf = next.wrapping_add(p * q.dim_pad * pf_stride);
                    K::tile(q.panel(p), buf.as_ptr(), chunks, runmax.as_mut_ptr().add(p * PANEL), pf, pf_stride);
                }
            }
            t0 += n;
        }
        let rm = runmax.as_mut_slice();
        *o = rm[..q.nq].iter().map(|&v| v as f64).sum::<f64>() as f32;
    }
}

fn dispatch(isa: Isa, q: &PackedQuery, docs: Docs<'_>, offsets: &[i64], idx: &[usize], out: &mut [f32]) {
    match isa {
        Isa::Portable => score_docs::<portable::Portable>(q, docs, offsets, idx, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => score_docs::<x86::Avx2>(q, docs, offsets, idx, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => score_docs::<x86::Avx512>(q, docs, offsets, idx, out),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => score_docs::<neon::Neon>(q, docs, offsets, idx, out),
        #[allow(unreachable_patterns)]
        _ => unreachable!("unsupported ISAs are rejected before dispatch"),
    }
}

/// Checked dimensions of a call.
struct Shape {
    nq: usize,
    dim: usize,
    n_docs: usize,
}

fn validate(query: &Query<'_>, docs: &Docs<'_>, offsets: &[i64]) -> Result<Shape> {
    let (nq, dim) = (query.nq, query.dim);
    if dim == 0 {
        return Err(KernelError::invalid("query", "dim must be at least 1"));
    }
    if nq == 0 {
        return Err(KernelError::invalid("query", "must have at least one row (token)"));
    }
    if query.data.len() != nq * dim {
        return Err(KernelError::invalid(
            "query",
            format!("holds {} values, expected nq × dim = {nq} × {dim}", query.data.len()),
        ));
    }
    if !docs.len().is_multiple_of(dim) {
        return Err(KernelError::invalid(
            "docs",
            format!("holds {} values, not a whole number of rows of dim {dim}", docs.len()),
        ));
    }
    let total = (docs.len() / dim) as i64;
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
                "must be non-decreasing, but offsets[{}] = {} > offsets[{}] = {}",
                i,
                offsets[i],
                i + 1,
                offsets[i + 1]
            ),
        ));
    }
    let last = *offsets.last().unwrap();
    if last != total {
        return Err(KernelError::invalid(
            "offsets",
            format!("offsets[-1] must equal the number of document tokens ({total}), got {last}"),
        ));
    }
    Ok(Shape { nq, dim, n_docs: offsets.len() - 1 })
}

/// Splits `idx` into at most `parts` contiguous pieces of about equal work (tokens + a per-document cost).
pub(crate) fn balanced_splits(offsets: &[i64], idx: &[usize], parts: usize) -> Vec<usize> {
    const DOC_COST: i64 = 8;
    let cost = |d: usize| offsets[d + 1] - offsets[d] + DOC_COST;
    let total: i64 = idx.iter().map(|&d| cost(d)).sum();
    let mut bounds = vec![0];
    let mut acc = 0i64;
    let mut next = 1;
    for (j, &d) in idx.iter().enumerate() {
        acc += cost(d);
        while next < parts && acc * parts as i64 >= total * next as i64 {
            bounds.push(j + 1);
            next += 1;
        }
    }
    bounds.push(idx.len());
    bounds.dedup();
    bounds
}

pub(crate) fn resolve_threads(threads: Option<usize>) -> Result<usize> {
    match threads {
        Some(0) => Err(KernelError::invalid("threads", "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(pool::default_threads()),
    }
}

/// Scores `idx` (document indices, already validated) in parallel.
fn score_indices(
    isa: Isa,
    q: &PackedQuery,
    docs: Docs<'_>,
    offsets: &[i64],
    idx: &[usize],
    threads: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; idx.len()];
    let tokens: i64 = idx.iter().map(|&d| offsets[d + 1] - offsets[d]).sum();
    // Below ~4 MFLOP a thread hand-off costs more than it saves.
    let flops = 2 * tokens as u128 * (q.panels * PANEL) as u128 * q.dim_pad as u128;
    let threads = if flops < 4_000_000 { 1 } else { threads.min(idx.len()).max(1) };
    if threads == 1 {
        dispatch(isa, q, docs, offsets, idx, &mut out);
        return out;
    }
    // A few chunks per thread, so a descheduled vCPU does not hold the whole call back.
    let bounds = balanced_splits(offsets, idx, threads * 4);
    let pool = pool::pool(threads);
    pool.scope(|s| {
        let mut rest: &mut [f32] = &mut out;
        for w in bounds.windows(2) {
            let (piece, tail) = rest.split_at_mut(w[1] - w[0]);
            rest = tail;
            let ids = &idx[w[0]..w[1]];
            s.spawn(move |_| dispatch(isa, q, docs, offsets, ids, piece));
        }
    });
    out
}

/// MaxSim scores of every document. `query` is `nq × dim`; `docs` is `total_tokens × dim`;
/// `offsets` has `n_docs + 1` entries. An empty document scores `-inf`.
pub fn maxsim(query: Query<'_>, docs: Docs<'_>, offsets: &[i64], opts: MaxSimOptions) -> Result<Vec<f32>> {
    let shape = validate(&query, &docs, offsets)?;
    let isa = opts.isa.unwrap_or_else(Isa::best).checked()?;
    let threads = resolve_threads(opts.threads)?;
    let q = PackedQuery::new(query.data, shape.nq, shape.dim);
    let idx: Vec<usize> = (0..shape.n_docs).collect();
    Ok(score_indices(isa, &q, docs, offsets, &idx, threads))
}

/// The `k` best documents (or fewer), best first, ties by lower index. `candidates` restricts scoring to
/// those document indices (duplicates are scored once). Empty documents never match.
pub fn maxsim_topk(
    query: Query<'_>,
    docs: Docs<'_>,
    offsets: &[i64],
    k: usize,
    candidates: Option<&[i64]>,
    opts: MaxSimOptions,
) -> Result<(Vec<i64>, Vec<f32>)> {
    let shape = validate(&query, &docs, offsets)?;
    let isa = opts.isa.unwrap_or_else(Isa::best).checked()?;
    let threads = resolve_threads(opts.threads)?;
    let mut idx: Vec<usize> = match candidates {
        None => (0..shape.n_docs).collect(),
        Some(c) => {
            let mut v = Vec::with_capacity(c.len());
            for (j, &d) in c.iter().enumerate() {
                if d < 0 || d as usize >= shape.n_docs {
                    return Err(KernelError::invalid(
                        "candidates",
                        format!("candidates[{j}] = {d} is not a document index in [0, {})", shape.n_docs),
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
    if k == 0 || idx.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let q = PackedQuery::new(query.data, shape.nq, shape.dim);
    let scores = score_indices(isa, &q, docs, offsets, &idx, threads);
    let best = topk::topk(idx.into_iter().zip(scores).collect(), k);
    Ok(best.into_iter().map(|(i, s)| (i as i64, s)).unzip())
}

#[cfg(test)]
mod tests;
