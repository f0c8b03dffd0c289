//! What runs in place of the plain loops, compiled by [`multiversion!`] for AVX2 and AVX-512
//! too (the x86-64 baseline has SSE2, two `f64` per instruction): [`statistics`] in one sweep
//! of `x` where [`BatchStats::of`] takes two; the op's row loops over chunks of rows, same bits.
//!
//! An input `[n, c, s]` (`s = h * w` values of a feature per sample) is a row of `c` features
//! when `s = 1`; otherwise each loop goes feature by feature over its planes of `s` values,
//! running the same row loops with the feature's coefficients spread over a plane's length
//! (a plane's per-position sums stay in L1; one row of spread coefficients would not).

use super::op::{dx_row, forward_row, sums_row};
use super::stats::{column_sums, BatchStats};
use std::array::from_fn;
use std::ops::Range;
use tapegrad_core::Tensor;
use tapegrad_kernels::multiversion;

/// The statistics of `x: [n, c, s]` in one sweep: from the `f64` sums of `d = x - x0` and
/// `d^2`, `x0` a feature's first value, `mean = x0 + mean(d)` and `var = mean(d^2) - mean(d)^2`.
/// As `x0` is one of the `m = n s` values, `mean(d^2) <= (m + 1) var`: the subtraction loses
/// at most `log2(m + 1)` bits of 53 (`docs/BATCHNORM.md`). A NaN or an infinity falls back on
/// [`BatchStats::of`].
pub(super) fn statistics(x: &Tensor) -> BatchStats {
    let (n, c, s) = match x.shape() {
        &[n, c, ref rest @ ..] if n * rest.iter().product::<usize>() > 0 => (n, c, rest.iter().product()),
        _ => return BatchStats::of(x), // which panics, naming the shape
    };
    let x0: Vec<f32> = (0..c).map(|j| x.data()[j * s]).collect();
    let rows = |r: Range<usize>| &x.data()[r.start * c * s..r.end * c * s];
    let mut mean = column_sums(n, c * s, 2 * c, |r, sums| shifted_sums(rows(r), &x0, s, sums));
    let mut var = mean.split_off(c); // sum(d) and sum(d^2), made the statistics below
    let m = (n * s) as f64;
    for ((mean, var), &x0) in mean.iter_mut().zip(&mut var).zip(&x0) {
        let mean_d = *mean / m;
        (*mean, *var) = (x0 as f64 + mean_d, *var / m - mean_d * mean_d);
    }
    if mean.iter().chain(&var).all(|v| v.is_finite()) {
        BatchStats { n: n * s, mean, var }
    } else {
        BatchStats::of(x)
    }
}

/// The planes of feature `j` in a chunk of `len` values `[rows, c, s]`: ranges of `s` values.
fn planes(j: usize, len: usize, c: usize, s: usize) -> impl Iterator<Item = Range<usize>> {
    (j..len / s).step_by(c).map(move |p| p * s..(p + 1) * s)
}

/// Feature `j`'s coefficients, each spread over a plane of `s` values.
fn spread<const K: usize>(features: [&[f32]; K], j: usize, s: usize) -> [Vec<f32>; K] {
    features.map(|f| vec![f[j]; s])
}

multiversion! {
    /// Adds each value's `d = x - shift` and `d^2` to its feature's sums (`[2 c]`). Rows of
    /// features (`s = 1`): `ROWS` rows per pass, so each sum is loaded and stored once per
    /// `ROWS` rows, not once a row. Planes: per position of a plane, then added up.
    pub(super) fn shifted_sums(x: &[f32], shift: &[f32], s: usize, sums: &mut [f64]) {
        const ROWS: usize = 4;
        let c = shift.len();
        let (s1, s2) = sums.split_at_mut(c);
        if s > 1 {
            let mut acc = vec![0f64; 2 * s];
            for j in 0..c {
                acc.fill(0.0);
                for p in planes(j, x.len(), c, s) {
                    for (k, &x) in x[p].iter().enumerate() {
                        let d = x as f64 - shift[j] as f64;
                        (acc[k], acc[s + k]) = (acc[k] + d, acc[s + k] + d * d);
                    }
                }
                s1[j] += acc[..s].iter().sum::<f64>();
                s2[j] += acc[s..].iter().sum::<f64>();
            }
            return;
        }
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
    /// [`forward_row`] for each row (or plane) of `x` and `y`.
    pub(super) fn forward(x: &[f32], features: [&[f32]; 4], s: usize, relu: bool, y: &mut [f32]) {
        let c = features[0].len();
        if s == 1 {
            for (x, y) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
                forward_row(x, features, relu, y);
            }
            return;
        }
        for j in 0..c {
            let f = spread(features, j, s);
            for p in planes(j, x.len(), c, s) {
                forward_row(&x[p.clone()], f.each_ref().map(|f| &f[..]), relu, &mut y[p]);
            }
        }
    }
}

multiversion! {
    /// [`sums_row`] for each row (or plane) of `x`, `dy` and `out`, in order.
    pub(super) fn sums(rows: [&[f32]; 3], means: [&[f32]; 2], s: usize, relu: bool, sums: &mut [f64]) {
        let c = means[0].len();
        if s == 1 {
            let [x, dy, out] = rows.map(|v| v.chunks_exact(c));
            for ((x, dy), out) in x.zip(dy).zip(out) {
                sums_row([x, dy, out], means, relu, sums);
            }
            return;
        }
        let mut acc = vec![0f64; 2 * s];
        for j in 0..c {
            let f = spread(means, j, s);
            acc.fill(0.0);
            for p in planes(j, rows[0].len(), c, s) {
                let planes = rows.map(|v| &v[p.clone()]);
                sums_row(planes, f.each_ref().map(|f| &f[..]), relu, &mut acc);
            }
            sums[j] += acc[..s].iter().sum::<f64>();
            sums[c + j] += acc[s..].iter().sum::<f64>();
        }
    }
}

multiversion! {
    /// [`dx_row`] for each row (or plane) of `x`, `dy`, `out` and `dx`.
    pub(super) fn dx(rows: [&[f32]; 3], features: [&[f32]; 5], s: usize, flags: (bool, bool), dx: &mut [f32]) {
        let c = features[0].len();
        if s == 1 {
            let [x, dy, out] = rows.map(|v| v.chunks_exact(c));
            for (((x, dy), out), dx) in x.zip(dy).zip(out).zip(dx.chunks_exact_mut(c)) {
                dx_row([x, dy, out], features, flags, dx);
            }
            return;
        }
        for j in 0..c {
            let f = spread(features, j, s);
            for p in planes(j, dx.len(), c, s) {
                let planes = rows.map(|v| &v[p.clone()]);
                dx_row(planes, f.each_ref().map(|f| &f[..]), flags, &mut dx[p]);
            }
        }
    }
}
