//! Hierarchical token pooling: a page's `n` token vectors are clustered into `max(n / pool_factor, 1)`
//! groups and each group is replaced by its mean (re-normalised to unit length).
//!
//! The clustering is agglomerative with Ward's linkage on the L2-normalised vectors, whose squared
//! Euclidean distance is twice the cosine distance (`‖a − b‖² = 2 (1 − cos)`), computed in float64:
//! * the dendrogram is built by the nearest-neighbour chain algorithm with the Lance–Williams update
//!   `d²(i ∪ j, k) = ((n_i + n_k) d²(i, k) + (n_j + n_k) d²(j, k) − n_k d²(i, j)) / (n_i + n_j + n_k)`
//!   (Ward's linkage is reducible, so the chain finds the same merges as the greedy algorithm);
//! * the flat clustering applies the `n − clusters` lowest merges (what a "maxclust" cut of the dendrogram
//!   gives when merge heights are distinct).
//!
//! Cluster `c` is numbered by its first token, so pooled rows keep the page's token order.
//! colpali-engine's `HierarchicalTokenPooler` feeds the rows of the cosine-distance matrix to scipy as
//! observations (Ward on `n`-dimensional distance profiles, `O(n³)`); here Ward runs on the vectors
//! themselves, the linkage's own definition of distance (`O(n² · dim)` for the distances, `O(n²)` after).

use crate::error::{KernelError, Result};
use crate::pool;
use rayon::prelude::*;

/// The number of clusters for `n` tokens: `max(n / pool_factor, 1)` (0 for no tokens).
pub fn clusters_for(n: usize, pool_factor: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n / pool_factor).max(1)
    }
}

/// `‖a − b‖²` with eight independent partial sums (so the loop pipelines and vectorises).
#[inline]
fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(p, q)| (p - q) * (p - q)).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Cluster labels (`0..clusters`, numbered by first token) of `n` tokens of `dim` values.
pub fn ward_labels(tokens: &[f32], dim: usize, clusters: usize) -> Vec<usize> {
    let n = tokens.len() / dim;
    if n == 0 {
        return Vec::new();
    }
    let clusters = clusters.clamp(1, n);
    // Unit vectors in float64 (a zero vector stays zero).
    let mut x = vec![0f64; n * dim];
    for (src, dst) in tokens.chunks_exact(dim).zip(x.chunks_exact_mut(dim)) {
        let norm = src.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s as f64 / norm;
            }
        }
    }
    // Full symmetric matrix of squared distances.
    let mut d2 = vec![0f64; n * n];
    for i in 0..n {
        let a = &x[i * dim..(i + 1) * dim];
        for j in i + 1..n {
            let b = &x[j * dim..(j + 1) * dim];
            let v = sq_dist(a, b);
            d2[i * n + j] = v;
        }
    }
    // Mirror the upper triangle in tiles (cache-friendly transposition).
    const TILE: usize = 64;
    for bi in (0..n).step_by(TILE) {
        for bj in (bi..n).step_by(TILE) {
            for i in bi..(bi + TILE).min(n) {
                for j in bj.max(i + 1)..(bj + TILE).min(n) {
                    d2[j * n + i] = d2[i * n + j];
                }
            }
        }
    }
    let mut size = vec![1f64; n];
    let mut active = vec![true; n];
    // (height², representative a, representative b, order)
    let mut merges: Vec<(f64, usize, usize)> = Vec::with_capacity(n - 1);
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    let mut first_active = 0usize;
    while merges.len() + 1 < n {
        if chain.is_empty() {
            while !active[first_active] {
                first_active += 1;
            }
            chain.push(first_active);
        }
        let (a, b) = loop {
            let a = *chain.last().unwrap();
            let prev = if chain.len() >= 2 { Some(chain[chain.len() - 2]) } else { None };
            // The nearest active cluster; the previous chain element wins ties (so the chain terminates).
            let (mut best, mut bd) = match prev {
                Some(p) => (p, d2[a * n + p]),
                None => (usize::MAX, f64::INFINITY),
            };
            let row = &d2[a * n..(a + 1) * n];
            for k in 0..n {
                if k != a && active[k] && row[k] < bd {
                    best = k;
                    bd = row[k];
                }
            }
            if Some(best) == prev {
                chain.pop();
                chain.pop();
                break (a, best);
            }
            chain.push(best);
        };
        // Merge b into a: `a` holds the new cluster.
        let dab = d2[a * n + b];
        let (na, nb) = (size[a], size[b]);
        for k in 0..n {
            if active[k] && k != a && k != b {
                let nk = size[k];
                let v = ((na + nk) * d2[a * n + k] + (nb + nk) * d2[b * n + k] - nk * dab) / (na + nb + nk);
                d2[a * n + k] = v;
                d2[k * n + a] = v;
            }
        }
        size[a] = na + nb;
        active[b] = false;
        merges.push((dab, a, b));
    }
    // The lowest `n - clusters` merges (stable: a merge never precedes the merges that formed its parts).
    let mut order: Vec<usize> = (0..merges.len()).collect();
    order.sort_by(|&i, &j| merges[i].0.total_cmp(&merges[j].0));
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for &m in &order[..n - clusters] {
        let (_, a, b) = merges[m];
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra.max(rb)] = ra.min(rb);
    }
    let mut label_of_root = vec![usize::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|i| {
            let r = find(&mut parent, i);
            if label_of_root[r] == usize::MAX {
                label_of_root[r] = next;
                next += 1;
            }
            label_of_root[r]
        })
        .collect()
}

/// Pools one page: `(pooled rows, labels)`; each row is the mean of its cluster's input vectors,
/// L2-normalised when `normalize` (a zero mean stays zero).
pub fn pool_page(tokens: &[f32], dim: usize, pool_factor: usize, normalize: bool) -> (Vec<f32>, Vec<usize>) {
    let n = tokens.len() / dim;
    let k = clusters_for(n, pool_factor);
    let labels = ward_labels(tokens, dim, k);
    let mut sums = vec![0f64; k * dim];
    let mut counts = vec![0usize; k];
    for (row, &l) in tokens.chunks_exact(dim).zip(&labels) {
        counts[l] += 1;
        for (s, &v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(row) {
            *s += v as f64;
        }
    }
    let mut out = vec![0f32; k * dim];
    for c in 0..k {
        let mean: Vec<f64> = sums[c * dim..(c + 1) * dim].iter().map(|&s| s / counts[c] as f64).collect();
        let norm = if normalize { mean.iter().map(|v| v * v).sum::<f64>().sqrt() } else { 1.0 };
        let norm = if norm > 0.0 { norm } else { 1.0 };
        for (o, m) in out[c * dim..(c + 1) * dim].iter_mut().zip(&mean) {
            *o = (m / norm) as f32;
        }
    }
    (out, labels)
}

/// The pooled pages of a batch.
pub struct Pooled {
    /// `pooled_offsets[-1] × dim` values.
    pub vectors: Vec<f32>,
    /// `n_pages + 1` offsets into `vectors` (rows).
    pub offsets: Vec<i64>,
    /// Per input token, its cluster's row within its own page.
    pub labels: Vec<i64>,
}

/// Pools every page of `data` (`total × dim`, pages delimited by `offsets`) on `threads` workers.
pub fn pool_batch(
    data: &[f32],
    offsets: &[i64],
    dim: usize,
    pool_factor: usize,
    normalize: bool,
    threads: Option<usize>,
) -> Result<Pooled> {
    if dim == 0 {
        return Err(KernelError::invalid("data", "dim must be at least 1"));
    }
    if pool_factor == 0 {
        return Err(KernelError::invalid("pool_factor", "must be at least 1"));
    }
    if !data.len().is_multiple_of(dim) {
        return Err(KernelError::invalid("data", format!("holds {} values, not rows of dim {dim}", data.len())));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(KernelError::invalid("data", format!("value {} (row {}) is not finite", data[i], i / dim)));
    }
    crate::quant::validate_offsets(offsets, data.len() / dim)?;
    let threads = crate::maxsim::resolve_threads(threads)?;
    let pages: Vec<(Vec<f32>, Vec<usize>)> = pool::pool(threads).install(|| {
        offsets
            .par_windows(2)
            .map(|w| pool_page(&data[w[0] as usize * dim..w[1] as usize * dim], dim, pool_factor, normalize))
            .collect()
    });
    let mut out = Pooled { vectors: Vec::new(), offsets: vec![0], labels: Vec::with_capacity(data.len() / dim) };
    for (v, l) in pages {
        out.offsets.push(out.offsets.last().unwrap() + (v.len() / dim) as i64);
        out.vectors.extend_from_slice(&v);
        out.labels.extend(l.into_iter().map(|x| x as i64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::tests::Rng;

    /// The greedy O(n³) Ward algorithm: repeatedly merge the two clusters whose union grows the
    /// within-cluster sum of squares least (`Δ = n_a n_b / (n_a + n_b) ‖μ_a − μ_b‖²`), from centroids.
    fn greedy(x: &[f64], dim: usize, clusters: usize) -> Vec<Vec<usize>> {
        let n = x.len() / dim;
        let mut groups: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        let centroid = |g: &Vec<usize>| -> Vec<f64> {
            let mut c = vec![0f64; dim];
            for &i in g {
                for k in 0..dim {
                    c[k] += x[i * dim + k];
                }
            }
            c.iter().map(|v| v / g.len() as f64).collect()
        };
        while groups.len() > clusters {
            let cs: Vec<Vec<f64>> = groups.iter().map(centroid).collect();
            let mut best = (f64::INFINITY, 0, 0);
            for a in 0..groups.len() {
                for b in a + 1..groups.len() {
                    let (na, nb) = (groups[a].len() as f64, groups[b].len() as f64);
                    let dd: f64 = cs[a].iter().zip(&cs[b]).map(|(p, q)| (p - q) * (p - q)).sum();
                    let delta = na * nb / (na + nb) * dd;
                    if delta < best.0 {
                        best = (delta, a, b);
                    }
                }
            }
            let gb = groups.remove(best.2);
            groups[best.1].extend(gb);
        }
        let mut g: Vec<Vec<usize>> = groups
            .into_iter()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        g.sort();
        g
    }

    #[test]
    fn equals_the_greedy_ward_algorithm() {
        let mut rng = Rng(31);
        for &(n, dim, pf) in &[(1usize, 3usize, 2usize), (2, 4, 2), (9, 5, 3), (30, 8, 2), (47, 16, 3), (60, 4, 1)] {
            let data: Vec<f32> = (0..n * dim).map(|_| rng.normal()).collect();
            let labels = ward_labels(&data, dim, clusters_for(n, pf));
            let k = clusters_for(n, pf);
            let mut got: Vec<Vec<usize>> = vec![Vec::new(); k];
            for (i, &l) in labels.iter().enumerate() {
                got[l].push(i);
            }
            // Numbered by first token.
            for w in got.windows(2) {
                assert!(w[0][0] < w[1][0]);
            }
            got.sort();
            let x: Vec<f64> = data
                .chunks_exact(dim)
                .flat_map(|r| {
                    let nrm = r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
                    r.iter().map(move |&v| v as f64 / nrm)
                })
                .collect();
            assert_eq!(got, greedy(&x, dim, k), "n {n} dim {dim} pool_factor {pf}");
        }
    }

    #[test]
    fn pooled_rows_are_normalised_cluster_means() {
        let mut rng = Rng(8);
        let (n, dim) = (20, 6);
        let data: Vec<f32> = (0..n * dim).map(|_| rng.normal()).collect();
        let (v, labels) = pool_page(&data, dim, 3, true);
        assert_eq!(v.len(), 6 * dim);
        for c in 0..6 {
            let mut mean = vec![0f64; dim];
            for (i, _) in labels.iter().enumerate().filter(|(_, &l)| l == c) {
                for k in 0..dim {
                    mean[k] += data[i * dim + k] as f64;
                }
            }
            let nrm = mean.iter().map(|v| v * v).sum::<f64>().sqrt();
            for k in 0..dim {
                assert!((v[c * dim + k] as f64 - mean[k] / nrm).abs() < 1e-6);
            }
        }
        let b = pool_batch(&data, &[0, 0, 7, 20], dim, 2, true, Some(2)).unwrap();
        assert_eq!(b.offsets, vec![0, 0, 3, 9]);
        assert_eq!(b.labels.len(), 20);
        assert!(pool_batch(&data, &[0, 20], dim, 0, true, None).is_err());
        assert!(pool_batch(&data, &[0, 21], dim, 2, true, None).is_err());
    }
}
