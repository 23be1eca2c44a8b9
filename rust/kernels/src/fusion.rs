//! Hybrid-search fusion of ranked result lists, with Weaviate's two rules (`docs/search-semantics.md`).
//!
//! * [`Fusion::RelativeScore`]: each leg's scores are min-max normalised and multiplied by the leg's
//!   weight (`w·(s − min)/(max − min)`; a leg whose scores are all equal contributes `w`); an object's
//!   score is the sum over the legs that found it. Arithmetic is float32, as in Weaviate.
//! * [`Fusion::Ranked`] (reciprocal rank fusion): a leg contributes `w / (rank0 + 60)` to each object it
//!   found, `rank0` being the object's position in that leg (counted from 0).
//!
//! Objects are identified by a caller-chosen `u64` key; the fused list is sorted by score descending and
//! ties go to the lower key (callers number their objects in id order, so ties go to the lower id).

use crate::error::{KernelError, Result};
use std::collections::HashMap;

/// The fusion rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fusion {
    RelativeScore,
    Ranked,
}

impl Fusion {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "relativeScore" | "relative_score" => Ok(Fusion::RelativeScore),
            "ranked" | "rankedFusion" => Ok(Fusion::Ranked),
            other => {
                Err(KernelError::invalid("fusion", format!("expected \"relativeScore\" or \"ranked\", got {other:?}")))
            }
        }
    }
}

/// One result list: `keys[i]` scored `scores[i]`, best first (the order matters for [`Fusion::Ranked`]).
#[derive(Clone, Copy, Debug)]
pub struct Leg<'a> {
    pub keys: &'a [u64],
    pub scores: &'a [f32],
    /// float64, as in Weaviate: relativeScore rounds it to float32, ranked divides in float64.
    pub weight: f64,
}

/// The fused list: keys and scores best first, and `contributions[i * legs + l]`, what leg `l` added to
/// result `i` (NaN where that leg did not find it), for `explain_score`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fused {
    pub keys: Vec<u64>,
    pub scores: Vec<f32>,
    pub contributions: Vec<f32>,
}

/// Fuses `legs` with `fusion`. Keys must be unique within a leg.
pub fn fuse(legs: &[Leg<'_>], fusion: Fusion) -> Result<Fused> {
    for leg in legs {
        if leg.keys.len() != leg.scores.len() {
            return Err(KernelError::invalid(
                "scores",
                format!("has {} values for {} keys", leg.scores.len(), leg.keys.len()),
            ));
        }
        if !leg.weight.is_finite() {
            return Err(KernelError::invalid("weights", format!("must be finite, got {}", leg.weight)));
        }
    }
    let nlegs = legs.len();
    let capacity = legs.iter().map(|l| l.keys.len()).sum::<usize>();
    let mut slot: HashMap<u64, usize> = HashMap::with_capacity(capacity);
    let mut keys: Vec<u64> = Vec::with_capacity(capacity);
    let mut contributions: Vec<f32> = Vec::with_capacity(capacity * nlegs);

    for (l, leg) in legs.iter().enumerate() {
        let (lo, hi) =
            leg.scores.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        let w32 = leg.weight as f32;
        for (rank, (&key, &s)) in leg.keys.iter().zip(leg.scores).enumerate() {
            let part = match fusion {
                Fusion::RelativeScore => {
                    if hi == lo {
                        w32
                    } else {
                        w32 * ((s - lo) / (hi - lo))
                    }
                }
                Fusion::Ranked => (leg.weight / (rank as f64 + 60.0)) as f32,
            };
            let i = *slot.entry(key).or_insert_with(|| {
                keys.push(key);
                contributions.extend(std::iter::repeat_n(f32::NAN, nlegs));
                keys.len() - 1
            });
            let c = &mut contributions[i * nlegs + l];
            if !c.is_nan() {
                return Err(KernelError::invalid("keys", format!("key {key} appears twice in leg {l}")));
            }
            *c = part;
        }
    }

    // Sum in leg order (float32), as the reference does.
    let totals: Vec<f32> = contributions
        .chunks_exact(nlegs.max(1))
        .map(|row| row.iter().filter(|c| !c.is_nan()).fold(0.0f32, |acc, &c| acc + c))
        .collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        totals[b].partial_cmp(&totals[a]).unwrap_or(std::cmp::Ordering::Equal).then(keys[a].cmp(&keys[b]))
    });
    let mut out = Fused {
        keys: Vec::with_capacity(order.len()),
        scores: Vec::with_capacity(order.len()),
        contributions: Vec::with_capacity(order.len() * nlegs),
    };
    for i in order {
        out.keys.push(keys[i]);
        out.scores.push(totals[i]);
        out.contributions.extend_from_slice(&contributions[i * nlegs..(i + 1) * nlegs]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_score_normalises_and_sums() {
        let v = Leg { keys: &[1, 2, 3], scores: &[10.0, 8.0, 6.0], weight: 0.75 };
        let k = Leg { keys: &[3, 4], scores: &[2.0, 1.0], weight: 0.25 };
        let f = fuse(&[v, k], Fusion::RelativeScore).unwrap();
        assert_eq!(f.keys, vec![1, 2, 3, 4]);
        assert_eq!(f.scores, vec![0.75, 0.375, 0.25, 0.0]);
        assert_eq!(f.contributions[4..6], [0.0, 0.25]);
        assert!(f.contributions[1].is_nan());
        assert!(f.contributions[6].is_nan());
    }

    #[test]
    fn equal_scores_contribute_the_weight_and_ties_go_to_the_lower_key() {
        let v = Leg { keys: &[9, 5], scores: &[3.0, 3.0], weight: 0.5 };
        let f = fuse(&[v], Fusion::RelativeScore).unwrap();
        assert_eq!(f.keys, vec![5, 9]);
        assert_eq!(f.scores, vec![0.5, 0.5]);
    }

    #[test]
    fn ranked_uses_reciprocal_ranks() {
        let v = Leg { keys: &[1, 2], scores: &[0.0, 0.0], weight: 1.0 };
        let k = Leg { keys: &[2, 1], scores: &[0.0, 0.0], weight: 0.5 };
        let f = fuse(&[v, k], Fusion::Ranked).unwrap();
        assert_eq!(f.keys, vec![1, 2]);
        assert_eq!(f.scores[0], (1.0f64 / 60.0) as f32 + (0.5f64 / 61.0) as f32);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(fuse(&[Leg { keys: &[1], scores: &[], weight: 1.0 }], Fusion::Ranked).is_err());
        assert!(fuse(&[Leg { keys: &[1, 1], scores: &[1.0, 2.0], weight: 1.0 }], Fusion::Ranked).is_err());
        assert!(Fusion::from_name("rrf").is_err());
        assert!(fuse(&[], Fusion::Ranked).unwrap().keys.is_empty());
    }
}
