//! `im2col` and its adjoint as written from the definition: one element at a time, each
//! position checked against the padding. The reference `fast.rs` is held to, bit for bit.

use super::geometry::Geometry;
use super::lowered::Lowering;

/// The readable lowering (see [`Lowering`]).
#[derive(Clone, Copy)]
pub(crate) struct Plain;

impl Lowering for Plain {
    fn columns<'a>(&self, g: &Geometry, x: &'a [f32], cols: &'a mut [f32]) -> &'a [f32] {
        let cols = &mut cols[..g.cols_len()];
        for_each_tap(g, |tap, source| {
            cols[tap] = source.map_or(0.0, |s| x[s]);
        });
        cols
    }

    fn add_columns(&self, g: &Geometry, cols: &[f32], dx: &mut [f32]) {
        for_each_tap(g, |tap, source| {
            if let Some(s) = source {
                dx[s] += cols[tap];
            }
        });
    }
}

/// Calls `f(tap, source)` for every element of an image's columns, in row-major order of the
/// columns `[(c, i, j), (oh, ow)]`: `tap` is its index there, `source` the index in the image
/// `[c_in, h, w]` that kernel tap `(i, j)` of channel `c` reads at output `(oh, ow)`, or `None`
/// in the padding.
fn for_each_tap(g: &Geometry, mut f: impl FnMut(usize, Option<usize>)) {
    let mut tap = 0;
    for c in 0..g.c_in {
        for i in 0..g.kh {
            for j in 0..g.kw {
                for oh in 0..g.oh {
                    for ow in 0..g.ow {
                        let source = match (g.input_row(oh, i), g.input_col(ow, j)) {
                            (Some(r), Some(s)) => Some((c * g.h + r) * g.w + s),
                            _ => None,
                        };
                        f(tap, source);
                        tap += 1;
                    }
                }
            }
        }
    }
}
