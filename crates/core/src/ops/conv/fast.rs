//! The lowering the op runs: `plain.rs`'s arithmetic, in the same order, with the padding
//! checks hoisted out of the inner loop. Per row of the columns and output row, the span of
//! output columns that reads inside the image is computed once; it is a plain copy (a strided
//! one for stride > 1) and the rest is zeros. A pointwise kernel (1x1, stride 1, no padding)
//! reads the image as its own columns. The tests hold it to `plain.rs` bit for bit.

use super::geometry::Geometry;
use super::lowered::Lowering;
use std::ops::Range;

/// The lowering of [`Lowering`] by spans (see the module's documentation).
#[derive(Clone, Copy)]
pub(crate) struct Fast;

/// The output columns whose kernel column `j` reads inside the image: `ow * sw + j * dw - pw`
/// in `[0, w)`.
fn inside(g: &Geometry, j: usize) -> Range<usize> {
    let offset = j * g.dw;
    // The first `ow` with `ow * sw + offset >= pw`.
    let lo = g.pw.saturating_sub(offset).div_ceil(g.sw);
    // One past the last `ow` with `ow * sw + offset <= w - 1 + pw`.
    let hi = (g.w - 1 + g.pw)
        .checked_sub(offset)
        .map_or(0, |room| room / g.sw + 1)
        .min(g.ow);
    lo.min(hi)..hi
}

/// Calls `f(range, source)` for every piece of an image's columns, in order: per
/// `(c, i, j, oh)`, the output columns left of [`inside`]'s span, the span, and those right of
/// it (empty pieces skipped). `range` indexes the columns `[(c, i, j), (oh, ow)]`; `source` is
/// the image index the span's first element reads (the next ones are `sw` apart), or `None`
/// for padding.
fn for_each_piece(g: &Geometry, mut f: impl FnMut(Range<usize>, Option<usize>)) {
    let mut start = 0;
    for c in 0..g.c_in {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let span = inside(g, j);
                for oh in 0..g.oh {
                    let row = start..start + g.ow;
                    start += g.ow;
                    let Some(r) = g.input_row(oh, i) else {
                        f(row, None);
                        continue;
                    };
                    let first = (c * g.h + r) * g.w + span.start * g.sw + j * g.dw - g.pw;
                    let pieces = [
                        (row.start..row.start + span.start, None),
                        (row.start + span.start..row.start + span.end, Some(first)),
                        (row.start + span.end..row.end, None),
                    ];
                    for (range, source) in pieces {
                        if !range.is_empty() {
                            f(range, source);
                        }
                    }
                }
            }
        }
    }
}

impl Lowering for Fast {
    fn columns<'a>(&self, g: &Geometry, x: &'a [f32], cols: &'a mut [f32]) -> &'a [f32] {
        if g.is_pointwise() {
            return x;
        }
        let cols = &mut cols[..g.cols_len()];
        for_each_piece(g, |range, source| {
            let out = &mut cols[range];
            match (source, g.sw) {
                (None, _) => out.fill(0.0),
                (Some(first), 1) => copy_run(out, &x[first..first + out.len()]),
                (Some(first), s) => {
                    let read = x[first..].iter().step_by(s);
                    out.iter_mut().zip(read).for_each(|(o, &v)| *o = v)
                }
            }
        });
        cols
    }

    fn add_columns(&self, g: &Geometry, cols: &[f32], dx: &mut [f32]) {
        for_each_piece(g, |range, source| {
            let Some(first) = source else { return };
            let from = &cols[range];
            match g.sw {
                // Contiguous: a loop the compiler vectorises.
                1 => {
                    let to = &mut dx[first..first + from.len()];
                    to.iter_mut().zip(from).for_each(|(d, &v)| *d += v);
                }
                s => {
                    let to = dx[first..].iter_mut().step_by(s);
                    to.zip(from).for_each(|(d, &v)| *d += v);
                }
            }
        });
    }
}

/// `to.copy_from_slice(from)` for the short runs of a row of columns (an output row, a few
/// dozen floats), in blocks of 8 moved inline: a call to `memmove` per run cost more than the
/// copy itself (6% of a 32 -> 64 channel convolution's time). The last block ends at the
/// end, overlapping the one before with the same values.
fn copy_run(to: &mut [f32], from: &[f32]) {
    const BLOCK: usize = 8;
    let n = to.len();
    if n < BLOCK {
        to.iter_mut().zip(from).for_each(|(t, &f)| *t = f);
        return;
    }
    let block = |to: &mut [f32], from: &[f32]| {
        let to: &mut [f32; BLOCK] = to.try_into().expect("a block");
        *to = from.try_into().expect("a block");
    };
    for (t, f) in to.chunks_exact_mut(BLOCK).zip(from.chunks_exact(BLOCK)) {
        block(t, f);
    }
    block(&mut to[n - BLOCK..], &from[n - BLOCK..n]);
}
