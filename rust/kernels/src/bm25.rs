//! BM25 scoring over an inverted index's postings, with Weaviate's formula (`weaviate.md` §3):
//!
//! `score(d) = Σ_terms weight · idf · f / (f + k1·(1 − b + b·len_d/avgLen))`,
//! `idf = ln(1 + (N − n + 0.5)/(n + 0.5))`, where `f` is the term's frequency in the document's property,
//! `len_d` that property's length in tokens, `avgLen` its mean, `N` the number of objects and `n` the
//! term's document frequency (the caller chooses it: Weaviate averages it over the searched properties
//! that contain the term). There is no `(k1 + 1)` factor. `weight` carries the property boost and the
//! number of times the term occurs in the query. Each (term, property) pair is one [`Term`]; a
//! document's score is the sum over all of them.

use crate::error::{KernelError, Result};
use crate::topk;

/// One searchable property: `doc_len[d]` is document `d`'s length in tokens, `avg_len` the mean.
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    pub doc_len: &'a [f32],
    pub avg_len: f32,
}

/// The postings of one query term in one property: documents `docs[i]` contain it `freqs[i]` times;
/// `df` is the document frequency used in the idf.
#[derive(Clone, Copy, Debug)]
pub struct Term<'a> {
    pub field: usize,
    pub docs: &'a [u32],
    pub freqs: &'a [f32],
    pub weight: f32,
    pub df: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct Bm25Params {
    pub k1: f32,
    pub b: f32,
    /// `N`: the number of objects in the collection.
    pub n_objects: f64,
}

/// The inverse document frequency of a term found in `n` of `n_objects` documents.
pub fn idf(n_objects: f64, n: f64) -> f64 {
    (1.0 + (n_objects - n + 0.5) / (n + 0.5)).ln()
}

fn validate(fields: &[Field<'_>], terms: &[Term<'_>], p: &Bm25Params, n_docs: usize) -> Result<()> {
    if !(p.k1.is_finite() && p.k1 >= 0.0) {
        return Err(KernelError::invalid("k1", format!("must be a finite non-negative number, got {}", p.k1)));
    }
    if !(p.b.is_finite() && (0.0..=1.0).contains(&p.b)) {
        return Err(KernelError::invalid("b", format!("must be within [0, 1], got {}", p.b)));
    }
    for (i, f) in fields.iter().enumerate() {
        if f.doc_len.len() < n_docs {
            return Err(KernelError::invalid(
                "doc_lens",
                format!("field {i} has {} lengths for {n_docs} documents", f.doc_len.len()),
            ));
        }
    }
    for (i, t) in terms.iter().enumerate() {
        if t.field >= fields.len() {
            return Err(KernelError::invalid(
                "fields",
                format!("term {i} names field {} of {}", t.field, fields.len()),
            ));
        }
        if t.docs.len() != t.freqs.len() {
            return Err(KernelError::invalid(
                "freqs",
                format!("term {i} has {} frequencies for {} documents", t.freqs.len(), t.docs.len()),
            ));
        }
        if !(t.df.is_finite() && t.df >= 0.0) {
            return Err(KernelError::invalid("term_dfs", format!("term {i} has document frequency {}", t.df)));
        }
        if let Some(&d) = t.docs.iter().find(|&&d| d as usize >= n_docs) {
            return Err(KernelError::invalid("docs", format!("term {i} names document {d}, of {n_docs}")));
        }
    }
    Ok(())
}

/// Scores every document that contains at least one term: returns the dense scores (length `n_docs`) and
/// the documents touched, in first-touched order.
pub fn bm25_scores(
    fields: &[Field<'_>],
    terms: &[Term<'_>],
    p: Bm25Params,
    n_docs: usize,
) -> Result<(Vec<f32>, Vec<u32>)> {
    validate(fields, terms, &p, n_docs)?;
    let mut scores = vec![0.0f32; n_docs];
    let mut seen = vec![false; n_docs];
    let mut touched = Vec::new();
    for t in terms {
        let field = fields[t.field];
        let w = (idf(p.n_objects, t.df) * t.weight as f64) as f32;
        // norm(d) = k1·(1 − b) + (k1·b/avgLen)·len_d
        let c0 = p.k1 * (1.0 - p.b);
        let c1 = if field.avg_len > 0.0 { p.k1 * p.b / field.avg_len } else { 0.0 };
        for (&d, &f) in t.docs.iter().zip(t.freqs) {
            let d = d as usize;
            let norm = c0 + c1 * field.doc_len[d];
            scores[d] += w * (f / (f + norm));
            if !seen[d] {
                seen[d] = true;
                touched.push(d as u32);
            }
        }
    }
    Ok((scores, touched))
}

/// The `k` best documents, score descending, ties to the lower document number. `allowed`, when given,
/// keeps only documents `d < allowed.len()` with `allowed[d] != 0` (a filter).
pub fn bm25_topk(
    fields: &[Field<'_>],
    terms: &[Term<'_>],
    p: Bm25Params,
    n_docs: usize,
    k: usize,
    allowed: Option<&[u8]>,
) -> Result<Vec<(u32, f32)>> {
    let (scores, touched) = bm25_scores(fields, terms, p, n_docs)?;
    let items: Vec<(usize, f32)> = touched
        .into_iter()
        .map(|d| d as usize)
        .filter(|&d| allowed.is_none_or(|a| a.get(d).is_some_and(|&x| x != 0)))
        .map(|d| (d, scores[d]))
        .collect();
    Ok(topk::topk(items, k).into_iter().map(|(d, s)| (d as u32, s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_formula() {
        // Two fields; doc 0 has "a" twice in field 0, doc 2 once in field 1.
        let len0 = [4.0f32, 2.0, 0.0];
        let len1 = [1.0f32, 0.0, 3.0];
        let fields = [Field { doc_len: &len0, avg_len: 3.0 }, Field { doc_len: &len1, avg_len: 2.0 }];
        let terms = [
            Term { field: 0, docs: &[0], freqs: &[2.0], weight: 1.0, df: 1.0 },
            Term { field: 1, docs: &[2], freqs: &[1.0], weight: 2.0, df: 1.0 },
        ];
        let p = Bm25Params { k1: 1.2, b: 0.75, n_objects: 3.0 };
        let (s, touched) = bm25_scores(&fields, &terms, p, 3).unwrap();
        let idf1 = (1.0f64 + (3.0 - 1.0 + 0.5) / 1.5).ln();
        let want0 = idf1 * 2.0 / (2.0 + 1.2 * (0.25 + 0.75 * 4.0 / 3.0));
        let want2 = 2.0 * idf1 * 1.0 / (1.0 + 1.2 * (0.25 + 0.75 * 3.0 / 2.0));
        assert!((s[0] as f64 - want0).abs() < 1e-6);
        assert!((s[2] as f64 - want2).abs() < 1e-6);
        assert_eq!(s[1], 0.0);
        assert_eq!(touched, vec![0, 2]);
        let top = bm25_topk(&fields, &terms, p, 3, 5, None).unwrap();
        assert_eq!(top.iter().map(|x| x.0).collect::<Vec<_>>(), vec![2, 0]);
        let top = bm25_topk(&fields, &terms, p, 3, 5, Some(&[1, 1, 0])).unwrap();
        assert_eq!(top.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn rejects_bad_input() {
        let len = [1.0f32];
        let fields = [Field { doc_len: &len, avg_len: 1.0 }];
        let p = Bm25Params { k1: 1.2, b: 0.75, n_objects: 1.0 };
        let bad_doc = [Term { field: 0, docs: &[1], freqs: &[1.0], weight: 1.0, df: 1.0 }];
        assert!(bm25_scores(&fields, &bad_doc, p, 1).is_err());
        let bad_field = [Term { field: 1, docs: &[0], freqs: &[1.0], weight: 1.0, df: 1.0 }];
        let bad_df = [Term { field: 0, docs: &[0], freqs: &[1.0], weight: 1.0, df: f64::NAN }];
        assert!(bm25_scores(&fields, &bad_df, p, 1).is_err());
        assert!(bm25_scores(&fields, &bad_field, p, 1).is_err());
        assert!(bm25_scores(&fields, &[], Bm25Params { b: 2.0, ..p }, 1).is_err());
    }
}
