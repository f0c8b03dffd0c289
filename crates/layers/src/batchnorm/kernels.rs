//! BatchNorm's loops over a panel of whole rows (see `panels.rs`).
//!
//! Each loop goes over the rows in order and, within a row, over the features: a straight
//! loop over equal-length slices, which the compiler vectorises. [`multiversion!`] compiles
//! each for AVX-512, AVX2 and the baseline, with the same bits on all three. The statistics
//! are accumulated in `f64`, per feature over the panel's rows in order; the gradient's sums
//! in `f32` over runs of 16 rows, the runs in `f64` (see [`gradient_sums`]). The number of
//! features is the length of the per-feature slices. The maps take matrices of whole rows;
//! the sums take a column strip's piece of a panel (see `panels::strip`): rows `stride`
//! apart, of which the first values are the strip's features.

use tapegrad_core::multiversion;

/// The per-feature constants of a normalisation: `x_hat = ((x - mean) - mean_lo) * invstd`.
#[derive(Clone, Copy)]
pub(super) struct Norm<'a> {
    pub mean: &'a [f32],
    pub mean_lo: &'a [f32],
    pub invstd: &'a [f32],
}

impl<'a> Norm<'a> {
    /// The constants of the features `cols`.
    pub fn columns(self, cols: std::ops::Range<usize>) -> Norm<'a> {
        Norm {
            mean: &self.mean[cols.clone()],
            mean_lo: &self.mean_lo[cols.clone()],
            invstd: &self.invstd[cols],
        }
    }
}

/// The per-feature coefficients of the input gradient:
/// `dx = k * ((dy - mean_dy) - x_hat * mean_dy_xhat)`.
#[derive(Clone, Copy)]
pub(super) struct DxCoefficients<'a> {
    pub k: &'a [f32],
    pub mean_dy: &'a [f32],
    pub mean_dy_xhat: &'a [f32],
}

multiversion! {
    /// `sums[j] = sum over rows of x[r, j]`, in `f64`.
    pub(super) fn column_sums(x: &[f32], stride: usize, sums: &mut [f64]) {
        let c = sums.len();
        sums.fill(0.0);
        for row in x.chunks(stride) {
            for (a, &v) in sums.iter_mut().zip(&row[..c]) {
                *a += v as f64;
            }
        }
    }
}

multiversion! {
    /// `squares[j] = sum over rows of (x[r, j] - mean[j])^2`, in `f64`.
    pub(super) fn squared_deviations(x: &[f32], stride: usize, mean: &[f64], squares: &mut [f64]) {
        let c = squares.len();
        let mean = &mean[..c];
        squares.fill(0.0);
        for row in x.chunks(stride) {
            let row = &row[..c];
            for j in 0..c {
                let d = row[j] as f64 - mean[j];
                squares[j] += d * d;
            }
        }
    }
}

multiversion! {
    /// `y = gamma * x_hat + beta`.
    pub(super) fn normalize(x: &[f32], norm: Norm<'_>, gamma: &[f32], beta: &[f32], y: &mut [f32]) {
        let c = norm.mean.len();
        let (m, lo, s) = (norm.mean, &norm.mean_lo[..c], &norm.invstd[..c]);
        let (g, b) = (&gamma[..c], &beta[..c]);
        for (out, v) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            for j in 0..c {
                out[j] = g[j] * (((v[j] - m[j]) - lo[j]) * s[j]) + b[j];
            }
        }
    }
}

/// Rows whose gradient terms [`gradient_sums`] adds in `f32` before the total joins the `f64`
/// sums: a feature's sum loses at most 15 roundings of `f32` on top of those of its terms.
/// (PyTorch's CPU kernel adds all of a thread's rows in `f32`.)
const ROWS_PER_F32_SUM: usize = 16;
/// The most features [`gradient_sums`] walks the rows for at once: its `f32` sums for them
/// (2 x 4 KiB) stay in L1 beside the rows, and a matrix of up to 1024 features is read in one
/// sequential sweep (two sweeps over halves of each row were slower at 1024 features).
const FEATURES_PER_SWEEP: usize = 1024;

multiversion! {
    /// `sum_dy[j] = sum(dy)` and `sum_dy_xhat[j] = sum(dy * x_hat)` over the rows: the terms of
    /// each run of [`ROWS_PER_F32_SUM`] rows added in `f32` (eight lanes per vector, twice the
    /// `f64` rate), those runs' sums in `f64`, in row order.
    pub(super) fn gradient_sums(
        x: &[f32],
        dy: &[f32],
        stride: usize,
        norm: Norm<'_>,
        sum_dy: &mut [f64],
        sum_dy_xhat: &mut [f64],
    ) {
        let c = norm.mean.len();
        sum_dy[..c].fill(0.0);
        sum_dy_xhat[..c].fill(0.0);
        for first in (0..c).step_by(FEATURES_PER_SWEEP) {
            let cols = first..(first + FEATURES_PER_SWEEP).min(c);
            gradient_sums_sweep(x, dy, stride, cols, norm, sum_dy, sum_dy_xhat);
        }
    }
}

/// [`gradient_sums`] for the features `cols` (at most [`FEATURES_PER_SWEEP`]).
#[inline(always)]
fn gradient_sums_sweep(
    x: &[f32],
    dy: &[f32],
    stride: usize,
    cols: std::ops::Range<usize>,
    norm: Norm<'_>,
    sum_dy: &mut [f64],
    sum_dy_xhat: &mut [f64],
) {
    let w = cols.len();
    let rows = x.len().div_ceil(stride);
    let norm = norm.columns(cols.clone());
    let (m, lo, s) = (&norm.mean[..w], &norm.mean_lo[..w], &norm.invstd[..w]);
    let (sum_dy, sum_dy_xhat) = (&mut sum_dy[cols.clone()], &mut sum_dy_xhat[cols.clone()]);
    let (mut run_dy, mut run_dy_xhat) = ([0f32; FEATURES_PER_SWEEP], [0f32; FEATURES_PER_SWEEP]);
    let (a, b) = (&mut run_dy[..w], &mut run_dy_xhat[..w]);
    for (r, (v, d)) in x.chunks(stride).zip(dy.chunks(stride)).enumerate() {
        let (v, d) = (&v[cols.clone()], &d[cols.clone()]);
        for j in 0..w {
            let x_hat = ((v[j] - m[j]) - lo[j]) * s[j];
            a[j] += d[j];
            b[j] += d[j] * x_hat;
        }
        if (r + 1) % ROWS_PER_F32_SUM == 0 || r + 1 == rows {
            for j in 0..w {
                sum_dy[j] += a[j] as f64;
                sum_dy_xhat[j] += b[j] as f64;
            }
            a.fill(0.0);
            b.fill(0.0);
        }
    }
}

multiversion! {
    /// `dx = k * ((dy - mean_dy) - x_hat * mean_dy_xhat)`.
    pub(super) fn input_gradient(
        x: &[f32],
        dy: &[f32],
        norm: Norm<'_>,
        coef: DxCoefficients<'_>,
        dx: &mut [f32],
    ) {
        let c = norm.mean.len();
        let (m, lo, s) = (norm.mean, &norm.mean_lo[..c], &norm.invstd[..c]);
        let (k, mdy, mdyx) = (&coef.k[..c], &coef.mean_dy[..c], &coef.mean_dy_xhat[..c]);
        let rows = dx.chunks_exact_mut(c).zip(x.chunks_exact(c).zip(dy.chunks_exact(c)));
        for (out, (v, d)) in rows {
            for j in 0..c {
                let x_hat = ((v[j] - m[j]) - lo[j]) * s[j];
                out[j] = k[j] * (d[j] - mdy[j] - x_hat * mdyx[j]);
            }
        }
    }
}
