//! The one error type of the kernels. The Python binding maps each variant to one exception class
//! (all derived from `ValueError`), so a message always names the argument at fault.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// An argument has the wrong shape, length, value or dtype. `arg` is the parameter's name.
    InvalidArgument { arg: &'static str, message: String },
    /// A SIMD path was requested that this CPU (or this build) does not support.
    /// `available` lists the paths this CPU supports for that kernel family.
    UnsupportedIsa { isa: String, available: String },
}

impl KernelError {
    pub fn invalid(arg: &'static str, message: impl Into<String>) -> Self {
        KernelError::InvalidArgument { arg, message: message.into() }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::InvalidArgument { arg, message } => write!(f, "{arg}: {message}"),
            KernelError::UnsupportedIsa { isa, available } => {
                write!(f, "isa: {isa:?} is not supported on this CPU (available: {available})")
            }
        }
    }
}

impl std::error::Error for KernelError {}

pub type Result<T> = std::result::Result<T, KernelError>;
