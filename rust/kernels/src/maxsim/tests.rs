//! Every supported SIMD path against a float64 scalar reference and against the portable path.

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
        // Irwin–Hall approximation: plenty for test data.
        (0..12).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum::<f32>() - 6.0
    }
}

fn reference(query: &[f32], dim: usize, docs: &[f64], offsets: &[i64]) -> Vec<f64> {
    offsets
        .windows(2)
        .map(|w| {
            if w[0] == w[1] {
                return f64::NEG_INFINITY;
            }
            query
                .chunks_exact(dim)
                .map(|q| {
                    (w[0] as usize..w[1] as usize)
                        .map(|t| q.iter().zip(&docs[t * dim..(t + 1) * dim]).map(|(&a, &b)| a as f64 * b).sum::<f64>())
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .sum()
        })
        .collect()
}

fn case(rng: &mut Rng, nq: usize, dim: usize, lens: &[usize]) {
    let query: Vec<f32> = (0..nq * dim).map(|_| rng.normal()).collect();
    let total: usize = lens.iter().sum();
    let d32: Vec<f32> = (0..total * dim).map(|_| rng.normal()).collect();
    let d16: Vec<f16> = d32.iter().map(|&v| f16::from_f32(v)).collect();
    let mut offsets = vec![0i64];
    for &l in lens {
        offsets.push(offsets.last().unwrap() + l as i64);
    }
    let ref32 = reference(&query, dim, &d32.iter().map(|&v| v as f64).collect::<Vec<_>>(), &offsets);
    let ref16 = reference(&query, dim, &d16.iter().map(|v| v.to_f64()).collect::<Vec<_>>(), &offsets);
    for isa in Isa::available() {
        for threads in [1, 3] {
            let opts = MaxSimOptions { threads: Some(threads), isa: Some(isa) };
            for (docs, want) in [(Docs::F32(&d32), &ref32), (Docs::F16(&d16), &ref16)] {
                let got = maxsim(Query::new(&query, nq, dim), docs, &offsets, opts).unwrap();
                assert_eq!(got.len(), lens.len());
                for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
                    if w.is_infinite() {
                        assert_eq!(g, f32::NEG_INFINITY, "{isa:?} doc {i}");
                    } else {
                        let scale: f64 = nq as f64 * dim as f64; // |terms| ~ 1 per product
                        assert!(
                            ((g as f64) - w).abs() <= 1e-4 * w.abs() + 1e-6 * scale,
                            "{isa:?} nq={nq} dim={dim} doc {i}: got {g}, want {w}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn all_paths_match_reference_on_varied_shapes() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for &(nq, dim) in &[(1, 1), (1, 128), (3, 5), (10, 128), (16, 16), (17, 33), (32, 128), (33, 96), (7, 130), (40, 8)]
    {
        let lens: Vec<usize> = (0..9).map(|i| [0, 1, 5, 6, 7, 23, 24, 25, 70][i]).collect();
        case(&mut rng, nq, dim, &lens);
    }
}

#[test]
fn many_documents_in_parallel() {
    let mut rng = Rng(42);
    let lens: Vec<usize> = (0..300).map(|_| (rng.next() % 60) as usize).collect();
    case(&mut rng, 20, 64, &lens);
}

#[test]
fn topk_with_candidates() {
    let mut rng = Rng(7);
    let (nq, dim) = (4, 16);
    let lens = [3usize, 0, 5, 2, 9, 1];
    let query: Vec<f32> = (0..nq * dim).map(|_| rng.normal()).collect();
    let total: usize = lens.iter().sum();
    let docs: Vec<f32> = (0..total * dim).map(|_| rng.normal()).collect();
    let mut offsets = vec![0i64];
    for &l in &lens {
        offsets.push(offsets.last().unwrap() + l as i64);
    }
    let opts = MaxSimOptions::default();
    let all = maxsim(Query::new(&query, nq, dim), Docs::F32(&docs), &offsets, opts).unwrap();
    let (idx, sc) = maxsim_topk(Query::new(&query, nq, dim), Docs::F32(&docs), &offsets, 3, None, opts).unwrap();
    let mut order: Vec<usize> = (0..lens.len()).filter(|&i| lens[i] > 0).collect();
    order.sort_by(|&a, &b| all[b].partial_cmp(&all[a]).unwrap().then(a.cmp(&b)));
    assert_eq!(idx, order[..3].iter().map(|&i| i as i64).collect::<Vec<_>>());
    assert_eq!(sc, order[..3].iter().map(|&i| all[i]).collect::<Vec<_>>());
    let (idx, _) =
        maxsim_topk(Query::new(&query, nq, dim), Docs::F32(&docs), &offsets, 10, Some(&[5, 1, 5, 0]), opts).unwrap();
    let mut want = vec![5i64, 0];
    want.sort_by(|&a, &b| all[b as usize].partial_cmp(&all[a as usize]).unwrap());
    assert_eq!(idx, want, "empty doc 1 never matches, duplicates scored once");
    let err = maxsim_topk(Query::new(&query, nq, dim), Docs::F32(&docs), &offsets, 1, Some(&[6]), opts).unwrap_err();
    assert!(err.to_string().starts_with("candidates:"), "{err}");
}

#[test]
fn rejects_bad_arguments() {
    let q = vec![0f32; 8];
    let d = vec![0f32; 12];
    let o = |v: &[i64]| v.to_vec();
    let run = |q: &[f32], nq, dim, d: &[f32], off: &[i64]| {
        maxsim(Query::new(q, nq, dim), Docs::F32(d), off, MaxSimOptions::default())
    };
    assert!(run(&q, 2, 4, &d, &o(&[0, 3])).is_ok());
    let msg = |r: Result<Vec<f32>>| r.unwrap_err().to_string();
    assert!(msg(run(&q, 2, 0, &d, &o(&[0, 3]))).starts_with("query:"));
    assert!(msg(run(&q, 3, 4, &d, &o(&[0, 3]))).starts_with("query:"));
    assert!(msg(run(&q, 2, 4, &d[..10], &o(&[0, 3]))).starts_with("docs:"));
    assert!(msg(run(&q, 2, 4, &d, &o(&[]))).starts_with("offsets:"));
    assert!(msg(run(&q, 2, 4, &d, &o(&[1, 3]))).starts_with("offsets:"));
    assert!(msg(run(&q, 2, 4, &d, &o(&[0, 2, 1, 3]))).starts_with("offsets:"));
    assert!(msg(run(&q, 2, 4, &d, &o(&[0, 4]))).starts_with("offsets:"));
    let bad_threads =
        maxsim(Query::new(&q, 2, 4), Docs::F32(&d), &o(&[0, 3]), MaxSimOptions { threads: Some(0), isa: None });
    assert!(msg(bad_threads).starts_with("threads:"));
    // No documents at all is fine.
    assert_eq!(run(&q, 2, 4, &[], &o(&[0])).unwrap(), Vec::<f32>::new());
}

#[test]
fn balanced_splits_cover_everything() {
    let offsets: Vec<i64> = (0..=100).map(|i| i * i).collect();
    let idx: Vec<usize> = (0..100).collect();
    for parts in [1, 2, 3, 8, 200] {
        let b = balanced_splits(&offsets, &idx, parts);
        assert_eq!(b[0], 0);
        assert_eq!(*b.last().unwrap(), 100);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b.len() - 1 <= parts);
    }
}

#[test]
fn native_simd_path_is_available() {
    let paths = Isa::available();
    #[cfg(target_arch = "aarch64")]
    assert!(paths.contains(&Isa::Neon), "{paths:?}");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        assert!(paths.contains(&Isa::Avx2), "{paths:?}");
    }
    assert_eq!(Isa::best(), *paths.last().unwrap());
}
