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

use tapegrad_kernels::multiversion;
use tapegrad_kernels::{relu, relu_backward};

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

/// The per-feature constants of the output, gamma and beta folded in:
/// `y = (x - mean) * scale + shift`, with `scale = gamma * invstd` and
/// `shift = beta - mean_lo * scale` (see [`Norm`]).
#[derive(Clone, Copy)]
pub(super) struct ScaleShift<'a> {
    pub mean: &'a [f32],
    pub scale: &'a [f32],
    pub shift: &'a [f32],
}

/// What the backward's loops do to `dy` at feature `j` of a row whose input there is `x`,
/// given as `x - mean` (which the loops compute anyway): nothing ([`Open`]), or a fused
/// ReLU's gradient ([`ReluGate`]). A trait rather than a closure or a flag, so that each
/// loop is compiled once for each, inside its vectorised (`multiversion!`) caller, the plain
/// BatchNorm's loop unchanged.
pub(super) trait Gate: Copy {
    /// The gate for the features `cols`.
    fn columns(self, cols: std::ops::Range<usize>) -> Self;
    /// `dy` through the gate, at `centered = x - mean`.
    fn pass(&self, j: usize, centered: f32, dy: f32) -> f32;
}

/// The plain BatchNorm: `dy` as it is.
#[derive(Clone, Copy)]
pub(super) struct Open;

impl Gate for Open {
    #[inline(always)]
    fn columns(self, _: std::ops::Range<usize>) -> Self {
        Open
    }

    #[inline(always)]
    fn pass(&self, _: usize, _: f32, dy: f32) -> f32 {
        dy
    }
}

/// A ReLU after the normalisation, fused into the op: `dy` is zero where the output before
/// the ReLU, `(x - mean) * scale + shift`, was `<= 0`. That output is recomputed from `x`
/// with the forward's constants and arithmetic (the same bits, so the same mask) instead of
/// read back from memory: the backward's loops read `x` anyway. Holds the output's
/// `scale` and `shift` (see [`ScaleShift`]).
#[derive(Clone, Copy)]
pub(super) struct ReluGate<'a> {
    scale: &'a [f32],
    shift: &'a [f32],
}

impl<'a> ReluGate<'a> {
    /// The gate of an output with the constants `affine`.
    pub fn new(affine: ScaleShift<'a>) -> Self {
        ReluGate {
            scale: affine.scale,
            shift: affine.shift,
        }
    }
}

impl Gate for ReluGate<'_> {
    #[inline(always)]
    fn columns(self, cols: std::ops::Range<usize>) -> Self {
        ReluGate {
            scale: &self.scale[cols.clone()],
            shift: &self.shift[cols],
        }
    }

    #[inline(always)]
    fn pass(&self, j: usize, centered: f32, dy: f32) -> f32 {
        relu_backward(shifted(centered, self.scale[j], self.shift[j]), dy)
    }
}

/// The per-feature coefficients of the input gradient, folded so that an element costs two
/// products and sums fewer than `k * ((dy - mean_dy) - x_hat * mean_dy_xhat)`:
/// `dx = k * dy - (x - mean) * slope + offset`, with `k = gamma * invstd`,
/// `slope = k * invstd * mean_dy_xhat` and `offset = mean_lo * slope - k * mean_dy`.
#[derive(Clone, Copy)]
pub(super) struct DxCoefficients<'a> {
    pub mean: &'a [f32],
    pub k: &'a [f32],
    pub slope: &'a [f32],
    pub offset: &'a [f32],
}

/// Rows two at a time, or one (see [`in_pairs`]).
enum Rows<R> {
    Two(R, R),
    One(R),
}

impl<R> Rows<R> {
    /// The first row, and the second if there is one.
    #[inline(always)]
    fn split(self) -> (R, Option<R>) {
        match self {
            Rows::Two(r0, r1) => (r0, Some(r1)),
            Rows::One(r0) => (r0, None),
        }
    }
}

/// The most features for which the maps take two rows per pass over their per-feature
/// constants (see [`in_pairs`]). Wider, the paired maps were 1.2x slower on two threads.
/// Narrow, the maps' pairs took `input_gradient` from 0.81 to 0.72 of `gradient_sums`'
/// samples at 60x100; the maps pair only the rows they walk in [`blocks_of_8`] (see
/// [`ragged`]). The gradient's sums pair the rows at every width (see [`gradient_sums`]).
const PAIRED_FEATURES: usize = 128;

/// The fewest features from which [`gradient_sums`] takes two rows per pass again: its
/// per-feature arrays (two sums and three constants, 20 KiB at 1024 features) and a row of
/// `x` and of `dy` then fill the 32 KiB L1, and a row at a time each sum is fetched twice
/// as often. Paired, the fused call against the composed one (`workloads bn_fusion_*`, two
/// threads, three runs each, two sessions of runs): 256x1024 6.71, 7.63, 7.20x -> 8.29,
/// 8.66, 10.43x, then 7.22, 6.51, 9.40x -> 7.09, 7.59, 8.10x; 1024x1024 9.91, 11.16,
/// 11.13x -> 11.33, 10.76, 11.19x, then 11.77, 11.46, 11.99x -> 13.39, 14.29, 13.45x (the
/// host's noise is about 10%: the unchanged 4096x256 moved from 11.8-12.8x to 12.6-13.6x
/// between the last two). At 256 features (4096x256) pairs were no faster on two threads and
/// 1.1-1.3x slower on one (5.85, 5.73, 4.95x against 6.83, 6.67, 6.26x), as an earlier
/// loop had found, so 256 and 512 features stay unpaired.
const PAIRED_SUMS_FROM: usize = 1024;

/// `rows` two at a time if `paired`, a row left over (or every row otherwise) alone. A map
/// written for two rows loads each per-feature constant once for both (a 100-feature row is
/// mostly loads). A sum over the
/// rows written for two (`s = (s + t0) + t1`) loads and stores each per-feature sum once
/// per two rows instead of once per row, and adds the terms in the same order: the same
/// bits. An iterator, not a function taking the loop bodies as closures: the bodies must be
/// compiled inside the vectorised (`multiversion!`) caller, and a closure the size of
/// `gradient_sums`' ran as a separate function without AVX2 (63% of a 60x100 call instead
/// of 22%).
fn in_pairs<I: Iterator>(rows: I, paired: bool) -> InPairs<I> {
    InPairs { rows, paired }
}

/// See [`in_pairs`].
struct InPairs<I> {
    rows: I,
    paired: bool,
}

impl<I: Iterator> Iterator for InPairs<I> {
    type Item = Rows<I::Item>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let r0 = self.rows.next()?;
        // `paired` is checked first: a row taken from `rows` must be used.
        Some(match if self.paired { self.rows.next() } else { None } {
            Some(r1) => Rows::Two(r0, r1),
            None => Rows::One(r0),
        })
    }
}

/// Whether rows of `c` features are worth mapping in [`blocks_of_8`]: more than 8 features,
/// not a whole number of vectors. Whole vectors keep the plain loop, which the compiler
/// unrolls; in 8-feature blocks `normalize` took 10-15% more samples at 4096x256.
#[inline(always)]
fn ragged(c: usize) -> bool {
    c > 8 && !c.is_multiple_of(8)
}

/// Where the 8-feature blocks of a row of `c >= 8` features start: every 8th feature, the
/// last block moved back to end at `c`, overlapping the one before. A map over the blocks
/// computes a few features twice, with the same result, instead of finishing each row in
/// scalar code (a 100-feature row: 12 vectors and 4 scalar features; `input_gradient` at
/// 60x100 took 13% fewer samples, and a whole fused call against the composed one went
/// from 3.99-4.02x to 4.17-4.34x in 5 interleaved runs).
#[inline(always)]
fn blocks_of_8(c: usize) -> impl Iterator<Item = usize> {
    (0..c.div_ceil(8)).map(move |i| (8 * i).min(c - 8))
}

/// The 8 values of `s` from `j`.
#[inline(always)]
fn lanes(s: &[f32], j: usize) -> &[f32; 8] {
    s[j..j + 8].try_into().expect("8 lanes")
}

/// [`lanes`], mutable.
#[inline(always)]
fn lanes_mut(s: &mut [f32], j: usize) -> &mut [f32; 8] {
    (&mut s[j..j + 8]).try_into().expect("8 lanes")
}

/// Rows [`shifted_sums`] adds per pass over its per-feature sums.
const ROWS_PER_STATS_PASS: usize = 4;

multiversion! {
    /// `sums[j]` and `squares[j]`: the sums over the rows of `d = x[r, j] - x[0, j]` and of
    /// `d^2`, in `f64` (`d` is exact for two `f32` within a factor of 2^28 of each other; its
    /// square rounds once). The deviations from the first row rather than from zero, so that
    /// the caller's `squares - sums^2 / rows` cancels little (see `panel_moments`).
    ///
    /// [`ROWS_PER_STATS_PASS`] rows per pass over the sums, at any width, added in row
    /// order (`s = (((s + t0) + t1) + t2) + t3`, the same bits as one row at a time): a
    /// row at a time, each feature's two sums were loaded and stored once per element, more
    /// stores than the core retires in the time it reads the row (the loop was 23-30% of
    /// a 1024x1024 or 4096x256 call, more than the normalisation that reads as much and
    /// writes as much again). Unlike the gradient's sums, this loop reads one matrix, so
    /// four rows of it beside the sums still fit L1 at 1024 features.
    pub(super) fn shifted_sums(x: &[f32], stride: usize, sums: &mut [f64], squares: &mut [f64]) {
        let c = sums.len();
        let (squares, first) = (&mut squares[..c], &x[..c]);
        sums.fill(0.0);
        squares.fill(0.0);
        let d = |row: &[f32], j: usize| row[j] as f64 - first[j] as f64;
        let rest = &x[stride.min(x.len())..];
        for group in rest.chunks(ROWS_PER_STATS_PASS * stride) {
            let mut rows = group.chunks(stride).map(|row| &row[..c]);
            if let (Some(r0), Some(r1), Some(r2), Some(r3)) =
                (rows.next(), rows.next(), rows.next(), rows.next())
            {
                for j in 0..c {
                    let (d0, d1, d2, d3) = (d(r0, j), d(r1, j), d(r2, j), d(r3, j));
                    sums[j] = (((sums[j] + d0) + d1) + d2) + d3;
                    squares[j] = (((squares[j] + d0 * d0) + d1 * d1) + d2 * d2) + d3 * d3;
                }
                continue;
            }
            // The last group, short: its rows one at a time.
            for r0 in group.chunks(stride).map(|row| &row[..c]) {
                for j in 0..c {
                    let d0 = d(r0, j);
                    sums[j] += d0;
                    squares[j] += d0 * d0;
                }
            }
        }
    }
}

/// One output of [`normalize`] before what follows it (see [`Then`]).
#[inline(always)]
fn normalized(x: f32, mean: f32, scale: f32, shift: f32) -> f32 {
    shifted(x - mean, scale, shift)
}

/// [`normalized`] from `centered = x - mean`: what [`ReluGate`] recomputes.
#[inline(always)]
fn shifted(centered: f32, scale: f32, shift: f32) -> f32 {
    centered * scale + shift
}

/// What follows the normalisation in the forward: nothing or a fused ReLU (the forward of
/// [`Gate`]), a type so that [`normalize`] compiles a loop for each.
trait Then {
    /// The op's output from the normalised value.
    fn then(y: f32) -> f32;
}

/// The plain BatchNorm.
struct Plain;

impl Then for Plain {
    #[inline(always)]
    fn then(y: f32) -> f32 {
        y
    }
}

/// A fused ReLU.
struct ThenRelu;

impl Then for ThenRelu {
    #[inline(always)]
    fn then(y: f32) -> f32 {
        relu(y)
    }
}

/// [`normalized`] over one 8-feature block of a row (see [`blocks_of_8`]).
#[inline(always)]
fn normalized_8<T: Then>(
    o: &mut [f32; 8],
    x: &[f32; 8],
    mean: &[f32; 8],
    scale: &[f32; 8],
    shift: &[f32; 8],
) {
    for l in 0..8 {
        o[l] = T::then(normalized(x[l], mean[l], scale[l], shift[l]));
    }
}

/// `y = (x - mean) * scale + shift` (see [`ScaleShift`]), or `relu` of it with `relu`
/// set: rows that are not whole vectors in 8-feature blocks (see [`blocks_of_8`]), two rows
/// per pass over the per-feature constants (see [`in_pairs`]); other rows one at a time, in
/// the plain loop. Each case is a vectorised function of its own: with both loops in one,
/// the plain BatchNorm's calls took 5-10% longer at 60x100.
pub(super) fn normalize(x: &[f32], affine: ScaleShift<'_>, relu: bool, y: &mut [f32]) {
    if relu {
        normalize_relu(x, affine, y)
    } else {
        normalize_plain(x, affine, y)
    }
}

multiversion! {
    /// [`normalize`] without a ReLU.
    fn normalize_plain(x: &[f32], affine: ScaleShift<'_>, y: &mut [f32]) {
        normalize_then::<Plain>(x, affine, y)
    }
}

multiversion! {
    /// [`normalize`] with a ReLU.
    fn normalize_relu(x: &[f32], affine: ScaleShift<'_>, y: &mut [f32]) {
        normalize_then::<ThenRelu>(x, affine, y)
    }
}

/// [`normalize`], followed by `T`.
#[inline(always)]
fn normalize_then<T: Then>(x: &[f32], affine: ScaleShift<'_>, y: &mut [f32]) {
    let c = affine.mean.len();
    let (m, a, b) = (affine.mean, &affine.scale[..c], &affine.shift[..c]);
    let rows = y.chunks_exact_mut(c).zip(x.chunks_exact(c));
    if !ragged(c) {
        for (o, v) in rows {
            for j in 0..c {
                o[j] = T::then(normalized(v[j], m[j], a[j], b[j]));
            }
        }
        return;
    }
    for rows in in_pairs(rows, c <= PAIRED_FEATURES) {
        let (first, mut second) = rows.split();
        for j in blocks_of_8(c) {
            let (m, a, b) = (lanes(m, j), lanes(a, j), lanes(b, j));
            normalized_8::<T>(lanes_mut(first.0, j), lanes(first.1, j), m, a, b);
            if let Some((o, v)) = &mut second {
                normalized_8::<T>(lanes_mut(o, j), lanes(v, j), m, a, b);
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
/// A narrower bound for the `f32` sums of a matrix of few features (a column strip of a
/// small batch): the arrays that hold them are initialised at every call, 1 KiB rather than
/// 8 KiB.
const FEW_FEATURES: usize = 128;

/// `sum_dy[j] = sum(dy)` and `sum_dy_xhat[j] = sum(dy * x_hat)` over the rows: the terms of
/// each run of [`ROWS_PER_F32_SUM`] rows added in `f32` (eight lanes per vector, twice the
/// `f64` rate), those runs' sums in `f64`, in row order. With `relu`, `dy` is a fused ReLU's
/// output gradient, gated first. A vectorised function for each case, as [`normalize`].
///
/// Two rows per pass over the run's sums up to [`PAIRED_FEATURES`] features and from
/// [`PAIRED_SUMS_FROM`] (see [`in_pairs`]).
pub(super) fn gradient_sums(
    x: &[f32],
    dy: &[f32],
    stride: usize,
    norm: Norm<'_>,
    relu: Option<ReluGate<'_>>,
    sums: (&mut [f64], &mut [f64]),
) {
    match relu {
        None => gradient_sums_plain(x, dy, stride, norm, sums),
        Some(gate) => gradient_sums_relu(x, dy, stride, norm, gate, sums),
    }
}

multiversion! {
    /// [`gradient_sums`] without a ReLU.
    fn gradient_sums_plain(
        x: &[f32],
        dy: &[f32],
        stride: usize,
        norm: Norm<'_>,
        sums: (&mut [f64], &mut [f64]),
    ) {
        gradient_sums_through(x, dy, stride, norm, Open, sums)
    }
}

multiversion! {
    /// [`gradient_sums`] through a ReLU.
    fn gradient_sums_relu(
        x: &[f32],
        dy: &[f32],
        stride: usize,
        norm: Norm<'_>,
        gate: ReluGate<'_>,
        sums: (&mut [f64], &mut [f64]),
    ) {
        gradient_sums_through(x, dy, stride, norm, gate, sums)
    }
}

/// [`gradient_sums`] through `gate`.
#[inline(always)]
fn gradient_sums_through<G: Gate>(
    x: &[f32],
    dy: &[f32],
    stride: usize,
    norm: Norm<'_>,
    gate: G,
    (sum_dy, sum_dy_xhat): (&mut [f64], &mut [f64]),
) {
    let c = norm.mean.len();
    sum_dy[..c].fill(0.0);
    sum_dy_xhat[..c].fill(0.0);
    if c <= FEW_FEATURES {
        let sums = (sum_dy, sum_dy_xhat);
        gradient_sums_sweep::<FEW_FEATURES, G>(x, dy, stride, 0..c, norm, gate, sums);
        return;
    }
    for first in (0..c).step_by(FEATURES_PER_SWEEP) {
        let cols = first..(first + FEATURES_PER_SWEEP).min(c);
        let sums = (&mut *sum_dy, &mut *sum_dy_xhat);
        gradient_sums_sweep::<FEATURES_PER_SWEEP, G>(x, dy, stride, cols, norm, gate, sums);
    }
}

/// [`gradient_sums`] for the features `cols` (at most `W`).
#[inline(always)]
fn gradient_sums_sweep<const W: usize, G: Gate>(
    x: &[f32],
    dy: &[f32],
    stride: usize,
    cols: std::ops::Range<usize>,
    norm: Norm<'_>,
    gate: G,
    (sum_dy, sum_dy_xhat): (&mut [f64], &mut [f64]),
) {
    let w = cols.len();
    let norm = norm.columns(cols.clone());
    let gate = gate.columns(cols.clone());
    let (m, lo, s) = (&norm.mean[..w], &norm.mean_lo[..w], &norm.invstd[..w]);
    // dy through the gate, and x_hat, at feature j of a row: both from x - mean.
    let terms = |v: &[f32], d: &[f32], j: usize| {
        let centered = v[j] - m[j];
        (gate.pass(j, centered, d[j]), (centered - lo[j]) * s[j])
    };
    let (sum_dy, sum_dy_xhat) = (&mut sum_dy[cols.clone()], &mut sum_dy_xhat[cols.clone()]);
    let (mut run_dy, mut run_dy_xhat) = ([0f32; W], [0f32; W]);
    let (a, b) = (&mut run_dy[..w], &mut run_dy_xhat[..w]);
    let paired = !(PAIRED_FEATURES + 1..PAIRED_SUMS_FROM).contains(&w);
    let run = ROWS_PER_F32_SUM * stride;
    for (xs, dys) in x.chunks(run).zip(dy.chunks(run)) {
        let rows = (xs.chunks(stride).zip(dys.chunks(stride)))
            .map(|(v, d)| (&v[cols.clone()], &d[cols.clone()]));
        a.fill(0.0);
        b.fill(0.0);
        for rows in in_pairs(rows, paired) {
            match rows {
                Rows::Two((v0, d0), (v1, d1)) => {
                    for j in 0..w {
                        let ((g0, h0), (g1, h1)) = (terms(v0, d0, j), terms(v1, d1, j));
                        a[j] = (a[j] + g0) + g1;
                        b[j] = (b[j] + g0 * h0) + g1 * h1;
                    }
                }
                Rows::One((v, d)) => {
                    for j in 0..w {
                        let (g, h) = terms(v, d, j);
                        a[j] += g;
                        b[j] += g * h;
                    }
                }
            }
        }
        for j in 0..w {
            sum_dy[j] += a[j] as f64;
            sum_dy_xhat[j] += b[j] as f64;
        }
    }
}

/// One output of [`input_gradient`], at feature `j`, `dy` through `gate`.
#[inline(always)]
fn input_gradient_at<G: Gate>(
    (gate, j): (&G, usize),
    (x, dy): (f32, f32),
    [mean, k, slope, offset]: [f32; 4],
) -> f32 {
    let centered = x - mean;
    (k * gate.pass(j, centered, dy) + offset) - centered * slope
}

/// [`input_gradient_at`] over the 8-feature block from `j` of a row (see [`blocks_of_8`]),
/// `dy` through `gate`; `coef` holds the block's `mean`, `k`, `slope` and `offset`.
#[inline(always)]
fn input_gradient_8<G: Gate>(
    o: &mut [f32; 8],
    (x, dy): (&[f32; 8], &[f32; 8]),
    (gate, j): (&G, usize),
    coef: [&[f32; 8]; 4],
) {
    let [mean, k, slope, offset] = coef;
    for l in 0..8 {
        let coef = [mean[l], k[l], slope[l], offset[l]];
        o[l] = input_gradient_at((gate, j + l), (x[l], dy[l]), coef);
    }
}

/// `dx = k * dy - (x - mean) * slope + offset` (see [`DxCoefficients`]), `dy` first through
/// a fused ReLU's gate with `relu` (see [`ReluGate`]): rows that
/// are not whole vectors in 8-feature blocks (see [`blocks_of_8`]), two rows per pass over
/// the per-feature constants (see [`in_pairs`]); other rows one at a time, in the plain
/// loop. A vectorised function for each case, as [`normalize`].
pub(super) fn input_gradient(
    x: &[f32],
    dy: &[f32],
    coef: DxCoefficients<'_>,
    relu: Option<ReluGate<'_>>,
    dx: &mut [f32],
) {
    match relu {
        None => input_gradient_plain(x, dy, coef, dx),
        Some(gate) => input_gradient_relu(x, dy, coef, gate, dx),
    }
}

multiversion! {
    /// [`input_gradient`] without a ReLU.
    fn input_gradient_plain(x: &[f32], dy: &[f32], coef: DxCoefficients<'_>, dx: &mut [f32]) {
        input_gradient_through(x, dy, coef, Open, dx)
    }
}

multiversion! {
    /// [`input_gradient`] through a ReLU.
    fn input_gradient_relu(
        x: &[f32],
        dy: &[f32],
        coef: DxCoefficients<'_>,
        gate: ReluGate<'_>,
        dx: &mut [f32],
    ) {
        input_gradient_through(x, dy, coef, gate, dx)
    }
}

/// [`input_gradient`] through `gate`.
#[inline(always)]
fn input_gradient_through<G: Gate>(
    x: &[f32],
    dy: &[f32],
    coef: DxCoefficients<'_>,
    gate: G,
    dx: &mut [f32],
) {
    let c = coef.mean.len();
    let (m, k) = (coef.mean, &coef.k[..c]);
    let (slope, offset) = (&coef.slope[..c], &coef.offset[..c]);
    // Cut to `c` features, as the constants are, so that the loop's indexing needs no checks.
    let gate = gate.columns(0..c);
    let rows = dx
        .chunks_exact_mut(c)
        .zip(x.chunks_exact(c).zip(dy.chunks_exact(c)));
    if !ragged(c) {
        for (o, (v, d)) in rows {
            for j in 0..c {
                let coef = [m[j], k[j], slope[j], offset[j]];
                o[j] = input_gradient_at((&gate, j), (v[j], d[j]), coef);
            }
        }
        return;
    }
    for rows in in_pairs(rows, c <= PAIRED_FEATURES) {
        let (first, mut second) = rows.split();
        for j in blocks_of_8(c) {
            let block = [lanes(m, j), lanes(k, j), lanes(slope, j), lanes(offset, j)];
            let (v, d) = first.1;
            let at = (&gate, j);
            input_gradient_8(lanes_mut(first.0, j), (lanes(v, j), lanes(d, j)), at, block);
            if let Some((o, (v, d))) = &mut second {
                input_gradient_8(lanes_mut(o, j), (lanes(v, j), lanes(d, j)), at, block);
            }
        }
    }
}
