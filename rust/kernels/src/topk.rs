//! Top-k selection: highest score first, ties broken by the lower index, NaN ranked below everything.

use std::cmp::Ordering;

/// Orders `(index, score)` pairs best first.
#[inline]
pub fn better(a: (usize, f32), b: (usize, f32)) -> Ordering {
    // NaN sorts last; among equal scores, the lower index wins.
    match (a.1.is_nan(), b.1.is_nan()) {
        (true, true) => a.0.cmp(&b.0),
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal).then(a.0.cmp(&b.0)),
    }
}

/// The `k` best of `items` (or all of them when there are fewer), best first.
pub fn topk(mut items: Vec<(usize, f32)>, k: usize) -> Vec<(usize, f32)> {
    if k == 0 || items.is_empty() {
        return Vec::new();
    }
    if k < items.len() {
        items.select_nth_unstable_by(k - 1, |a, b| better(*a, *b));
        items.truncate(k);
    }
    items.sort_unstable_by(|a, b| better(*a, *b));
    items
}

/// The `k` best rows of a row-major table (`rows.len() / d` rows of `d` elements), each scored by
/// `score(index, row)`, best first as [`topk`] orders them; `allowed`, when given, keeps only rows `i` with
/// `allowed[i] != 0` (its length is the caller's to check). The rows are scanned in chunks of `chunk`
/// rows on `threads` threads of the shared pool, each chunk keeping its own `k` best.
pub fn scan_rows<T: Sync>(
    rows: &[T],
    d: usize,
    k: usize,
    allowed: Option<&[u8]>,
    threads: usize,
    chunk: usize,
    score: impl Fn(usize, &[T]) -> f32 + Sync,
) -> Vec<(usize, f32)> {
    use rayon::prelude::*;
    if k == 0 || d == 0 || rows.is_empty() {
        return Vec::new();
    }
    let chunk = chunk.max(1);
    let parts: Vec<Vec<(usize, f32)>> = crate::pool::pool(threads.max(1)).install(|| {
        rows.par_chunks(chunk * d)
            .enumerate()
            .map(|(c, block)| {
                let items: Vec<(usize, f32)> = block
                    .chunks_exact(d)
                    .enumerate()
                    .map(|(j, row)| (c * chunk + j, row))
                    .filter(|(i, _)| allowed.is_none_or(|a| a[*i] != 0))
                    .map(|(i, row)| (i, score(i, row)))
                    .collect();
                topk(items, k)
            })
            .collect()
    });
    topk(parts.into_iter().flatten().collect(), k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_rows_equals_scoring_everything_then_topk() {
        let (n, d) = (1000usize, 3usize);
        let rows: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
        let allowed: Vec<u8> = (0..n).map(|i| (i % 3 != 0) as u8).collect();
        let score = |_: usize, r: &[f32]| r[0] - 0.5 * r[1] + r[2] * r[2];
        for (mask, chunk, threads) in [(None, 64, 1), (Some(&allowed[..]), 7, 2), (None, 5000, 2)] {
            let all: Vec<(usize, f32)> = rows
                .chunks_exact(d)
                .enumerate()
                .filter(|(i, _)| mask.is_none_or(|a: &[u8]| a[*i] != 0))
                .map(|(i, r)| (i, score(i, r)))
                .collect();
            for k in [1usize, 10, 333, 2000] {
                assert_eq!(scan_rows(&rows, d, k, mask, threads, chunk, score), topk(all.clone(), k));
            }
        }
        assert!(scan_rows(&rows, d, 0, None, 1, 64, score).is_empty());
        assert!(scan_rows::<f32>(&[], d, 5, None, 1, 64, score).is_empty());
    }

    #[test]
    fn orders_by_score_then_index() {
        let items = vec![(0, 1.0), (1, 3.0), (2, 3.0), (3, f32::NAN), (4, -1.0), (5, 2.0)];
        assert_eq!(topk(items.clone(), 3), vec![(1, 3.0), (2, 3.0), (5, 2.0)]);
        let all: Vec<usize> = topk(items, 10).into_iter().map(|x| x.0).collect();
        assert_eq!(all, vec![1, 2, 5, 0, 4, 3]);
    }

    #[test]
    fn matches_full_sort() {
        let mut seed = 12345u64;
        for n in [0usize, 1, 2, 7, 100, 1000] {
            let items: Vec<(usize, f32)> = (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (i, ((seed >> 33) % 17) as f32) // many ties
                })
                .collect();
            let mut full = items.clone();
            full.sort_by(|a, b| better(*a, *b));
            for k in [0usize, 1, 3, 50, 2000] {
                let want: Vec<_> = full.iter().copied().take(k).collect();
                assert_eq!(topk(items.clone(), k), want);
            }
        }
    }
}
