//! colweave's compute kernels, in pure Rust (no Python): the PyO3 layer in `rust/python` only checks
//! arguments, borrows numpy buffers and releases the GIL around these functions.
//!
//! * [`maxsim`]: late-interaction scoring (`Σ_q max_t q·t`) over documents packed back to back, with the
//!   SIMD instruction set chosen at run time ([`Isa`]).
//! * [`topk`]: the `k` best scores, ties broken by the lower index.
//! * [`dense`]: exact nearest neighbours of single vectors with Weaviate's distances (cosine, dot,
//!   l2-squared, manhattan, hamming), SIMD chosen at run time.
//! * [`fusion`]: hybrid-search fusion (relativeScore, ranked) of result lists.
//! * [`bm25`]: BM25 scoring of postings with Weaviate's formula.
//! * [`muvera`]: MUVERA fixed-dimensional encodings and a brute-force scan over them.
//! * [`quant`]: binary and int8 multi-vectors with popcount / VNNI MaxSim for candidate scoring.
//! * [`tokenpool`]: hierarchical (Ward) token pooling of a page's vectors.

pub mod bm25;
pub mod dense;
pub mod error;
pub mod fusion;
pub mod isa;
pub mod maxsim;
pub mod muvera;
mod pool;
pub mod quant;
pub mod tokenpool;
pub mod topk;

pub use error::KernelError;
pub use isa::Isa;
pub use maxsim::{maxsim, maxsim_topk, Docs, MaxSimOptions, Query};
