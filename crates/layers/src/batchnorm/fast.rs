//! The op's row loops (`op.rs`, `stats.rs`) over chunks of rows, compiled by
//! [`multiversion!`] for AVX2 and AVX-512 too, chosen at run time: the x86-64 baseline has
//! SSE2, two `f64` per instruction (fused forward and backward at 128x512, one thread:
//! 124-167 -> 86 us). The same operations in the same order, so the plain loops' bits.

use super::op::{dx_row, forward_row, sums_row};
use super::stats::{add_row, add_square_row};
use tapegrad_kernels::multiversion;

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
    /// [`sums_row`] for each row of `x`, `dy` and `out`, in order.
    pub(super) fn sums(rows: [&[f32]; 3], means: [&[f32]; 2], relu: bool, sums: &mut [f64]) {
        let [x, dy, out] = rows.map(|v| v.chunks_exact(means[0].len()));
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
