//! What runs in place of the plain loops, compiled by [`multiversion!`] for AVX2 and AVX-512
//! too (the x86-64 baseline has SSE2, two `f64` per instruction): [`statistics`] in one sweep
//! of `x` where [`BatchStats::of`] takes two; the op's row loops over chunks of rows, same bits.
//!
//! An input `[n, c, s]` (`s = h * w` values of a feature per sample) is rows of `c` features
//! when `s = 1`; otherwise each loop goes feature by feature over its planes of `s` values,
//! running the same row loops with the feature's coefficients spread over a plane's length:
//! a feature's per-position sums stay in L1, a row of `c s` per-column sums would not.

use super::op::{dims_with_values, dx_row, forward_row, sums_row};
use super::stats::{column_sums, BatchStats};
use std::array::from_fn;
use std::borrow::Cow;
use std::ops::Range;
use tapegrad_core::Tensor;
use tapegrad_kernels::multiversion;

/// The statistics of `x: [n, c, s]` in one sweep: from the `f64` sums of `d = x - x0` and
/// `d^2`, `x0` a feature's first value, `mean = x0 + mean(d)` and `var = mean(d^2) - mean(d)^2`.
/// As `x0` is one of the `m = n s` values, `mean(d^2) <= (m + 1) var`: the subtraction loses
/// at most `log2(m + 1)` bits of 53 (`docs/BATCHNORM.md`). A NaN or an infinity falls back on
/// [`BatchStats::of`].
pub(super) fn statistics(x: &Tensor) -> BatchStats {
    let Some((n, c, s)) = dims_with_values(x.shape()) else {
        return BatchStats::of(x); // which panics, naming the shape
    };
    // Each feature's first value: the first row, or the first value of each plane.
    let x0: Cow<[f32]> = match s {
        1 => Cow::Borrowed(&x.data()[..c]),
        _ => (0..c).map(|j| x.data()[j * s]).collect(),
    };
    let rows = |r: Range<usize>| &x.data()[r.start * c * s..r.end * c * s];
    let mut mean = column_sums(n, c * s, 2 * c, |r, sums| {
        shifted_sums(rows(r), &x0, s, sums)
    });
    let mut var = mean.split_off(c); // sum(d) and sum(d^2), made the statistics below
    let m = (n * s) as f64;
    for ((mean, var), &x0) in mean.iter_mut().zip(&mut var).zip(x0.iter()) {
        let mean_d = *mean / m;
        (*mean, *var) = (x0 as f64 + mean_d, *var / m - mean_d * mean_d);
    }
    if mean.iter().chain(&var).all(|v| v.is_finite()) {
        BatchStats {
            n: n * s,
            mean,
            var,
        }
    } else {
        BatchStats::of(x)
    }
}

/// The planes (ranges of `s` values) of feature `j` in a chunk of `len` values `[rows, c, s]`.
#[inline(always)]
fn planes(j: usize, len: usize, c: usize, s: usize) -> impl Iterator<Item = Range<usize>> {
    (j..len / s).step_by(c).map(move |p| p * s..(p + 1) * s)
}

/// One feature's `K` coefficients, each spread over a plane of `s` values: allocated once per
/// call, refilled feature by feature.
struct Spread<const K: usize>([Vec<f32>; K]);

impl<const K: usize> Spread<K> {
    fn new(s: usize) -> Self {
        Spread(from_fn(|_| vec![0.0; s]))
    }
    /// Feature `j`'s coefficients, as slices of a plane's length.
    #[inline(always)]
    fn of(&mut self, features: [&[f32]; K], j: usize) -> [&[f32]; K] {
        (self.0.iter_mut().zip(features)).for_each(|(v, f)| v.fill(f[j]));
        self.0.each_ref().map(|v| &v[..])
    }
}

/// Adds per-position sums (`[c][2][s]`, two per position of each feature's planes) to the
/// per-feature sums (`[2 c]`).
fn add_plane_sums(per_position: &[f64], s: usize, sums: &mut [f64]) {
    let c = sums.len() / 2;
    for (j, position) in per_position.chunks_exact(2 * s).enumerate() {
        sums[j] += position[..s].iter().sum::<f64>();
        sums[c + j] += position[s..].iter().sum::<f64>();
    }
}

/// Rows (or planes) per pass of [`shifted_sums`]: each sum is loaded and stored once per
/// `ROWS` rows, not once a row.
const ROWS: usize = 4;

/// Adds the `d = row - shift` and `d^2` of `ROWS` rows to the per-column sums `s1`, `s2`.
#[inline(always)]
fn add_shifted(rows: [&[f32]; ROWS], shift: &[f32], s1: &mut [f64], s2: &mut [f64]) {
    let rows = rows.map(|row| &row[..shift.len()]);
    for j in 0..shift.len() {
        let d = rows.map(|row| row[j] as f64 - shift[j] as f64);
        s1[j] = d.iter().fold(s1[j], |sum, d| sum + d);
        s2[j] = d.iter().fold(s2[j], |sum, d| sum + d * d);
    }
}

multiversion! {
    /// Adds each value's `d = x - shift` and `d^2` to its feature's sums (`[2 c]`): over rows
    /// of features, or (`s > 1`) per position of a feature's planes, then added up. A last
    /// block of fewer than `ROWS` rows is padded with `shift` itself, whose terms are 0.
    pub(super) fn shifted_sums(x: &[f32], shift: &[f32], s: usize, sums: &mut [f64]) {
        let c = shift.len();
        if s == 1 {
            let (s1, s2) = sums.split_at_mut(c);
            for block in x.chunks(ROWS * c) {
                let mut rows = block.chunks_exact(c);
                add_shifted(from_fn(|_| rows.next().unwrap_or(shift)), shift, s1, s2);
            }
            return;
        }
        let (mut acc, mut spread, mut ranges) = (vec![0f64; 2 * s * c], Spread::new(s), vec![]);
        for (j, acc) in acc.chunks_exact_mut(2 * s).enumerate() {
            let ([shift], (s1, s2)) = (spread.of([shift], j), acc.split_at_mut(s));
            ranges.clear();
            ranges.extend(planes(j, x.len(), c, s));
            for block in ranges.chunks(ROWS) {
                let rows = from_fn(|i| block.get(i).map_or(shift, |p| &x[p.clone()]));
                add_shifted(rows, shift, s1, s2);
            }
        }
        add_plane_sums(&acc, s, sums)
    }
}

multiversion! {
    /// [`forward_row`] for each row (or plane) of `x` and `y`.
    pub(super) fn forward(x: &[f32], features: [&[f32]; 4], s: usize, relu: bool, y: &mut [f32]) {
        let c = features[0].len();
        if s > 1 {
            let mut spread = Spread::new(s);
            for j in 0..c {
                let f = spread.of(features, j);
                for p in planes(j, x.len(), c, s) {
                    forward_row(&x[p.clone()], f, relu, &mut y[p]);
                }
            }
            return;
        }
        for (x, y) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
            forward_row(x, features, relu, y);
        }
    }
}

multiversion! {
    /// [`sums_row`] for each row (or plane) of `x` and `dy`, in order.
    pub(super) fn sums(rows: [&[f32]; 2], features: [&[f32]; 4], s: usize, relu: bool, sums: &mut [f64]) {
        let c = features[0].len();
        if s > 1 {
            let (mut acc, mut spread) = (vec![0f64; 2 * s * c], Spread::new(s));
            for (j, acc) in acc.chunks_exact_mut(2 * s).enumerate() {
                let f = spread.of(features, j);
                for p in planes(j, rows[0].len(), c, s) {
                    sums_row(rows.map(|v| &v[p.clone()]), f, relu, acc);
                }
            }
            return add_plane_sums(&acc, s, sums);
        }
        let [x, dy] = rows.map(|v| v.chunks_exact(c));
        for (x, dy) in x.zip(dy) {
            sums_row([x, dy], features, relu, sums);
        }
    }
}

multiversion! {
    /// [`dx_row`] for each row (or plane) of `x`, `dy` and `dx`.
    pub(super) fn dx(rows: [&[f32]; 2], features: [&[f32]; 7], s: usize, flags: (bool, bool), dx: &mut [f32]) {
        let c = features[0].len();
        if s > 1 {
            let mut spread = Spread::new(s);
            for j in 0..c {
                let f = spread.of(features, j);
                for p in planes(j, dx.len(), c, s) {
                    dx_row(rows.map(|v| &v[p.clone()]), f, flags, &mut dx[p]);
                }
            }
            return;
        }
        let [x, dy] = rows.map(|v| v.chunks_exact(c));
        for ((x, dy), dx) in x.zip(dy).zip(dx.chunks_exact_mut(c)) {
            dx_row([x, dy], features, flags, dx);
        }
    }
}
