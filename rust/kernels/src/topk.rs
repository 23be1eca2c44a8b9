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

#[cfg(test)]
mod tests {
    use super::*;

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
