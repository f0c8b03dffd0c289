//! The op's row loops (`op.rs`, `stats.rs`) over chunks of rows, compiled by
//! [`multiversion!`] for AVX2 and AVX-512 too, chosen at run time (the x86-64 baseline has
//! SSE2: two `f64` per instruction): the plain loops' bits, but for the gradient's sums,
//! which add groups of [`ROWS`] rows in `f32` first.

use super::op::{centred, dx_row, forward_row, gated, sums_row};
use super::stats::{add_row, add_square_row};
use std::array::from_fn;
use tapegrad_core::multiversion;

/// Rows the gradient's sums add in `f32` lanes per load and store of their `f64` sums.
const ROWS: usize = 8;

/// The rows of `v` (`c` values each) by groups of [`ROWS`], and the rows left over.
#[inline(always)]
fn groups(v: &[f32], c: usize) -> (impl Iterator<Item = [&[f32]; ROWS]>, &[f32]) {
    let blocks = v.chunks_exact(ROWS * c);
    let rest = blocks.remainder();
    (blocks.map(move |b| from_fn(|k| &b[k * c..][..c])), rest)
}

multiversion! {
    /// [`add_row`] for each row of `x`, in order.
    pub(super) fn add_rows(x: &[f32], sum: &mut [f64]) {
        for row in x.chunks_exact(sum.len()) {
            add_row(row, sum);
        }
    }
}

multiversion! {
    /// [`add_square_row`] for each row of `x`, in order.
    pub(super) fn add_squares(x: &[f32], mean: &[f64], sum: &mut [f64]) {
        for row in x.chunks_exact(sum.len()) {
            add_square_row(row, mean, sum);
        }
    }
}

multiversion! {
    /// [`forward_row`] for each row of `x` and `y`.
    pub(super) fn forward(x: &[f32], features: [&[f32]; 4], relu: bool, y: &mut [f32]) {
        let c = features[0].len();
        for (x, y) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
            forward_row(x, features, relu, y);
        }
    }
}

multiversion! {
    /// [`sums_row`] for each row of `x`, `dy` and `out`, but a group of [`ROWS`] rows added
    /// in `f32` before the `f64` sums: within 1e-6 of the plain sums (the tests' bound).
    pub(super) fn sums(rows: [&[f32]; 3], means: [&[f32]; 2], relu: bool, sums: &mut [f64]) {
        let ([x, dy, out], [mean, mean_lo], c) = (rows, means, means[0].len());
        let (sum_g, sum_gx) = sums.split_at_mut(c);
        let ((xs, rest), (dys, _), (outs, _)) = (groups(x, c), groups(dy, c), groups(out, c));
        for ((x, dy), out) in xs.zip(dys).zip(outs) {
            for j in 0..c {
                let (mut g_sum, mut gx_sum) = (0f32, 0f32);
                for k in 0..ROWS {
                    let g = gated(dy[k][j], out[k][j], relu);
                    g_sum += g;
                    gx_sum += g * centred(x[k][j], mean[j], mean_lo[j]);
                }
                (sum_g[j], sum_gx[j]) = (sum_g[j] + g_sum as f64, sum_gx[j] + gx_sum as f64);
            }
        }
        let [x, dy, out] = [x, dy, out].map(|v| v[v.len() - rest.len()..].chunks_exact(c));
        for ((x, dy), out) in x.zip(dy).zip(out) {
            sums_row([x, dy, out], means, relu, sums);
        }
    }
}

multiversion! {
    /// [`dx_row`] for each row of `x`, `dy`, `out` and `dx`.
    pub(super) fn dx(rows: [&[f32]; 3], features: [&[f32]; 5], flags: (bool, bool), dx: &mut [f32]) {
        let c = features[0].len();
        let [x, dy, out] = rows.map(|v| v.chunks_exact(c));
        for (((x, dy), out), dx) in x.zip(dy).zip(out).zip(dx.chunks_exact_mut(c)) {
            dx_row([x, dy, out], features, flags, dx);
        }
    }
}
