//! Run-time selection of the SIMD instruction set. Every path is compiled into every build
//! (`#[target_feature]` functions); which one runs is decided by CPU feature detection when the
//! process asks, never by compile-time `cfg` alone.

use crate::error::{KernelError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain Rust on fixed-size arrays; LLVM vectorises it with the target's baseline SIMD
    /// (SSE2 on x86-64, NEON on aarch64, where NEON is part of the baseline).
    Portable,
    /// x86-64 AVX2 + FMA (+ F16C for float16 storage): a 16 query × 6 token register tile.
    Avx2,
    /// x86-64 AVX-512F: a 16 query × 24 token register tile with embedded broadcasts.
    Avx512,
    /// aarch64 NEON (always present there): a 16 query × 6 token register tile.
    Neon,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Portable, Isa::Neon, Isa::Avx2, Isa::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    pub fn from_name(name: &str) -> Result<Isa> {
        match name {
            "portable" => Ok(Isa::Portable),
            "avx2" => Ok(Isa::Avx2),
            "avx512" => Ok(Isa::Avx512),
            "neon" => Ok(Isa::Neon),
            other => Err(KernelError::invalid(
                "isa",
                format!("unknown instruction set {other:?} (expected one of: portable, avx2, avx512, neon)"),
            )),
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The paths this CPU supports, slowest first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.iter().copied().filter(|i| i.is_supported()).collect()
    }

    /// The fastest supported path (cached after the first call).
    pub fn best() -> Isa {
        static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| *Isa::available().last().expect("portable is always available"))
    }

    pub(crate) fn checked(self) -> Result<Isa> {
        if self.is_supported() {
            Ok(self)
        } else {
            let available = Isa::available().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ");
            Err(KernelError::UnsupportedIsa { isa: self.name().to_string(), available })
        }
    }
}
