//! aarch64 NEON kernel (NEON is part of the aarch64 baseline): 16 queries (4 q registers) × 6 tokens =
//! 24 accumulators + 4 query registers + 1 broadcast, within the 32 vector registers.

use super::{pack_scalar, Kernel, KC, PANEL};
use half::f16;
use half::slice::HalfFloatSliceExt;
use std::arch::aarch64::*;

pub(crate) struct Neon;
const G: usize = 6;

unsafe impl Kernel for Neon {
    const G: usize = G;

    unsafe fn pack_f32(rows: &[f32], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        if !dim.is_multiple_of(KC) {
            let b = std::slice::from_raw_parts_mut(buf, G * dim_pad);
            pack_scalar(rows, n, dim, dim_pad, G, b, |v| v);
            return;
        }
        for t in 0..G {
            let src = rows.as_ptr().add(t.min(n - 1) * dim);
            for c in 0..dim / KC {
                let (s, d) = (src.add(c * KC), buf.add((c * G + t) * KC));
                vst1q_f32(d, vld1q_f32(s));
                vst1q_f32(d.add(4), vld1q_f32(s.add(4)));
                vst1q_f32(d.add(8), vld1q_f32(s.add(8)));
                vst1q_f32(d.add(12), vld1q_f32(s.add(12)));
            }
        }
    }

    unsafe fn pack_f16(rows: &[f16], n: usize, dim: usize, dim_pad: usize, buf: *mut f32) {
        let b = std::slice::from_raw_parts_mut(buf, G * dim_pad);
        if !dim.is_multiple_of(KC) {
            pack_scalar(rows, n, dim, dim_pad, G, b, f16::to_f32);
            return;
        }
        for t in 0..G {
            let src = &rows[t.min(n - 1) * dim..][..dim];
            for c in 0..dim / KC {
                // `half` converts with the FP16 instructions when the CPU has them.
                src[c * KC..][..KC].convert_to_f32_slice(&mut b[(c * G + t) * KC..][..KC]);
            }
        }
    }

    unsafe fn tile(qpanel: *const f32, buf: *const f32, chunks: usize, runmax: *mut f32, _pf: *const i8, _s: usize) {
        let z = vdupq_n_f32(0.0);
        let mut a = [[z; 4]; G];
        let mut qp = qpanel;
        let mut bp = buf;
        for _ in 0..chunks {
            for kk in 0..KC {
                let q = qp.add(kk * PANEL);
                let (q0, q1, q2, q3) = (vld1q_f32(q), vld1q_f32(q.add(4)), vld1q_f32(q.add(8)), vld1q_f32(q.add(12)));
                for (t, acc) in a.iter_mut().enumerate() {
                    let b = vld1q_dup_f32(bp.add(t * KC + kk));
                    acc[0] = vfmaq_f32(acc[0], q0, b);
                    acc[1] = vfmaq_f32(acc[1], q1, b);
                    acc[2] = vfmaq_f32(acc[2], q2, b);
                    acc[3] = vfmaq_f32(acc[3], q3, b);
                }
            }
            qp = qp.add(KC * PANEL);
            bp = bp.add(G * KC);
        }
        for r in 0..4 {
            let mut m = vld1q_f32(runmax.add(4 * r));
            for acc in &a {
                m = vmaxq_f32(m, acc[r]);
            }
            vst1q_f32(runmax.add(4 * r), m);
        }
    }
}
