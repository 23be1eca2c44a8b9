//! Every supported SIMD path, metric and storage type against a float64 scalar reference.

use super::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn normal(&mut self) -> f32 {
        (0..12).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum::<f32>() - 6.0
    }
    /// Small integers: many exact ties and equal components (for hamming).
    fn small(&mut self) -> f32 {
        (self.next() % 3) as f32
    }
}

/// Weaviate's distance, in float64 from the float32 values.
fn reference(metric: Metric, q: &[f32], x: &[f64]) -> f64 {
    let q: Vec<f64> = q.iter().map(|&v| v as f64).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    match metric {
        Metric::Cosine => {
            let (nq, nx) = (dot(&q, &q).sqrt(), dot(x, x).sqrt());
            if nq == 0.0 || nx == 0.0 {
                1.0
            } else {
                (1.0 - dot(&q, x) / (nq * nx)).max(0.0)
            }
        }
        Metric::Dot => -dot(&q, x),
        Metric::L2Squared => q.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum(),
        Metric::Manhattan => q.iter().zip(x).map(|(a, b)| (a - b).abs()).sum(),
        Metric::Hamming => q.iter().zip(x).filter(|(a, b)| a != b).count() as f64,
    }
}

fn tolerance(metric: Metric, q: &[f32], x: &[f64]) -> f64 {
    let dim = q.len() as f64;
    match metric {
        Metric::Hamming => 0.0, // a count: exact on every path
        Metric::Cosine => 1e-5 * dim.sqrt() + 1e-6,
        _ => {
            let scale: f64 = q.iter().zip(x).map(|(&a, b)| (a as f64).abs() + b.abs()).map(|s| s * s).sum::<f64>();
            1e-5 * scale.max(1.0)
        }
    }
}

fn check_case(rng: &mut Rng, n: usize, dim: usize, ints: bool) {
    let gen = |rng: &mut Rng| if ints { rng.small() } else { rng.normal() };
    let q: Vec<f32> = (0..dim).map(|_| gen(rng)).collect();
    let mut d32: Vec<f32> = (0..n * dim).map(|_| gen(rng)).collect();
    if n > 2 {
        d32[..dim].fill(0.0); // a zero row
        let (a, b) = d32.split_at_mut(2 * dim);
        b[..dim].copy_from_slice(&a[dim..2 * dim]); // row 2 == row 1: a tie
    }
    let d16: Vec<f16> = d32.iter().map(|&v| f16::from_f32(v)).collect();
    let r32: Vec<f64> = d32.iter().map(|&v| v as f64).collect();
    let r16: Vec<f64> = d16.iter().map(|v| v.to_f64()).collect();
    for metric in Metric::ALL {
        for (rows, refrows) in [(Rows::F32(&d32), &r32), (Rows::F16(&d16), &r16)] {
            let want: Vec<f64> = refrows.chunks_exact(dim).map(|x| reference(metric, &q, x)).collect();
            for isa in Isa::available() {
                for threads in [1, 3] {
                    let opts = DenseOptions { threads: Some(threads), isa: Some(isa) };
                    let got = dense_distances(&q, rows, metric, None, opts).unwrap();
                    assert_eq!(got.len(), n);
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        let tol = tolerance(metric, &q, &refrows[i * dim..(i + 1) * dim]);
                        assert!(
                            (g as f64 - w).abs() <= tol,
                            "{isa:?} {metric:?} n={n} dim={dim} row {i}: {g} vs {w} (tol {tol})"
                        );
                    }
                    // The top k: the k smallest distances of the same path, ties to the lower index.
                    for k in [0, 1, 5, n + 3] {
                        let (idx, dist) = dense_topk(&q, rows, k, metric, None, opts).unwrap();
                        let mut order: Vec<usize> = (0..n).collect();
                        order.sort_by(|&a, &b| got[a].partial_cmp(&got[b]).unwrap().then(a.cmp(&b)));
                        let want_idx: Vec<i64> = order.iter().take(k).map(|&i| i as i64).collect();
                        assert_eq!(idx, want_idx, "{isa:?} {metric:?} n={n} dim={dim} k={k}");
                        let want_dist: Vec<f32> = want_idx.iter().map(|&i| got[i as usize]).collect();
                        assert_eq!(dist, want_dist);
                    }
                }
            }
        }
    }
}

#[test]
fn every_path_matches_the_f64_reference() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for dim in [1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129] {
        check_case(&mut rng, 13, dim, false);
        check_case(&mut rng, 9, dim, true);
    }
    // float16 rows longer than one conversion block, and enough work to use several threads.
    check_case(&mut rng, 7, F16_BLOCK + 37, false);
    check_case(&mut rng, 2100, 512, true);
}

#[test]
fn candidates_restrict_and_keep_their_order() {
    let mut rng = Rng(42);
    let (n, dim) = (50, 24);
    let q: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
    let d: Vec<f32> = (0..n * dim).map(|_| rng.normal()).collect();
    for metric in Metric::ALL {
        for isa in Isa::available() {
            let opts = DenseOptions { threads: Some(2), isa: Some(isa) };
            let all = dense_distances(&q, Rows::F32(&d), metric, None, opts).unwrap();
            let cands = [40i64, 3, 3, 17, 0, 49];
            let some = dense_distances(&q, Rows::F32(&d), metric, Some(&cands), opts).unwrap();
            let want: Vec<f32> = cands.iter().map(|&c| all[c as usize]).collect();
            assert_eq!(some, want);
            let (idx, dist) = dense_topk(&q, Rows::F32(&d), 3, metric, Some(&cands), opts).unwrap();
            let mut uniq = [0usize, 3, 17, 40, 49];
            uniq.sort_by(|&a, &b| all[a].partial_cmp(&all[b]).unwrap().then(a.cmp(&b)));
            assert_eq!(idx, uniq.iter().take(3).map(|&i| i as i64).collect::<Vec<_>>());
            assert_eq!(dist, uniq.iter().take(3).map(|&i| all[i]).collect::<Vec<_>>());
            let (idx, _) = dense_topk(&q, Rows::F32(&d), 3, metric, Some(&[]), opts).unwrap();
            assert!(idx.is_empty());
        }
    }
}

#[test]
fn weaviate_values_by_hand() {
    let q = [1.0f32, 0.0, 0.0];
    let rows = [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0];
    let opts = DenseOptions { threads: Some(1), isa: None };
    let d = |m| dense_distances(&q, Rows::F32(&rows), m, None, opts).unwrap();
    assert_eq!(d(Metric::Cosine), vec![0.0, 1.0, 2.0, 1.0, 1.0f32 - 0.6f32]); // in float32, as Weaviate computes it
    assert_eq!(d(Metric::Dot), vec![-1.0, -0.0, 2.0, -0.0, -3.0]);
    assert_eq!(d(Metric::L2Squared), vec![0.0, 2.0, 9.0, 1.0, 20.0]);
    assert_eq!(d(Metric::Manhattan), vec![0.0, 2.0, 3.0, 1.0, 6.0]);
    assert_eq!(d(Metric::Hamming), vec![0.0, 2.0, 1.0, 1.0, 2.0]);
    // A zero query: cosine distance 1 to everything.
    let z = dense_distances(&[0.0; 3], Rows::F32(&rows), Metric::Cosine, None, opts).unwrap();
    assert_eq!(z, vec![1.0; 5]);
}

#[test]
fn bad_arguments_are_errors() {
    let opts = DenseOptions::default();
    let rows = [0.0f32; 6];
    assert!(dense_distances(&[], Rows::F32(&rows), Metric::Dot, None, opts).is_err());
    assert!(dense_distances(&[0.0; 4], Rows::F32(&rows), Metric::Dot, None, opts).is_err());
    assert!(dense_topk(&[0.0; 3], Rows::F32(&rows), 1, Metric::Dot, Some(&[2]), opts).is_err());
    assert!(dense_topk(&[0.0; 3], Rows::F32(&rows), 1, Metric::Dot, Some(&[-1]), opts).is_err());
    let t0 = DenseOptions { threads: Some(0), isa: None };
    assert!(dense_distances(&[0.0; 3], Rows::F32(&rows), Metric::Dot, None, t0).is_err());
    assert_eq!(Metric::from_name("l2-squared").unwrap(), Metric::L2Squared);
    assert!(Metric::from_name("euclidean").is_err());
    // Empty storage: no rows, no results.
    assert!(dense_distances(&[1.0; 3], Rows::F32(&[]), Metric::Cosine, None, opts).unwrap().is_empty());
    assert!(dense_topk(&[1.0; 3], Rows::F32(&[]), 4, Metric::Cosine, None, opts).unwrap().0.is_empty());
}
