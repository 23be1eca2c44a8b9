//! The portable kernel: fixed-size array arithmetic that LLVM vectorises with the target's baseline SIMD
//! (SSE2 on x86-64, NEON on aarch64). It is also the reference the SIMD paths are tested against.

use super::{pack_scalar, Kernel, KC, PANEL};
use half::f16;

pub(crate) struct Portable;

const G: usize = 4;

unsafe impl Kernel for Portable {
    const G: usize = G;

    unsafe fn pack_f32(rows: &[f32], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        let buf = std::slice::from_raw_parts_mut(buf, G * dim_pad);
        pack_scalar(rows, n, dim, dim_pad, G, buf, |v| v);
    }

    unsafe fn pack_f16(rows: &[f16], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        let buf = std::slice::from_raw_parts_mut(buf, G * dim_pad);
        pack_scalar(rows, n, dim, dim_pad, G, buf, f16::to_f32);
    }

    unsafe fn tile(
        qpanel: *const f32,
        buf: *const f32,
        chunks: usize,
        runmax: *mut f32,
        _pf: *const i8,
        _pf_stride: usize,
    ) {
        let q = std::slice::from_raw_parts(qpanel, chunks * KC * PANEL);
        let b = std::slice::from_raw_parts(buf, chunks * G * KC);
        let rm = &mut *(runmax as *mut [f32; PANEL]);
        let mut acc = [[0f32; PANEL]; G];
        for c in 0..chunks {
            let bc = &b[c * G * KC..][..G * KC];
            for kk in 0..KC {
                let qk: &[f32; PANEL] = q[(c * KC + kk) * PANEL..][..PANEL].try_into().unwrap();
                for (t, a) in acc.iter_mut().enumerate() {
                    let v = bc[t * KC + kk];
                    for l in 0..PANEL {
                        a[l] += qk[l] * v;
                    }
                }
            }
        }
        for a in &acc {
            for l in 0..PANEL {
                rm[l] = rm[l].max(a[l]);
            }
        }
    }
}
