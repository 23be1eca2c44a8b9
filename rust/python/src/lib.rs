//! `colweave._native`: the thin PyO3 layer over `colweave-kernels`. It checks dtypes and shapes, borrows
//! numpy buffers without copying (non-contiguous inputs are copied once), releases the GIL for the work
//! and returns numpy arrays. Kernel errors map to one exception hierarchy rooted at `ColweaveNativeError`
//! (a `ValueError`).

use colweave_kernels::{self as kernels, Docs, Isa, KernelError, MaxSimOptions, Query};
use half::f16;
use numpy::{
    dtype, Element, IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
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
    threads: Option<i64>,
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
    k: i64,
    candidates: Option<&Bound<'py, PyAny>>,
    threads: Option<i64>,
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
    m.add_function(wrap_pyfunction!(available_isas, m)?)?;
    m.add_function(wrap_pyfunction!(default_isa, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
