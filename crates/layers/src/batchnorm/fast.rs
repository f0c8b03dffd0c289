//! What runs in place of the plain loops, compiled by [`multiversion!`] for AVX2 and AVX-512
//! too (the x86-64 baseline has SSE2, two `f64` per instruction): [`statistics`] in one sweep
//! of `x` where [`BatchStats::of`] takes two; the op's row loops over chunks of rows, same bits.

use super::op::{dx_row, forward_row, sums_row};
use super::stats::{column_sums, BatchStats};
use std::array::from_fn;
use std::ops::Range;
use tapegrad_core::Tensor;
use tapegrad_kernels::multiversion;

/// The statistics of `x: [n, c]` in one sweep: from the `f64` sums of `d = x - x0` and `d^2`,
/// `x0` the first row, `mean = x0 + mean(d)` and `var = mean(d^2) - mean(d)^2`. As `x0` is one
/// of the values, `mean(d^2) <= (n + 1) var`: the subtraction loses at most `log2(n + 1)` bits
/// of 53 (`docs/BATCHNORM.md`). A NaN or an infinity falls back on [`BatchStats::of`].
pub(super) fn statistics(x: &Tensor) -> BatchStats {
    let (n, c) = match x.shape() {
        &[n, c] if n > 0 => (n, c),
        _ => return BatchStats::of(x), // which panics, naming the shape
    };
    let x0 = &x.data()[..c];
    let rows = |r: Range<usize>| &x.data()[r.start * c..r.end * c];
    let mut mean = column_sums(n, c, 2, |r, sums| shifted_sums(rows(r), x0, sums));
    let mut var = mean.split_off(c); // sum(d) and sum(d^2), made the statistics below
    for ((mean, var), &x0) in mean.iter_mut().zip(&mut var).zip(x0) {
        let mean_d = *mean / n as f64;
        (*mean, *var) = (x0 as f64 + mean_d, *var / n as f64 - mean_d * mean_d);
    }
    if mean.iter().chain(&var).all(|v| v.is_finite()) {
        BatchStats { n, mean, var }
    } else {
        BatchStats::of(x)
    }
}

multiversion! {
    /// Adds each row's `x - shift` and its square to the per-feature sums (`[2 c]`), `ROWS`
    /// rows per pass: each sum is loaded and stored once per `ROWS` rows, not once a row.
    pub(super) fn shifted_sums(x: &[f32], shift: &[f32], sums: &mut [f64]) {
        const ROWS: usize = 4;
        let c = shift.len();
        let (s1, s2) = sums.split_at_mut(c);
        for block in x.chunks(ROWS * c) {
            // A last block of fewer rows is padded with `shift` itself, whose terms are 0.
            let mut rows = block.chunks_exact(c);
            let rows: [&[f32]; ROWS] = from_fn(|_| &rows.next().unwrap_or(shift)[..c]);
            for j in 0..c {
                let d = rows.map(|row| row[j] as f64 - shift[j] as f64);
                s1[j] = d.iter().fold(s1[j], |sum, d| sum + d);
                s2[j] = d.iter().fold(s2[j], |sum, d| sum + d * d);
            }
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
