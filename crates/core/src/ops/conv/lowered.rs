//! Convolution lowered to matrix products, one image at a time: the image's columns
//! (`im2col`, `[c_in kh kw, oh ow]`) times the weight viewed as `[c_out, c_in kh kw]`, per
//! group. The backward recomputes the columns rather than keeping them (an image's columns
//! are `kh kw` times the image), and cuts the batch into the chunks of
//! [`Geometry::images_per_chunk`]: the weight gradient is summed image by image within a
//! chunk, then chunk by chunk in order, so the same bits come out however many threads run
//! the chunks.
//!
//! How an image becomes columns, and columns flow back into an image, is a [`Lowering`]:
//! `plain.rs` has the loops as written from the definition, `fast.rs` the same arithmetic
//! with the bounds hoisted out of the inner loops. The two give the same bits.

use super::geometry::Geometry;
use tapegrad_kernels::{for_each_item, gemm, MatRef};

/// The two data movements of a lowered convolution.
pub(crate) trait Lowering: Sync {
    /// An image's columns: `x` is one image `[c_in, h, w]`; the result is
    /// `[c_in kh kw, oh ow]`, row `(c, i, j)` holding what kernel tap `(i, j)` of channel `c`
    /// sees at every output position (0 in the padding). `scratch` has room for it; an
    /// implementation may return the image itself when that is the same matrix.
    fn columns<'a>(&self, g: &Geometry, x: &'a [f32], scratch: &'a mut [f32]) -> &'a [f32];

    /// The adjoint of [`columns`](Self::columns): adds every element of `cols` into the image
    /// element `dx` it was read from (padding taps are dropped). Each element of `dx` gets its
    /// contributions in the order of the rows `(c, i, j)`, then of the output positions.
    fn add_columns(&self, g: &Geometry, cols: &[f32], dx: &mut [f32]);
}

/// Whether the chunks run on the kernels' threads or one after the other: either way each
/// chunk computes the same numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    #[cfg_attr(not(test), allow(dead_code))] // with `plain.rs`, by the tests
    Serial,
    Parallel,
}

/// Calls `f(chunk, item)` for every item, as `schedule` says.
fn run<T: Send>(schedule: Schedule, items: Vec<T>, f: impl Fn(usize, T) + Sync) {
    match schedule {
        Schedule::Serial => items.into_iter().enumerate().for_each(|(i, t)| f(i, t)),
        Schedule::Parallel => for_each_item(items, f),
    }
}

/// Group `group`'s part of a `[groups * rows, cols]` matrix stored row-major in `data`.
fn group_of(data: &[f32], group: usize, rows: usize, cols: usize) -> MatRef<'_> {
    MatRef::new(&data[group * rows * cols..][..rows * cols], rows, cols)
}

/// The output of every image: `y[n]` = `weight @ columns(x[n])` per group, plus the bias.
/// `scratch` holds one image's columns per chunk.
pub(crate) fn forward(
    g: &Geometry,
    lowering: &impl Lowering,
    schedule: Schedule,
    (x, weight, bias): (&[f32], &[f32], Option<&[f32]>),
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let per = g.images_per_chunk();
    let (cog, k, l) = (g.c_out_group(), g.k(), g.l());
    let items: Vec<_> = (y.chunks_mut(per * g.out_image_len()))
        .zip(scratch.chunks_mut(g.cols_len()))
        .collect();
    run(schedule, items, |chunk, (y, scratch)| {
        let x = &x[chunk * per * g.image_len()..];
        for (x, y) in x.chunks(g.image_len()).zip(y.chunks_mut(g.out_image_len())) {
            let cols = lowering.columns(g, x, scratch);
            // The bias fills each output row and the product adds onto it (beta 1), as in
            // `linear`.
            let beta = match bias {
                Some(b) => {
                    for (row, &b) in y.chunks_exact_mut(l).zip(b) {
                        row.fill(b);
                    }
                    1.0
                }
                None => 0.0,
            };
            for group in 0..g.groups {
                let w = group_of(weight, group, cog, k);
                let out = &mut y[group * cog * l..][..cog * l];
                gemm(w, group_of(cols, group, k, l), beta, out);
            }
        }
    });
}

/// Where the backward writes, each optional as its input may need no gradient.
pub(crate) struct Grads<'a> {
    /// The input's gradient, `[n, c_in, h, w]`, overwritten.
    pub dx: Option<&'a mut [f32]>,
    /// One partial weight gradient per chunk, `[chunks, c_out, k]`, overwritten.
    pub dw: Option<&'a mut [f32]>,
    /// One partial bias gradient per chunk, `[chunks, c_out]`, in f64, overwritten.
    pub db: Option<&'a mut [f64]>,
}

/// The gradients of one chunk's images, given `dy`: per image, the columns again, then
/// `dw += dy @ cols^T` and `db += sum(dy)` over the chunk, and `dx = add_columns(w^T @ dy)`.
/// `cols` and `dcols` are one image's columns each, per chunk (`dcols` only with `dx`).
pub(crate) fn backward(
    g: &Geometry,
    lowering: &impl Lowering,
    schedule: Schedule,
    (x, weight, dy): (&[f32], &[f32], &[f32]),
    grads: Grads<'_>,
    (cols, dcols): (&mut [f32], &mut [f32]),
) {
    let (per, chunks) = (g.images_per_chunk(), g.chunks());
    let dx = pieces(grads.dx.unwrap_or_default(), per * g.image_len(), chunks);
    let dw = pieces(grads.dw.unwrap_or_default(), g.weight_len(), chunks);
    let db = pieces(grads.db.unwrap_or_default(), g.c_out, chunks);
    let scratch =
        pieces(cols, g.cols_len(), chunks)
            .into_iter()
            .zip(pieces(dcols, g.cols_len(), chunks));
    let items: Vec<_> = (dx.into_iter().zip(dw).zip(db).zip(scratch)).collect();
    run(schedule, items, |chunk, (((dx, dw), db), (cols, dcols))| {
        let images = per.min(g.n - chunk * per);
        let x = &x[chunk * per * g.image_len()..];
        let dy = &dy[chunk * per * g.out_image_len()..];
        db.fill(0.0);
        for image in 0..images {
            let dy = &dy[image * g.out_image_len()..][..g.out_image_len()];
            for (sum, row) in db.iter_mut().zip(dy.chunks_exact(g.l())) {
                *sum += row_sum(row);
            }
            if !dw.is_empty() {
                let x = &x[image * g.image_len()..][..g.image_len()];
                let cols = lowering.columns(g, x, cols);
                weight_grad(g, dy, cols, image > 0, dw);
            }
            if !dx.is_empty() {
                input_grad(
                    g,
                    lowering,
                    (weight, dy),
                    dcols,
                    &mut dx[image * g.image_len()..][..g.image_len()],
                );
            }
        }
    });
}

/// The sum of a row in f64, in 8 lanes (element `i` into lane `i % 8`, the lanes added in
/// order at the end): one running sum would wait on each addition's latency.
fn row_sum(row: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let mut blocks = row.chunks_exact(8);
    for block in &mut blocks {
        lanes
            .iter_mut()
            .zip(block)
            .for_each(|(s, &v)| *s += v as f64);
    }
    let tail: f64 = blocks.remainder().iter().map(|&v| v as f64).sum();
    lanes.iter().sum::<f64>() + tail
}

/// `data` cut into `chunks` pieces of `len` (the last possibly shorter), or `chunks` empty
/// pieces if `data` is empty (an output not wanted).
fn pieces<T>(data: &mut [T], len: usize, chunks: usize) -> Vec<&mut [T]> {
    match data.is_empty() {
        true => (0..chunks).map(|_| <&mut [T]>::default()).collect(),
        false => data.chunks_mut(len).collect(),
    }
}

/// `dw (+)= dy @ cols^T` per group, for one image: overwritten for the chunk's first image,
/// accumulated (beta 1) for the others.
fn weight_grad(g: &Geometry, dy: &[f32], cols: &[f32], accumulate: bool, dw: &mut [f32]) {
    let (cog, k, l) = (g.c_out_group(), g.k(), g.l());
    let beta = if accumulate { 1.0 } else { 0.0 };
    for group in 0..g.groups {
        let dy = group_of(dy, group, cog, l);
        let cols = group_of(cols, group, k, l).t(true);
        gemm(dy, cols, beta, &mut dw[group * cog * k..][..cog * k]);
    }
}

/// `dx = add_columns(w^T @ dy)` for one image: the columns' gradient per group, scattered
/// back into the image (zeroed first).
fn input_grad(
    g: &Geometry,
    lowering: &impl Lowering,
    (weight, dy): (&[f32], &[f32]),
    dcols: &mut [f32],
    dx: &mut [f32],
) {
    let (cog, k, l) = (g.c_out_group(), g.k(), g.l());
    for group in 0..g.groups {
        let w = group_of(weight, group, cog, k).t(true);
        gemm(
            w,
            group_of(dy, group, cog, l),
            0.0,
            &mut dcols[group * k * l..][..k * l],
        );
    }
    dx.fill(0.0);
    lowering.add_columns(g, dcols, dx);
}

/// `out = parts[0] + parts[1] + ...`, each element summed over the parts in order: the chunks'
/// partial weight gradients into the weight gradient.
pub(crate) fn sum_parts(parts: &[f32], out: &mut [f32]) {
    let mut chunks = parts.chunks_exact(out.len());
    match chunks.next() {
        Some(first) => out.copy_from_slice(first),
        None => out.fill(0.0),
    }
    for part in chunks {
        out.iter_mut().zip(part).for_each(|(o, &p)| *o += p);
    }
}
