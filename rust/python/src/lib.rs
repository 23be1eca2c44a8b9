//! `colweave._native`: the thin PyO3 layer over `colweave-kernels`. It checks dtypes and shapes, borrows
//! numpy buffers without copying (non-contiguous inputs are copied once), releases the GIL for the work
//! and returns numpy arrays. Kernel errors map to one exception hierarchy rooted at `ColweaveNativeError`
//! (a `ValueError`).

use colweave_kernels::bm25::{Bm25Params, Field, Term};
use colweave_kernels::dense::{self, DenseOptions, Metric, Rows};
use colweave_kernels::fusion::{Fusion, Leg};
use colweave_kernels::muvera::{Muvera, MuveraParams, Side};
use colweave_kernels::quant::binary::{self as bq, BinaryIsa, BinaryOptions};
use colweave_kernels::quant::fde::{self as qfde, FdeIsa, FdeOptions};
use colweave_kernels::quant::int8::{self as sq, Int8Isa, Int8Options};
use colweave_kernels::quant::KernelIsa;
use colweave_kernels::tokenpool;
use colweave_kernels::{self as kernels, Docs, Isa, KernelError, MaxSimOptions, Query};
use half::f16;
use numpy::{
    dtype, Element, IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;

create_exception!(_native, ColweaveNativeError, PyValueError, "Base class of the errors raised by colweave's kernels.");
create_exception!(
    _native,
    InvalidArgumentError,
    ColweaveNativeError,
    "An argument has the wrong dtype, shape or value."
);
create_exception!(
    _native,
    UnsupportedIsaError,
    ColweaveNativeError,
    "The requested SIMD path is not available on this CPU."
);

fn to_py(err: KernelError) -> PyErr {
    match err {
        KernelError::InvalidArgument { .. } => InvalidArgumentError::new_err(err.to_string()),
        KernelError::UnsupportedIsa { .. } => UnsupportedIsaError::new_err(err.to_string()),
    }
}

fn invalid(arg: &str, msg: impl std::fmt::Display) -> PyErr {
    InvalidArgumentError::new_err(format!("{arg}: {msg}"))
}

/// An integer argument: a Python int outside i64 (e.g. `k=10**20`) is an `InvalidArgumentError` naming the
/// argument, like every other bad value (PyO3 alone would raise a bare `OverflowError`).
fn int_arg(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<i64> {
    obj.extract::<i64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            invalid(arg, format!("{} is out of range (at most {})", obj, i64::MAX))
        } else {
            e
        }
    })
}

fn k_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    int_arg(obj, "k")
}

fn threads_opt(obj: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if obj.is_none() {
        Ok(None)
    } else {
        int_arg(obj, "threads").map(Some)
    }
}

fn as_array<'a, 'py>(obj: &'a Bound<'py, PyAny>, arg: &str) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        invalid(
            arg,
            format!(
                "expected a numpy.ndarray, got {}",
                obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ),
        )
    })
}

fn dtype_name(a: &Bound<'_, PyUntypedArray>) -> String {
    a.dtype().str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
}

/// A 2-D numpy array as a contiguous row-major buffer: borrowed when C-contiguous, else copied once.
struct Mat2<'py, T: Element> {
    borrowed: Option<numpy::PyReadonlyArray2<'py, T>>,
    owned: Vec<T>,
    rows: usize,
    cols: usize,
}

impl<'py, T: Element + Clone> Mat2<'py, T> {
    fn new(a: &Bound<'py, PyUntypedArray>, arg: &str) -> PyResult<Self> {
        let arr = a.cast::<PyArray2<T>>().map_err(|_| invalid(arg, "expected a 2-D array"))?;
        let ro = arr.readonly();
        let (rows, cols) = (ro.shape()[0], ro.shape()[1]);
        // `as_slice` also accepts Fortran order; only C order is row-major.
        if arr.is_c_contiguous() {
            Ok(Mat2 { borrowed: Some(ro), owned: Vec::new(), rows, cols })
        } else {
            let owned: Vec<T> = ro.as_array().iter().cloned().collect();
            Ok(Mat2 { borrowed: None, owned, rows, cols })
        }
    }

    fn data(&self) -> &[T] {
        match &self.borrowed {
            Some(ro) => ro.as_slice().expect("C-contiguous arrays are slices"),
            None => &self.owned,
        }
    }
}

enum DocsBuf<'py> {
    F32(Mat2<'py, f32>),
    F16(Mat2<'py, f16>),
}

impl DocsBuf<'_> {
    fn docs(&self) -> Docs<'_> {
        match self {
            DocsBuf::F32(m) => Docs::F32(m.data()),
            DocsBuf::F16(m) => Docs::F16(m.data()),
        }
    }
    fn dim(&self) -> usize {
        match self {
            DocsBuf::F32(m) => m.cols,
            DocsBuf::F16(m) => m.cols,
        }
    }
}

struct Args<'py> {
    query: Mat2<'py, f32>,
    docs: DocsBuf<'py>,
    offsets: Vec<i64>,
    opts: MaxSimOptions,
}

fn parse_args<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<Args<'py>> {
    let q = as_array(query, "query")?;
    if q.ndim() != 2 {
        return Err(invalid("query", format!("expected a 2-D (nq, dim) array, got {} dimension(s)", q.ndim())));
    }
    if !q.dtype().is_equiv_to(&dtype::<f32>(py)) {
        return Err(invalid("query", format!("expected dtype float32, got {}", dtype_name(q))));
    }
    let query = Mat2::<f32>::new(q, "query")?;

    let d = as_array(docs, "docs")?;
    if d.ndim() != 2 {
        return Err(invalid(
            "docs",
            format!("expected a 2-D (total_tokens, dim) array, got {} dimension(s)", d.ndim()),
        ));
    }
    let docs = if d.dtype().is_equiv_to(&dtype::<f32>(py)) {
        DocsBuf::F32(Mat2::new(d, "docs")?)
    } else if d.dtype().is_equiv_to(&dtype::<f16>(py)) {
        DocsBuf::F16(Mat2::new(d, "docs")?)
    } else {
        return Err(invalid("docs", format!("expected dtype float32 or float16, got {}", dtype_name(d))));
    };
    if docs.dim() != query.cols {
        return Err(invalid("docs", format!("has dim {}, but query has dim {}", docs.dim(), query.cols)));
    }

    let o = as_array(offsets, "offsets")?;
    if o.ndim() != 1 {
        return Err(invalid("offsets", format!("expected a 1-D (n_docs + 1,) array, got {} dimension(s)", o.ndim())));
    }
    if !o.dtype().is_equiv_to(&dtype::<i64>(py)) {
        return Err(invalid("offsets", format!("expected dtype int64, got {}", dtype_name(o))));
    }
    let offsets: Vec<i64> = o.cast::<PyArray1<i64>>()?.readonly().as_array().iter().copied().collect();

    let threads = match threads {
        None => None,
        Some(t) if t >= 1 => Some(t as usize),
        Some(t) => return Err(invalid("threads", format!("must be at least 1, got {t}"))),
    };
    let isa = isa.map(Isa::from_name).transpose().map_err(to_py)?;
    Ok(Args { query, docs, offsets, opts: MaxSimOptions { threads, isa } })
}

/// maxsim(query, docs, offsets, *, threads=None, isa=None) -> numpy.ndarray[float32]
#[pyfunction]
#[pyo3(signature = (query, docs, offsets, *, threads=None, isa=None))]
fn maxsim<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let a = parse_args(py, query, docs, offsets, threads, isa)?;
    let query = Query::new(a.query.data(), a.query.rows, a.query.cols);
    let docs = a.docs.docs();
    let offsets = &a.offsets[..];
    let opts = a.opts;
    let scores = py.detach(|| kernels::maxsim(query, docs, offsets, opts)).map_err(to_py)?;
    Ok(scores.into_pyarray(py))
}

/// Document indices and scores, best first.
type TopK<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f32>>);

/// maxsim_topk(query, docs, offsets, k, *, candidates=None, threads=None, isa=None)
///     -> (numpy.ndarray[int64], numpy.ndarray[float32])
#[pyfunction]
#[pyo3(signature = (query, docs, offsets, k, *, candidates=None, threads=None, isa=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn maxsim_topk<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = k_arg)] k: i64,
    candidates: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<TopK<'py>> {
    if k < 0 {
        return Err(invalid("k", format!("must be non-negative, got {k}")));
    }
    let a = parse_args(py, query, docs, offsets, threads, isa)?;
    let cands: Option<Vec<i64>> = match candidates {
        None => None,
        Some(c) => {
            let arr = as_array(c, "candidates")?;
            if arr.ndim() != 1 {
                return Err(invalid("candidates", format!("expected a 1-D array, got {} dimension(s)", arr.ndim())));
            }
            if !arr.dtype().is_equiv_to(&dtype::<i64>(py)) {
                return Err(invalid("candidates", format!("expected dtype int64, got {}", dtype_name(arr))));
            }
            Some(arr.cast::<PyArray1<i64>>()?.readonly().as_array().iter().copied().collect())
        }
    };
    let query = Query::new(a.query.data(), a.query.rows, a.query.cols);
    let docs = a.docs.docs();
    let offsets = &a.offsets[..];
    let opts = a.opts;
    let k = k as usize;
    let (idx, scores) =
        py.detach(|| kernels::maxsim_topk(query, docs, offsets, k, cands.as_deref(), opts)).map_err(to_py)?;
    Ok((idx.into_pyarray(py), scores.into_pyarray(py)))
}

/// A 1-D numpy array of `T` (exact dtype), copied into a `Vec` (these inputs are small).
fn vec1<T: Element + Copy>(py: Python<'_>, obj: &Bound<'_, PyAny>, arg: &str, dtype_str: &str) -> PyResult<Vec<T>> {
    let a = as_array(obj, arg)?;
    if a.ndim() != 1 {
        return Err(invalid(arg, format!("expected a 1-D array, got {} dimension(s)", a.ndim())));
    }
    if !a.dtype().is_equiv_to(&dtype::<T>(py)) {
        return Err(invalid(arg, format!("expected dtype {dtype_str}, got {}", dtype_name(a))));
    }
    Ok(a.cast::<PyArray1<T>>()?.readonly().as_array().iter().copied().collect())
}

/// A 1-D numpy array of `T` (exact dtype) as a slice: borrowed when contiguous, else copied once.
struct Vec1<'py, T: Element> {
    borrowed: Option<numpy::PyReadonlyArray1<'py, T>>,
    owned: Vec<T>,
}

impl<'py, T: Element + Copy> Vec1<'py, T> {
    fn new(py: Python<'py>, obj: &Bound<'py, PyAny>, arg: &str, dtype_str: &str) -> PyResult<Self> {
        let a = as_array(obj, arg)?;
        if a.ndim() != 1 {
            return Err(invalid(arg, format!("expected a 1-D array, got {} dimension(s)", a.ndim())));
        }
        if !a.dtype().is_equiv_to(&dtype::<T>(py)) {
            return Err(invalid(arg, format!("expected dtype {dtype_str}, got {}", dtype_name(a))));
        }
        let ro = a.cast::<PyArray1<T>>()?.readonly();
        if ro.as_slice().is_ok() {
            Ok(Vec1 { borrowed: Some(ro), owned: Vec::new() })
        } else {
            let owned = ro.as_array().iter().copied().collect();
            Ok(Vec1 { borrowed: None, owned })
        }
    }

    fn data(&self) -> &[T] {
        match &self.borrowed {
            Some(ro) => ro.as_slice().expect("contiguous arrays are slices"),
            None => &self.owned,
        }
    }
}

fn threads_arg(threads: Option<i64>) -> PyResult<Option<usize>> {
    match threads {
        None => Ok(None),
        Some(t) if t >= 1 => Ok(Some(t as usize)),
        Some(t) => Err(invalid("threads", format!("must be at least 1, got {t}"))),
    }
}

/// Fused keys, scores and per-leg contributions (NaN where a leg did not find the object).
type FusedArrays<'py> = (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<f32>>, Bound<'py, PyArray2<f32>>);

/// fuse(keys, scores, weights, fusion) -> (keys, scores, contributions)
#[pyfunction]
#[pyo3(signature = (keys, scores, weights, fusion="relativeScore"))]
fn fuse<'py>(
    py: Python<'py>,
    keys: Vec<Bound<'py, PyAny>>,
    scores: Vec<Bound<'py, PyAny>>,
    weights: Vec<f64>,
    fusion: &str,
) -> PyResult<FusedArrays<'py>> {
    let fusion = Fusion::from_name(fusion).map_err(to_py)?;
    if keys.len() != scores.len() || keys.len() != weights.len() {
        return Err(invalid(
            "weights",
            format!(
                "{} key lists, {} score lists and {} weights: expected one of each per leg",
                keys.len(),
                scores.len(),
                weights.len()
            ),
        ));
    }
    let keys: Vec<Vec<u64>> = keys.iter().map(|k| vec1::<u64>(py, k, "keys", "uint64")).collect::<PyResult<_>>()?;
    let scores: Vec<Vec<f32>> =
        scores.iter().map(|s| vec1::<f32>(py, s, "scores", "float32")).collect::<PyResult<_>>()?;
    let nlegs = weights.len();
    let fused = py
        .detach(|| {
            let legs: Vec<Leg<'_>> = keys
                .iter()
                .zip(&scores)
                .zip(&weights)
                .map(|((k, s), &w)| Leg { keys: k, scores: s, weight: w })
                .collect();
            kernels::fusion::fuse(&legs, fusion)
        })
        .map_err(to_py)?;
    let n = fused.keys.len();
    let contrib = numpy::ndarray::Array2::from_shape_vec((n, nlegs), fused.contributions)
        .map_err(|e| invalid("keys", e.to_string()))?;
    Ok((fused.keys.into_pyarray(py), fused.scores.into_pyarray(py), contrib.into_pyarray(py)))
}

/// Document numbers and scores, best first.
type Bm25TopK<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<f32>>);

/// bm25_topk(term_docs, term_freqs, term_fields, term_weights, doc_lens, avg_lens, *, n_objects, k1, b,
///           k, allowed=None, term_dfs=None) -> (docs, scores)
#[pyfunction]
#[pyo3(signature = (term_docs, term_freqs, term_fields, term_weights, doc_lens, avg_lens, *, n_objects, k1, b, k, allowed=None, term_dfs=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn bm25_topk<'py>(
    py: Python<'py>,
    term_docs: Vec<Bound<'py, PyAny>>,
    term_freqs: Vec<Bound<'py, PyAny>>,
    term_fields: Vec<i64>,
    term_weights: Vec<f64>,
    doc_lens: Vec<Bound<'py, PyAny>>,
    avg_lens: Vec<f64>,
    n_objects: f64,
    k1: f64,
    b: f64,
    #[pyo3(from_py_with = k_arg)] k: i64,
    allowed: Option<Bound<'py, PyAny>>,
    term_dfs: Option<Vec<f64>>,
) -> PyResult<Bm25TopK<'py>> {
    let nt = term_docs.len();
    if term_freqs.len() != nt || term_fields.len() != nt || term_weights.len() != nt {
        return Err(invalid(
            "term_freqs",
            "term_docs, term_freqs, term_fields and term_weights must have one entry per term",
        ));
    }
    if doc_lens.len() != avg_lens.len() {
        return Err(invalid("avg_lens", format!("{} averages for {} fields", avg_lens.len(), doc_lens.len())));
    }
    if k < 0 {
        return Err(invalid("k", format!("must be non-negative, got {k}")));
    }
    if term_fields.iter().any(|&f| f < 0) {
        return Err(invalid("term_fields", "must be non-negative"));
    }
    if term_dfs.as_ref().is_some_and(|d| d.len() != nt) {
        return Err(invalid("term_dfs", "must have one entry per term"));
    }
    let docs_v: Vec<Vec1<'py, u32>> =
        term_docs.iter().map(|d| Vec1::new(py, d, "term_docs", "uint32")).collect::<PyResult<_>>()?;
    let freqs_v: Vec<Vec1<'py, f32>> =
        term_freqs.iter().map(|f| Vec1::new(py, f, "term_freqs", "float32")).collect::<PyResult<_>>()?;
    let lens_v: Vec<Vec1<'py, f32>> =
        doc_lens.iter().map(|l| Vec1::new(py, l, "doc_lens", "float32")).collect::<PyResult<_>>()?;
    let allowed_v: Option<Vec1<'py, u8>> = allowed.map(|a| Vec1::new(py, &a, "allowed", "uint8")).transpose()?;
    let docs: Vec<&[u32]> = docs_v.iter().map(Vec1::data).collect();
    let freqs: Vec<&[f32]> = freqs_v.iter().map(Vec1::data).collect();
    let lens: Vec<&[f32]> = lens_v.iter().map(Vec1::data).collect();
    let allowed: Option<&[u8]> = allowed_v.as_ref().map(Vec1::data);
    let n_docs = lens.iter().map(|l| l.len()).min().unwrap_or(0);
    let top = py
        .detach(|| {
            let fields: Vec<Field<'_>> =
                lens.iter().zip(&avg_lens).map(|(l, &a)| Field { doc_len: l, avg_len: a as f32 }).collect();
            let terms: Vec<Term<'_>> = (0..nt)
                .map(|i| Term {
                    field: term_fields[i] as usize,
                    docs: docs[i],
                    freqs: freqs[i],
                    weight: term_weights[i] as f32,
                    df: term_dfs.as_ref().map_or(docs[i].len() as f64, |d| d[i]),
                })
                .collect();
            let p = Bm25Params { k1: k1 as f32, b: b as f32, n_objects };
            kernels::bm25::bm25_topk(&fields, &terms, p, n_docs, k as usize, allowed)
        })
        .map_err(to_py)?;
    let (ids, scores): (Vec<u32>, Vec<f32>) = top.into_iter().unzip();
    Ok((ids.into_pyarray(py), scores.into_pyarray(py)))
}

fn muvera_of(dim: usize, ksim: i64, dprojections: i64, repetitions: i64, seed: u64) -> PyResult<Muvera> {
    let positive = |arg: &'static str, v: i64| {
        if v < 1 {
            Err(to_py(KernelError::invalid(arg, format!("must be at least 1, got {v}"))))
        } else {
            Ok(v as usize)
        }
    };
    let (ksim, dprojections, repetitions) =
        (positive("ksim", ksim)?, positive("dprojections", dprojections)?, positive("repetitions", repetitions)?);
    let params = MuveraParams { ksim, dprojections, repetitions, seed };
    Muvera::new(params, dim).map_err(to_py)
}

/// muvera_encode(data, offsets, *, is_query, ksim=4, dprojections=16, repetitions=10, seed=..., threads=None)
///     -> numpy.ndarray[float32] of shape (n, repetitions · 2^ksim · dprojections)
#[pyfunction]
#[pyo3(signature = (data, offsets, *, is_query, ksim=4, dprojections=16, repetitions=10, seed=MuveraParams::default().seed, threads=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn muvera_encode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    is_query: bool,
    ksim: i64,
    dprojections: i64,
    repetitions: i64,
    seed: u64,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let d = as_array(data, "data")?;
    if d.ndim() != 2 {
        return Err(invalid(
            "data",
            format!("expected a 2-D (total_tokens, dim) array, got {} dimension(s)", d.ndim()),
        ));
    }
    if !d.dtype().is_equiv_to(&dtype::<f32>(py)) {
        return Err(invalid("data", format!("expected dtype float32, got {}", dtype_name(d))));
    }
    let data = Mat2::<f32>::new(d, "data")?;
    let offsets = vec1::<i64>(py, offsets, "offsets", "int64")?;
    let threads = threads_arg(threads)?;
    let m = muvera_of(data.cols, ksim, dprojections, repetitions, seed)?;
    let side = if is_query { Side::Query } else { Side::Document };
    let n = offsets.len().saturating_sub(1);
    let fde_dim = m.fde_dim();
    let rows = data.data();
    let out = py.detach(|| m.encode_batch(rows, &offsets, side, threads)).map_err(to_py)?;
    let arr =
        numpy::ndarray::Array2::from_shape_vec((n, fde_dim), out).map_err(|e| invalid("offsets", e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

/// fde_topk(query, fdes, k, *, allowed=None, threads=None) -> (indices, scores)
#[pyfunction]
#[pyo3(signature = (query, fdes, k, *, allowed=None, threads=None))]
fn fde_topk<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    fdes: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = k_arg)] k: i64,
    allowed: Option<Bound<'py, PyAny>>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
) -> PyResult<TopK<'py>> {
    if k < 0 {
        return Err(invalid("k", format!("must be non-negative, got {k}")));
    }
    let q = vec1::<f32>(py, query, "query", "float32")?;
    let f = as_array(fdes, "fdes")?;
    if f.ndim() != 2 {
        return Err(invalid("fdes", format!("expected a 2-D (n, fde_dim) array, got {} dimension(s)", f.ndim())));
    }
    if !f.dtype().is_equiv_to(&dtype::<f32>(py)) {
        return Err(invalid("fdes", format!("expected dtype float32, got {}", dtype_name(f))));
    }
    let fdes = Mat2::<f32>::new(f, "fdes")?;
    if fdes.cols != q.len() {
        return Err(invalid("fdes", format!("has {} columns, but query has {} values", fdes.cols, q.len())));
    }
    let allowed: Option<Vec<u8>> = allowed.map(|a| vec1::<u8>(py, &a, "allowed", "uint8")).transpose()?;
    let threads = threads_arg(threads)?;
    let k = k as usize;
    let table = fdes.data();
    let top = py.detach(|| kernels::muvera::fde_topk(&q, table, k, allowed.as_deref(), threads)).map_err(to_py)?;
    let (idx, scores): (Vec<i64>, Vec<f32>) = top.into_iter().map(|(i, s)| (i as i64, s)).unzip();
    Ok((idx.into_pyarray(py), scores.into_pyarray(py)))
}

/// A 2-D numpy array of exactly dtype `T` (named `dtype_str` in errors).
fn mat2<'py, T: Element + Clone>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    arg: &str,
    dtype_str: &str,
) -> PyResult<Mat2<'py, T>> {
    let a = as_array(obj, arg)?;
    if a.ndim() != 2 {
        return Err(invalid(arg, format!("expected a 2-D array, got {} dimension(s)", a.ndim())));
    }
    if !a.dtype().is_equiv_to(&dtype::<T>(py)) {
        return Err(invalid(arg, format!("expected dtype {dtype_str}, got {}", dtype_name(a))));
    }
    Mat2::new(a, arg)
}

fn candidates_arg(py: Python<'_>, candidates: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i64>>> {
    candidates.map(|c| vec1::<i64>(py, c, "candidates", "int64")).transpose()
}

fn nonneg_k(k: i64) -> PyResult<usize> {
    if k < 0 {
        return Err(invalid("k", format!("must be non-negative, got {k}")));
    }
    Ok(k as usize)
}

fn rows_array<T: Element>(py: Python<'_>, data: Vec<T>, rows: usize, cols: usize) -> PyResult<Bound<'_, PyArray2<T>>> {
    let arr = numpy::ndarray::Array2::from_shape_vec((rows, cols), data).map_err(|e| invalid("data", e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

/// binarize(data) -> numpy.ndarray[uint64] of shape (n, ceil(dim / 64))
#[pyfunction]
fn binarize<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let m = mat2::<f32>(py, data, "data", "float32")?;
    let (rows, dim) = (m.rows, m.cols);
    let d = m.data();
    let codes = py.detach(|| bq::binarize(d, dim)).map_err(to_py)?;
    rows_array(py, codes, rows, bq::words(dim))
}

struct BinaryArgs<'py> {
    query: Mat2<'py, u64>,
    docs: Mat2<'py, u64>,
    offsets: Vec<i64>,
    dim: usize,
    opts: BinaryOptions,
}

fn binary_args<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    dim: i64,
    threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<BinaryArgs<'py>> {
    if dim < 1 {
        return Err(invalid("dim", format!("must be at least 1, got {dim}")));
    }
    let dim = dim as usize;
    let query = mat2::<u64>(py, query, "query", "uint64")?;
    let docs = mat2::<u64>(py, docs, "docs", "uint64")?;
    let w = bq::words(dim);
    if query.cols != w {
        return Err(invalid("query", format!("has {} words per token, dim {dim} needs {w}", query.cols)));
    }
    if docs.cols != w {
        return Err(invalid("docs", format!("has {} words per token, dim {dim} needs {w}", docs.cols)));
    }
    let offsets = vec1::<i64>(py, offsets, "offsets", "int64")?;
    let threads = threads_arg(threads)?;
    let isa = isa.map(BinaryIsa::from_name).transpose().map_err(to_py)?;
    Ok(BinaryArgs { query, docs, offsets, dim, opts: BinaryOptions { threads, isa } })
}

/// maxsim_binary(query, docs, offsets, *, dim, threads=None, isa=None) -> numpy.ndarray[float32]
#[pyfunction]
#[pyo3(signature = (query, docs, offsets, *, dim, threads=None, isa=None))]
fn maxsim_binary<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = dim_arg)] dim: i64,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let a = binary_args(py, query, docs, offsets, dim, threads, isa)?;
    let (q, d, o) = (a.query.data(), a.docs.data(), &a.offsets[..]);
    let scores = py.detach(|| bq::maxsim_binary(q, d, o, a.dim, a.opts)).map_err(to_py)?;
    Ok(scores.into_pyarray(py))
}

/// maxsim_binary_topk(query, docs, offsets, k, *, dim, candidates=None, threads=None, isa=None)
#[pyfunction]
#[pyo3(signature = (query, docs, offsets, k, *, dim, candidates=None, threads=None, isa=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn maxsim_binary_topk<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = k_arg)] k: i64,
    #[pyo3(from_py_with = dim_arg)] dim: i64,
    candidates: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<TopK<'py>> {
    let k = nonneg_k(k)?;
    let a = binary_args(py, query, docs, offsets, dim, threads, isa)?;
    let cands = candidates_arg(py, candidates)?;
    let (q, d, o) = (a.query.data(), a.docs.data(), &a.offsets[..]);
    let (idx, scores) =
        py.detach(|| bq::maxsim_binary_topk(q, d, o, a.dim, k, cands.as_deref(), a.opts)).map_err(to_py)?;
    Ok((idx.into_pyarray(py), scores.into_pyarray(py)))
}

fn dim_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    int_arg(obj, "dim")
}

/// Codes (n, dim) and one scale per row.
type Int8Codes<'py> = (Bound<'py, PyArray2<i8>>, Bound<'py, PyArray1<f32>>);

/// quantize_int8(data) -> (codes int8 (n, dim), scales float32 (n,))
#[pyfunction]
fn quantize_int8<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Int8Codes<'py>> {
    let m = mat2::<f32>(py, data, "data", "float32")?;
    let (rows, dim) = (m.rows, m.cols);
    let d = m.data();
    let (codes, scales) = py.detach(|| sq::quantize(d, dim)).map_err(to_py)?;
    Ok((rows_array(py, codes, rows, dim)?, scales.into_pyarray(py)))
}

struct Int8Args<'py> {
    query: Mat2<'py, i8>,
    qscales: Vec<f32>,
    docs: Mat2<'py, i8>,
    dscales: Vec1<'py, f32>,
    offsets: Vec<i64>,
    opts: Int8Options,
}

#[allow(clippy::too_many_arguments)]
fn int8_args<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    query_scales: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    doc_scales: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<Int8Args<'py>> {
    let query = mat2::<i8>(py, query, "query", "int8")?;
    let qscales = vec1::<f32>(py, query_scales, "query_scales", "float32")?;
    let docs = mat2::<i8>(py, docs, "docs", "int8")?;
    if docs.cols != query.cols {
        return Err(invalid("docs", format!("has dim {}, but query has dim {}", docs.cols, query.cols)));
    }
    if qscales.len() != query.rows {
        return Err(invalid("query_scales", format!("holds {} scales for {} query rows", qscales.len(), query.rows)));
    }
    let dscales = Vec1::<f32>::new(py, doc_scales, "doc_scales", "float32")?;
    let offsets = vec1::<i64>(py, offsets, "offsets", "int64")?;
    let threads = threads_arg(threads)?;
    let isa = isa.map(Int8Isa::from_name).transpose().map_err(to_py)?;
    Ok(Int8Args { query, qscales, docs, dscales, offsets, opts: Int8Options { threads, isa } })
}

/// maxsim_int8(query, query_scales, docs, doc_scales, offsets, *, threads=None, isa=None)
#[pyfunction]
#[pyo3(signature = (query, query_scales, docs, doc_scales, offsets, *, threads=None, isa=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn maxsim_int8<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    query_scales: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    doc_scales: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let a = int8_args(py, query, query_scales, docs, doc_scales, offsets, threads, isa)?;
    let dim = a.query.cols;
    let (q, qs, d, ds, o) = (a.query.data(), &a.qscales[..], a.docs.data(), a.dscales.data(), &a.offsets[..]);
    let scores = py.detach(|| sq::maxsim_int8(q, qs, d, ds, o, dim, a.opts)).map_err(to_py)?;
    Ok(scores.into_pyarray(py))
}

/// maxsim_int8_topk(query, query_scales, docs, doc_scales, offsets, k, *, candidates=None, threads=None, isa=None)
#[pyfunction]
#[pyo3(signature = (query, query_scales, docs, doc_scales, offsets, k, *, candidates=None, threads=None, isa=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn maxsim_int8_topk<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    query_scales: &Bound<'py, PyAny>,
    docs: &Bound<'py, PyAny>,
    doc_scales: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = k_arg)] k: i64,
    candidates: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<TopK<'py>> {
    let k = nonneg_k(k)?;
    let a = int8_args(py, query, query_scales, docs, doc_scales, offsets, threads, isa)?;
    let cands = candidates_arg(py, candidates)?;
    let dim = a.query.cols;
    let (q, qs, d, ds, o) = (a.query.data(), &a.qscales[..], a.docs.data(), a.dscales.data(), &a.offsets[..]);
    let (idx, scores) =
        py.detach(|| sq::maxsim_int8_topk(q, qs, d, ds, o, dim, k, cands.as_deref(), a.opts)).map_err(to_py)?;
    Ok((idx.into_pyarray(py), scores.into_pyarray(py)))
}

/// fde_topk_int8(query, query_scale, codes, scales, k, *, allowed=None, threads=None, isa=None)
/// -> (indices, scores): the int8 encodings scan (see `quant::fde`).
#[pyfunction]
#[pyo3(signature = (query, query_scale, codes, scales, k, *, allowed=None, threads=None, isa=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn fde_topk_int8<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    query_scale: f32,
    codes: &Bound<'py, PyAny>,
    scales: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = k_arg)] k: i64,
    allowed: Option<Bound<'py, PyAny>>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<TopK<'py>> {
    let k = nonneg_k(k)?;
    let q = vec1::<i8>(py, query, "query", "int8")?;
    let table = mat2::<i8>(py, codes, "codes", "int8")?;
    if table.cols != q.len() {
        return Err(invalid("codes", format!("has {} columns, but query has {} values", table.cols, q.len())));
    }
    if !query_scale.is_finite() {
        return Err(invalid("query_scale", format!("must be finite, got {query_scale}")));
    }
    let sc = Vec1::<f32>::new(py, scales, "scales", "float32")?;
    let allowed: Option<Vec<u8>> = allowed.map(|a| vec1::<u8>(py, &a, "allowed", "uint8")).transpose()?;
    let threads = threads_arg(threads)?;
    let isa = isa.map(FdeIsa::from_name).transpose().map_err(to_py)?;
    let opts = FdeOptions { threads, isa };
    let (c, s) = (table.data(), sc.data());
    let top = py.detach(|| qfde::fde_topk_int8(&q, query_scale, c, s, k, allowed.as_deref(), opts)).map_err(to_py)?;
    let (idx, scores): (Vec<i64>, Vec<f32>) = top.into_iter().map(|(i, s)| (i as i64, s)).unzip();
    Ok((idx.into_pyarray(py), scores.into_pyarray(py)))
}

/// The int8 encodings scan's paths on this CPU, slowest first.
#[pyfunction]
fn fde_isas() -> Vec<&'static str> {
    FdeIsa::available().into_iter().map(FdeIsa::name).collect()
}

/// The binary kernel's paths on this CPU, slowest first.
#[pyfunction]
fn binary_isas() -> Vec<&'static str> {
    BinaryIsa::available().into_iter().map(BinaryIsa::name).collect()
}

/// The int8 kernel's paths on this CPU, slowest first.
#[pyfunction]
fn int8_isas() -> Vec<&'static str> {
    Int8Isa::available().into_iter().map(Int8Isa::name).collect()
}

fn pool_factor_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    int_arg(obj, "pool_factor")
}

fn pool_factor_usize(pf: i64) -> PyResult<usize> {
    if pf < 1 {
        return Err(invalid("pool_factor", format!("must be at least 1, got {pf}")));
    }
    Ok(pf as usize)
}

/// Pooled vectors, their page offsets and each input token's cluster.
type PooledBatch<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>);

/// pool_tokens_batch(data, offsets, pool_factor, *, normalize=True, threads=None)
///     -> (pooled (m, dim), pooled_offsets (n + 1,), labels (total,))
#[pyfunction]
#[pyo3(signature = (data, offsets, pool_factor, *, normalize=true, threads=None))]
fn pool_tokens_batch<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = pool_factor_arg)] pool_factor: i64,
    normalize: bool,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
) -> PyResult<PooledBatch<'py>> {
    let pf = pool_factor_usize(pool_factor)?;
    let m = mat2::<f32>(py, data, "data", "float32")?;
    let offsets = vec1::<i64>(py, offsets, "offsets", "int64")?;
    let threads = threads_arg(threads)?;
    let dim = m.cols;
    let d = m.data();
    let p = py.detach(|| tokenpool::pool_batch(d, &offsets, dim, pf, normalize, threads)).map_err(to_py)?;
    let rows = p.vectors.len() / dim.max(1);
    Ok((rows_array(py, p.vectors, rows, dim)?, p.offsets.into_pyarray(py), p.labels.into_pyarray(py)))
}

/// The arguments of a dense (single-vector) search: the query, the stored rows, the distance, options.
struct DenseArgs<'py> {
    query: Vec1<'py, f32>,
    rows: DocsBuf<'py>,
    metric: Metric,
    candidates: Option<Vec<i64>>,
    opts: DenseOptions,
}

#[allow(clippy::too_many_arguments)] // the Python signature's arguments, checked one by one
fn dense_args<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    metric: &str,
    candidates: Option<&Bound<'py, PyAny>>,
    threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<DenseArgs<'py>> {
    let query = Vec1::<f32>::new(py, query, "query", "float32")?;
    let r = as_array(rows, "rows")?;
    if r.ndim() != 2 {
        return Err(invalid("rows", format!("expected a 2-D (n, dim) array, got {} dimension(s)", r.ndim())));
    }
    let rows = if r.dtype().is_equiv_to(&dtype::<f32>(py)) {
        DocsBuf::F32(Mat2::new(r, "rows")?)
    } else if r.dtype().is_equiv_to(&dtype::<f16>(py)) {
        DocsBuf::F16(Mat2::new(r, "rows")?)
    } else {
        return Err(invalid("rows", format!("expected dtype float32 or float16, got {}", dtype_name(r))));
    };
    if rows.dim() != query.data().len() {
        return Err(invalid("rows", format!("has dim {}, but query has {} values", rows.dim(), query.data().len())));
    }
    let metric = Metric::from_name(metric).map_err(to_py)?;
    let candidates = candidates_arg(py, candidates)?;
    let threads = threads_arg(threads)?;
    let isa = isa.map(Isa::from_name).transpose().map_err(to_py)?;
    Ok(DenseArgs { query, rows, metric, candidates, opts: DenseOptions { threads, isa } })
}

impl DocsBuf<'_> {
    fn dense_rows(&self) -> Rows<'_> {
        match self {
            DocsBuf::F32(m) => Rows::F32(m.data()),
            DocsBuf::F16(m) => Rows::F16(m.data()),
        }
    }
}

/// dense_distances(query, rows, *, metric="cosine", candidates=None, threads=None, isa=None)
///     -> numpy.ndarray[float32]
#[pyfunction]
#[pyo3(signature = (query, rows, *, metric="cosine", candidates=None, threads=None, isa=None))]
fn dense_distances<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    metric: &str,
    candidates: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let a = dense_args(py, query, rows, metric, candidates, threads, isa)?;
    let (q, r, m, c, o) = (a.query.data(), a.rows.dense_rows(), a.metric, a.candidates.as_deref(), a.opts);
    let out = py.detach(|| dense::dense_distances(q, r, m, c, o)).map_err(to_py)?;
    Ok(out.into_pyarray(py))
}

/// dense_topk(query, rows, k, *, metric="cosine", candidates=None, threads=None, isa=None)
///     -> (numpy.ndarray[int64], numpy.ndarray[float32])
#[pyfunction]
#[pyo3(signature = (query, rows, k, *, metric="cosine", candidates=None, threads=None, isa=None))]
#[allow(clippy::too_many_arguments)] // mirrors the Python signature
fn dense_topk<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = k_arg)] k: i64,
    metric: &str,
    candidates: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = threads_opt)] threads: Option<i64>,
    isa: Option<&str>,
) -> PyResult<TopK<'py>> {
    let k = nonneg_k(k)?;
    let a = dense_args(py, query, rows, metric, candidates, threads, isa)?;
    let (q, r, m, c, o) = (a.query.data(), a.rows.dense_rows(), a.metric, a.candidates.as_deref(), a.opts);
    let (idx, dist) = py.detach(|| dense::dense_topk(q, r, k, m, c, o)).map_err(to_py)?;
    Ok((idx.into_pyarray(py), dist.into_pyarray(py)))
}

/// The SIMD paths this CPU supports, slowest first (e.g. ``["portable", "avx2", "avx512"]``).
#[pyfunction]
fn available_isas() -> Vec<&'static str> {
    Isa::available().into_iter().map(Isa::name).collect()
}

/// The SIMD path used when none is requested.
#[pyfunction]
fn default_isa() -> &'static str {
    Isa::best().name()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ColweaveNativeError", py.get_type::<ColweaveNativeError>())?;
    m.add("InvalidArgumentError", py.get_type::<InvalidArgumentError>())?;
    m.add("UnsupportedIsaError", py.get_type::<UnsupportedIsaError>())?;
    m.add_function(wrap_pyfunction!(maxsim, m)?)?;
    m.add_function(wrap_pyfunction!(maxsim_topk, m)?)?;
    m.add_function(wrap_pyfunction!(fuse, m)?)?;
    m.add_function(wrap_pyfunction!(bm25_topk, m)?)?;
    m.add_function(wrap_pyfunction!(muvera_encode, m)?)?;
    m.add_function(wrap_pyfunction!(fde_topk, m)?)?;
    m.add_function(wrap_pyfunction!(fde_topk_int8, m)?)?;
    m.add_function(wrap_pyfunction!(fde_isas, m)?)?;
    m.add_function(wrap_pyfunction!(dense_distances, m)?)?;
    m.add_function(wrap_pyfunction!(dense_topk, m)?)?;
    m.add_function(wrap_pyfunction!(available_isas, m)?)?;
    m.add_function(wrap_pyfunction!(binarize, m)?)?;
    m.add_function(wrap_pyfunction!(maxsim_binary, m)?)?;
    m.add_function(wrap_pyfunction!(maxsim_binary_topk, m)?)?;
    m.add_function(wrap_pyfunction!(quantize_int8, m)?)?;
    m.add_function(wrap_pyfunction!(maxsim_int8, m)?)?;
    m.add_function(wrap_pyfunction!(maxsim_int8_topk, m)?)?;
    m.add_function(wrap_pyfunction!(binary_isas, m)?)?;
    m.add_function(wrap_pyfunction!(int8_isas, m)?)?;
    m.add_function(wrap_pyfunction!(pool_tokens_batch, m)?)?;
    m.add_function(wrap_pyfunction!(default_isa, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
