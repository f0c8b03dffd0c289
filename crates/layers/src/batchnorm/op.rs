//! The fused BatchNorm op: statistics, normalisation, scale and shift in one sweep, and a
//! hand-written closed-form backward in one more, instead of the eight primitive ops (each
//! keeping its output for the backward) that the composed version in `reference.rs` records.

use super::kernels::{
    gradient_sums, input_gradient, normalize, DxCoefficients, Gate, Norm, ReluGate, ScaleShift,
};
use super::panels::{for_each_row_chunk_mut, reduce_rows, strip, Totals};
use super::stats::{batch_moments, require_two_rows, BatchStats};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use tapegrad_core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::multiversion;

/// Where a training op puts the batch statistics its forward computed, for the layer's
/// running statistics.
pub(crate) type StatsReport = Arc<Mutex<Option<BatchStats>>>;

/// `y = gamma * (x - mean) * invstd + beta` over `x: [n, c]`, per feature, as one tape op.
///
/// Inputs: `x`, then optionally `gamma` and `beta` (both `[c]`, both or neither; without
/// them the op returns `x_hat`). The statistics are given at construction:
///
/// - [`BatchNormOp::with_batch_stats`]: the batch's own mean and biased variance
///   (training). They depend on `x`, and the backward differentiates through them:
///   per feature over the `n` rows, with `x_hat = (x - mean) * invstd`,
///   `dbeta = sum(dy)`, `dgamma = sum(dy * x_hat)`,
///   `dx = gamma * invstd / n * (n * dy - sum(dy) - x_hat * sum(dy * x_hat))`.
/// - [`BatchNormOp::with_fixed_stats`]: constants such as the running statistics
///   (evaluation). Still differentiable: `dx = gamma * invstd * dy`, and `dgamma`, `dbeta`
///   as above.
///
/// (`BatchNorm1d` and [`batch_norm_train`] let the forward compute the batch statistics
/// itself, in the same sweep as the normalisation.)
///
/// The op saves no per-element state for its backward: `x` stays on the tape, so `x_hat` is
/// recomputed from it and the per-feature `mean` and `invstd` the forward needs anyway.
/// That is less memory traffic than writing and re-reading an `x_hat` tensor. Forward and
/// backward each sweep the rows twice, in panels (see `panels.rs`); a small batch stays in the
/// cache for the second sweep.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{BatchNormOp, BatchStats};
///
/// let x = Tensor::from_vec(vec![2, 1], vec![1.0, 3.0]);
/// let stats = BatchStats::of(&x);
/// let mut tape = Tape::new();
/// let xv = tape.variable(x);
/// let y = tape.apply(BatchNormOp::with_batch_stats(&stats, 0.0), &[xv]);
/// assert_eq!(tape.value(y).data(), &[-1.0, 1.0]);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNormOp {
    features: usize,
    /// The per-feature constants side by side (one allocation per op, not five): those of
    /// [`Norm`], `[mean | mean_lo | invstd]`, the mean rounded to `f32`, and what that
    /// rounding lost (`x - mean` is computed as `(x - mean) - mean_lo`, which keeps the mean's
    /// `f64` precision for one more subtraction per element; for `x` near the mean, `x - mean`
    /// is exact in `f32`), and `1 / sqrt(var + eps)`; then, once the forward has run, the
    /// output's `[scale | shift]` (see [`ScaleShift`]). Empty until the statistics are known.
    constants: Vec<f32>,
    /// Whether `mean` and `invstd` are the statistics of the input (so functions of it).
    batch_stats: bool,
    /// Set when the forward computes the statistics of its input itself.
    from_input: Option<FromInput>,
    /// Whether a ReLU follows the normalisation inside the op (see [`BatchNormOp::then_relu`]).
    relu: bool,
}

/// What a forward that computes its own batch statistics needs.
#[derive(Clone, Debug)]
struct FromInput {
    eps: f32,
    report: Option<StatsReport>,
}

/// `1 / sqrt(var + eps)`, in `f64` before rounding.
#[inline(always)]
fn invstd(var: f64, eps: f32) -> f32 {
    (1.0 / (var + eps as f64).sqrt()) as f32
}

/// Per-feature constants kept by the op: those of [`Norm`], then those of [`ScaleShift`].
const CONSTANTS: usize = 5;

/// The first `K` slices of `len` values of `data`, side by side: how the op's per-feature
/// vectors (`[mean | mean_lo | invstd | ...]`) are kept in one allocation.
fn parts<const K: usize, T>(data: &[T], len: usize) -> [&[T]; K] {
    std::array::from_fn(|i| &data[i * len..(i + 1) * len])
}

/// [`parts`], mutable.
fn parts_mut<const K: usize, T>(data: &mut [T], len: usize) -> [&mut [T]; K] {
    let mut rest = data;
    std::array::from_fn(|_| {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        part
    })
}

/// The op's per-feature constants (see `BatchNormOp::constants`) from `f64` statistics:
/// the mean split in an `f32` and its rounding residual, and `1 / sqrt(var + eps)`; with
/// room for the output's, which the forward adds.
fn split_stats(stats: (&[f64], &[f64]), eps: f32) -> Vec<f32> {
    let (mean64, var64) = stats;
    let c = mean64.len();
    let mut constants = Vec::with_capacity(CONSTANTS * c);
    constants.resize(3 * c, 0.0);
    let [mean, mean_lo, inv] = parts_mut(&mut constants, c);
    norm_constants(mean64, var64, eps, mean, mean_lo, inv);
    constants
}

multiversion! {
    /// The loop of [`split_stats`]: vectorised four features at a time rather than two,
    /// since a square root and a division per feature, in `f64`, were 3% of a 60x100 call.
    fn norm_constants(
        mean64: &[f64],
        var64: &[f64],
        eps: f32,
        mean: &mut [f32],
        mean_lo: &mut [f32],
        inv: &mut [f32],
    ) {
        for (j, (&m, &v)) in mean64.iter().zip(var64).enumerate() {
            mean[j] = m as f32;
            mean_lo[j] = (m - mean[j] as f64) as f32;
            inv[j] = invstd(v, eps);
        }
    }
}

impl BatchNormOp {
    /// Normalises with `stats`, which must be the [`BatchStats`] of the very input the op is
    /// applied to: the backward treats them as functions of it.
    pub fn with_batch_stats(stats: &BatchStats, eps: f32) -> Self {
        BatchNormOp {
            constants: split_stats((&stats.mean, &stats.var), eps),
            ..Self::empty(stats.mean.len(), true)
        }
    }

    /// Normalises with fixed `mean` and (biased or running) `var`, constants for the
    /// backward.
    ///
    /// Panics if their lengths differ.
    pub fn with_fixed_stats(mean: &[f32], var: &[f32], eps: f32) -> Self {
        assert_eq!(
            mean.len(),
            var.len(),
            "batch_norm: {} means for {} variances",
            mean.len(),
            var.len()
        );
        let c = mean.len();
        let mut constants = Vec::with_capacity(CONSTANTS * c);
        constants.extend_from_slice(mean);
        constants.resize(2 * c, 0.0);
        constants.extend(var.iter().map(|&v| invstd(v as f64, eps)));
        BatchNormOp {
            constants,
            ..Self::empty(c, false)
        }
    }

    /// Normalises `features` features with the statistics of the input, computed by the
    /// forward in the same sweep as the output and, if `report` is given, left there.
    pub(crate) fn from_input(features: usize, eps: f32, report: Option<StatsReport>) -> Self {
        BatchNormOp {
            from_input: Some(FromInput { eps, report }),
            ..Self::empty(features, true)
        }
    }

    fn empty(features: usize, batch_stats: bool) -> Self {
        BatchNormOp {
            features,
            constants: Vec::new(),
            batch_stats,
            from_input: None,
            relu: false,
        }
    }

    /// The same op followed by a ReLU, in the same sweeps: the output is `relu(y)` (as
    /// [`Tape::relu`] gives it, to the bit), and the backward gates `dy` by `y > 0` with `y`
    /// recomputed from `x`, as it recomputes `x_hat`. Against the op and a separate `relu`,
    /// that is one pass over the output and two over its gradient fewer, and one tensor less
    /// kept for the backward: what frameworks fuse after a BatchNorm (oneDNN's
    /// `fuse_norm_relu`, cuDNN's BatchNorm-activation modes). [`Sequential`](crate::Sequential)
    /// uses it for a `BatchNorm1d` directly followed by a ReLU. The op is named
    /// `batch_norm_relu` in the tape's op timings.
    ///
    /// ```
    /// use tapegrad_core::{Tape, Tensor};
    /// use tapegrad_layers::{BatchNormOp, BatchStats};
    ///
    /// let x = Tensor::from_vec(vec![2, 1], vec![1.0, 3.0]);
    /// let stats = BatchStats::of(&x);
    /// let mut tape = Tape::new();
    /// let xv = tape.variable(x);
    /// let y = tape.apply(BatchNormOp::with_batch_stats(&stats, 0.0).then_relu(), &[xv]);
    /// assert_eq!(tape.value(y).data(), &[0.0, 1.0]);
    /// ```
    pub fn then_relu(self) -> Self {
        BatchNormOp { relu: true, ..self }
    }

    /// The output's constants (see [`ScaleShift`]), once the forward has set them.
    fn scale_shift(&self) -> ScaleShift<'_> {
        let [mean, _, _, scale, shift] = parts(&self.constants, self.features);
        ScaleShift { mean, scale, shift }
    }

    /// The output's per-feature `scale = gamma * invstd` (`invstd` without gamma), which the
    /// forward computed: also the input gradient's `k`.
    fn scale(&self) -> &[f32] {
        let [_, _, _, scale] = parts(&self.constants, self.features);
        scale
    }

    /// The per-feature constants of `x_hat`.
    fn norm(&self) -> Norm<'_> {
        let [mean, mean_lo, invstd] = parts(&self.constants, self.features);
        Norm {
            mean,
            mean_lo,
            invstd,
        }
    }

    /// `(n, c)` of the input, or a panic naming the op and both shapes.
    fn dims(&self, x: &Tensor) -> (usize, usize) {
        match x.shape() {
            &[n, c] if c == self.features => (n, c),
            s => panic!(
                "batch_norm: expected an input of shape [batch, {}], got {s:?}",
                self.features
            ),
        }
    }

    /// The statistics of `x` (kept in `self` for the backward, and reported if asked), then
    /// `y`.
    fn forward_from_input(&mut self, x: &Tensor, affine: (&[f32], &[f32]), y: &mut Tensor) {
        let FromInput { eps, report } = self.from_input.clone().expect("statistics from input");
        let (n, c) = self.dims(x);
        assert!(
            n > 0,
            "batch_norm: statistics need a batch, got shape {:?}",
            x.shape()
        );
        let (mean, var) = batch_moments(x.data(), n, c).into_mean_var();
        self.constants = split_stats((&mean, &var), eps);
        self.normalize(x, affine, y);
        if let Some(report) = report {
            let stats = BatchStats { n, mean, var };
            *report.lock().expect("batch statistics report") = Some(stats);
        }
    }

    /// `y = gamma * x_hat + beta`, panel by panel, as `(x - mean) * scale + shift` (two
    /// products and sums per element fewer), the folded constants kept after [`Norm`]'s.
    fn normalize(&mut self, x: &Tensor, affine: (&[f32], &[f32]), y: &mut Tensor) {
        let (_, c) = self.dims(x);
        let (gamma, beta) = affine;
        self.constants.resize(CONSTANTS * c, 0.0);
        let [_, mean_lo, invstd, scale, shift] = parts_mut(&mut self.constants, c);
        for j in 0..c {
            scale[j] = gamma[j] * invstd[j];
            shift[j] = (beta[j] as f64 - mean_lo[j] as f64 * scale[j] as f64) as f32;
        }
        let (affine, relu) = (self.scale_shift(), self.relu);
        for_each_row_chunk_mut(y.data_mut(), c, |at, ys| {
            normalize(&x.data()[at..at + ys.len()], affine, relu, ys)
        });
    }
}

/// `gamma` and `beta` of an op's `num_inputs` inputs (`input(i)`, `x` being input 0),
/// checked against `x`; `None` without them.
fn affine<'a>(
    num_inputs: usize,
    input: impl Fn(usize) -> &'a Tensor,
    x: &Tensor,
    c: usize,
) -> Option<(&'a [f32], &'a [f32])> {
    match num_inputs {
        1 => None,
        3 => {
            let (gamma, beta) = (input(1), input(2));
            assert!(
                gamma.shape() == [c] && beta.shape() == [c],
                "batch_norm: weight {:?} and bias {:?} do not fit input {:?} (expected [{c}])",
                gamma.shape(),
                beta.shape(),
                x.shape()
            );
            Some((gamma.data(), beta.data()))
        }
        n => panic!("batch_norm: expects x, or x, weight and bias; got {n} inputs"),
    }
}

impl Op for BatchNormOp {
    fn name(&self) -> &'static str {
        if self.relu {
            "batch_norm_relu"
        } else {
            "batch_norm"
        }
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        let (_, c) = self.dims(x);
        // y = x_hat * gamma + beta; without affine parameters gamma = 1, beta = 0.
        let unit;
        let (gamma, beta) = match affine(ctx.num_inputs(), |i| ctx.input(i), x, c) {
            Some(gb) => gb,
            None => {
                unit = (vec![1.0; c], vec![0.0; c]);
                (&unit.0[..], &unit.1[..])
            }
        };
        let mut y = ctx.buffer(x.shape());
        if c > 0 {
            if self.from_input.is_some() {
                self.forward_from_input(x, (gamma, beta), &mut y);
            } else {
                self.normalize(x, (gamma, beta), &mut y);
            }
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, dy) = (ctx.input(0), ctx.grad_output());
        let (n, c) = self.dims(x);
        let affine = affine(ctx.num_inputs(), |i| ctx.input(i), x, c);
        let (xs, dys) = (x.data(), dy.data());
        let wants_params = affine.is_some() && (ctx.needs_grad(1) || ctx.needs_grad(2));
        let wants_sums = self.batch_stats || wants_params;
        let mut dx = ctx.needs_grad(0).then(|| ctx.buffer(x.shape()));

        // Sweep 1: per feature sum(dy) and sum(dy * x_hat) per panel (runs of rows in f32, the
        // runs in f64), the panels added in order. Sweep 2:
        // dx = k * (dy - sum(dy)/n - x_hat * sum(dy x_hat)/n) with k = gamma * invstd (the
        // forward's scale), folded as `DxCoefficients`; with fixed statistics only the first
        // term remains.
        let norm = self.norm();
        // A fused ReLU's gate, from the output's constants.
        let relu = self.relu.then(|| ReluGate::new(self.scale_shift()));
        let mut sums = vec![0f64; 2 * c]; // [sum(dy) | sum(dy * x_hat)]: one allocation
        let [sum_dy, sum_dy_xhat] = parts_mut(&mut sums, c);
        if wants_sums && c > 0 {
            let partial = |rows: Range<usize>, cols: Range<usize>, (a, b): Totals<'_>| {
                let (x, dy) = (strip(xs, c, &rows, &cols), strip(dys, c, &rows, &cols));
                let relu = relu.map(|gate| gate.columns(cols.clone()));
                gradient_sums(x, dy, c, norm.columns(cols), relu, (a, b));
            };
            let add = |_: usize, _: usize, (a, b): Totals<'_>, (pa, pb): (&[f64], &[f64])| {
                a.iter_mut().zip(pa).for_each(|(s, p)| *s += p);
                b.iter_mut().zip(pb).for_each(|(s, p)| *s += p);
            };
            reduce_rows(xs.len(), c, (&mut *sum_dy, &mut *sum_dy_xhat), partial, add);
        }
        let (sum_dy, sum_dy_xhat) = (&*sum_dy, &*sum_dy_xhat);
        if let Some(dx) = &mut dx {
            let k = self.scale();
            let sums = self.batch_stats.then_some((sum_dy, sum_dy_xhat));
            let coefficients = dx_coefficients(norm, k, sums, n);
            let [slope, offset] = parts(&coefficients, c);
            let coef = DxCoefficients {
                mean: norm.mean,
                k,
                slope,
                offset,
            };
            if c > 0 {
                for_each_row_chunk_mut(dx.data_mut(), c, |at, d| {
                    let (x, dy) = (&xs[at..at + d.len()], &dys[at..at + d.len()]);
                    input_gradient(x, dy, coef, relu, d)
                });
            }
        }
        if let Some(dx) = dx {
            ctx.set_grad(0, dx);
        }
        if wants_params {
            // dgamma (input 1) = sum(dy * x_hat) and dbeta (input 2) = sum(dy): pass 1's sums.
            for (input, sums) in [(1, sum_dy_xhat), (2, sum_dy)] {
                if ctx.needs_grad(input) {
                    let mut g = ctx.buffer(&[c]);
                    for (g, &s) in g.data_mut().iter_mut().zip(sums.iter()) {
                        *g = s as f32;
                    }
                    ctx.set_grad(input, g);
                }
            }
        }
    }
}

/// The per-feature `[slope | offset]` of the input gradient (see [`DxCoefficients`]), from
/// its `k` and, with batch statistics, `sums = (sum(dy), sum(dy * x_hat))` over `n` rows;
/// with fixed statistics both are 0. In `f64` before rounding, with a product by `1 / n`
/// rather than two divisions per feature.
fn dx_coefficients(
    norm: Norm<'_>,
    k: &[f32],
    sums: Option<(&[f64], &[f64])>,
    n: usize,
) -> Vec<f32> {
    let c = k.len();
    let mut coefficients = vec![0f32; 2 * c];
    let [slope, offset] = parts_mut(&mut coefficients, c);
    if let Some((sum_dy, sum_dy_xhat)) = sums {
        let inv_n = 1.0 / n as f64;
        for j in 0..c {
            let (k, invstd) = (k[j] as f64, norm.invstd[j] as f64);
            let slope64 = k * invstd * (sum_dy_xhat[j] * inv_n);
            slope[j] = slope64 as f32;
            offset[j] = (norm.mean_lo[j] as f64 * slope64 - k * (sum_dy[j] * inv_n)) as f32;
        }
    }
    coefficients
}

/// Applies `op` to `x` and, if given, `(gamma, beta)`.
pub(crate) fn apply(tape: &mut Tape, op: BatchNormOp, x: Var, affine: Option<(Var, Var)>) -> Var {
    match affine {
        Some((gamma, beta)) => tape.apply(op, &[x, gamma, beta]),
        None => tape.apply(op, &[x]),
    }
}

/// Functional BatchNorm with the batch's statistics (PyTorch's
/// `F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)`): no running
/// statistics are read or written. One fused op on the tape.
///
/// Panics if `x` is not `[n, c]` with `n > 1`, or `gamma`/`beta` are not `[c]`.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::batch_norm_train;
///
/// let mut tape = Tape::new();
/// let x = tape.variable(Tensor::from_vec(vec![2, 1], vec![1.0, 3.0]));
/// let g = tape.variable(Tensor::from_vec(vec![1], vec![2.0]));
/// let b = tape.variable(Tensor::from_vec(vec![1], vec![0.5]));
/// let y = batch_norm_train(&mut tape, x, Some((g, b)), 0.0);
/// assert_eq!(tape.value(y).data(), &[-1.5, 2.5]);
/// ```
pub fn batch_norm_train(tape: &mut Tape, x: Var, affine: Option<(Var, Var)>, eps: f32) -> Var {
    let shape = tape.shape(x);
    require_two_rows(&"batch_norm", shape);
    let &[_, c] = shape else {
        panic!("batch_norm: statistics need an input of shape [batch > 0, features], got {shape:?}")
    };
    apply(tape, BatchNormOp::from_input(c, eps, None), x, affine)
}

/// Functional BatchNorm with fixed statistics (PyTorch's
/// `F.batch_norm(x, mean, var, gamma, beta, training=False, eps=eps)`), differentiable with
/// respect to `x`, `gamma` and `beta`.
pub fn batch_norm_eval(
    tape: &mut Tape,
    x: Var,
    affine: Option<(Var, Var)>,
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Var {
    apply(
        tape,
        BatchNormOp::with_fixed_stats(mean, var, eps),
        x,
        affine,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad_core::gradcheck;

    fn t(shape: &[usize], f: impl Fn(usize) -> f32) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_vec(shape.to_vec(), (0..n).map(f).collect())
    }

    fn inputs() -> [Tensor; 3] {
        [
            t(&[5, 3], |i| (i as f32 * 1.3).sin() * 1.5 + 0.2),
            t(&[3], |i| 0.7 + 0.4 * i as f32),
            t(&[3], |i| 0.1 * i as f32 - 0.2),
        ]
    }

    #[test]
    fn forward_normalises_each_feature() {
        let [x, gamma, beta] = inputs();
        let mut tape = Tape::new();
        let xv = tape.constant(x);
        let y = batch_norm_train(&mut tape, xv, None, 1e-5);
        let s = BatchStats::of(tape.value(y));
        for j in 0..3 {
            assert!(s.mean[j].abs() < 1e-6, "{s:?}");
            assert!((s.var[j] - 1.0).abs() < 1e-4, "{s:?}");
        }
        let (g, b) = (tape.constant(gamma.clone()), tape.constant(beta.clone()));
        let ya = batch_norm_train(&mut tape, xv, Some((g, b)), 1e-5);
        for (r, row) in tape.value(ya).data().chunks(3).enumerate() {
            for (j, &got) in row.iter().enumerate() {
                let want = gamma.data()[j] * tape.value(y).row(r)[j] + beta.data()[j];
                assert!((got - want).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn gradcheck_training_statistics_wrt_x_gamma_beta() {
        gradcheck(&inputs(), |tape, v| {
            batch_norm_train(tape, v[0], Some((v[1], v[2])), 1e-5)
        })
        .unwrap();
        let [x, ..] = inputs();
        gradcheck(&[x], |tape, v| batch_norm_train(tape, v[0], None, 1e-5)).unwrap();
    }

    #[test]
    fn gradcheck_fixed_statistics_wrt_x_gamma_beta() {
        let (mean, var) = ([0.3, -0.5, 1.0], [0.8, 2.0, 0.25]);
        gradcheck(&inputs(), |tape, v| {
            batch_norm_eval(tape, v[0], Some((v[1], v[2])), &mean, &var, 1e-5)
        })
        .unwrap();
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // 300 x 400 has four panels: reduced by panels on one or two threads, by column
        // strips on three; 128 x 100 is one panel: one strip, two or three; 600 x 1024 has
        // 19, merged by features on two or three threads. Each run starts with NaN in its
        // thread's scratch space: no result may depend on what a reduction left there.
        for (n, c) in [(300, 400), (128, 100), (600, 1024)] {
            let x = t(&[n, c], |i| ((i * 7919) % 1013) as f32 / 101.0 - 5.0);
            let dy = t(&[n, c], |i| ((i * 104_729) % 1009) as f32 / 500.0 - 1.0);
            let gamma = t(&[c], |i| 1.0 + (i % 7) as f32 * 0.1);
            let beta = t(&[c], |i| (i % 5) as f32 * 0.1);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    super::super::panels::poison_scratch();
                    let mut tape = Tape::new();
                    let (xv, g, b) = (
                        tape.variable(x.clone()),
                        tape.variable(gamma.clone()),
                        tape.variable(beta.clone()),
                    );
                    let y = batch_norm_train(&mut tape, xv, Some((g, b)), 1e-5);
                    let out = tape.value(y).clone();
                    let grads = tape.backward_with(y, dy.clone());
                    let get = |v| grads.get(v).unwrap().clone();
                    [out, get(xv), get(g), get(b)]
                })
            };
            let one = run(1);
            assert_eq!(one, run(2), "{n} x {c}");
            assert_eq!(one, run(3), "{n} x {c}");
        }
    }

    /// The op, fused with a ReLU or followed by `Tape::relu`, on `x` with `gamma`, `beta`,
    /// batch statistics or fixed ones: the output and the gradients of `x`, `gamma` and
    /// `beta` for the output gradient `dr`.
    fn op_and_relu(fused: bool, batch: bool, [x, gamma, beta, dr]: [&Tensor; 4]) -> [Tensor; 4] {
        let c = gamma.numel();
        let op = if batch {
            BatchNormOp::with_batch_stats(&BatchStats::of(x), 1e-5)
        } else {
            let mean: Vec<f32> = (0..c).map(|j| (j % 3) as f32 * 0.2 - 0.2).collect();
            let var: Vec<f32> = (0..c).map(|j| 0.5 + (j % 4) as f32 * 0.3).collect();
            BatchNormOp::with_fixed_stats(&mean, &var, 1e-5)
        };
        let mut tape = Tape::new();
        let v = [x, gamma, beta].map(|t| tape.variable(t.clone()));
        let r = match fused {
            true => tape.apply(op.then_relu(), &v),
            false => {
                let y = tape.apply(op, &v);
                tape.relu(y)
            }
        };
        let out = tape.value(r).clone();
        let grads = tape.backward_with(r, dr.clone());
        let [dx, dg, db] = v.map(|v| grads.get(v).unwrap().clone());
        [out, dx, dg, db]
    }

    #[test]
    fn a_fused_relu_gives_the_bits_of_the_op_then_relu() {
        // Shapes through every loop: ragged rows in pairs (100), whole vectors (512), a
        // column strip per thread, several panels (300 x 400), merged panels and a second
        // sweep of the gradient sums (600 x 1100); betas that leave some features mostly
        // below zero, so that the gate closes for a good share of the elements.
        for (n, c) in [(5, 3), (60, 100), (128, 512), (300, 400), (600, 1100)] {
            let x = t(&[n, c], |i| ((i * 7919) % 1013) as f32 / 101.0 - 5.0);
            let dr = t(&[n, c], |i| ((i * 104_729) % 1009) as f32 / 500.0 - 1.0);
            let gamma = t(&[c], |i| 1.0 + (i % 7) as f32 * 0.1);
            let beta = t(&[c], |i| (i % 5) as f32 * 0.4 - 1.0);
            let inputs = [&x, &gamma, &beta, &dr];
            for batch in [true, false] {
                let plain = op_and_relu(false, batch, inputs);
                let closed = plain[0].data().iter().filter(|&&r| r == 0.0).count();
                assert!(
                    closed > n * c / 5 && closed < n * c * 4 / 5,
                    "{closed} of {n}x{c}"
                );
                for threads in [1, 2, 3] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let fused = pool.install(|| op_and_relu(true, batch, inputs));
                    let what = ["output", "dx", "dgamma", "dbeta"];
                    for ((a, b), what) in fused.iter().zip(&plain).zip(what) {
                        assert_eq!(a, b, "{what}, {n} x {c}, batch {batch}, {threads} threads");
                    }
                }
            }
        }
    }

    #[test]
    fn gradcheck_a_fused_relu_wrt_x_gamma_beta() {
        // Inputs whose outputs before the ReLU stay clear of 0 by more than gradcheck's
        // step moves them.
        let [x, gamma, _] = inputs();
        let beta = Tensor::from_vec(vec![3], vec![0.3, -0.25, 0.05]);
        gradcheck(&[x.clone(), gamma.clone(), beta.clone()], |tape, v| {
            let op = BatchNormOp::from_input(3, 1e-5, None).then_relu();
            apply(tape, op, v[0], Some((v[1], v[2])))
        })
        .unwrap();
        let stats = BatchStats::of(&x);
        let [mean, var] =
            [&stats.mean, &stats.var].map(|s| s.iter().map(|&v| v as f32).collect::<Vec<_>>());
        gradcheck(&[x, gamma, beta], |tape, v| {
            let op = BatchNormOp::with_fixed_stats(&mean, &var, 1e-5).then_relu();
            apply(tape, op, v[0], Some((v[1], v[2])))
        })
        .unwrap();
    }

    #[test]
    fn only_the_needed_gradients_are_computed() {
        let [x, gamma, beta] = inputs();
        let mut tape = Tape::new();
        let xv = tape.constant(x);
        let (g, b) = (tape.variable(gamma), tape.constant(beta));
        let y = batch_norm_train(&mut tape, xv, Some((g, b)), 1e-5);
        let loss = tape.sum(y);
        let grads = tape.backward(loss);
        assert!(grads.get(xv).is_none() && grads.get(b).is_none());
        // sum(y) = sum(gamma * x_hat) + n * beta, and each column of x_hat sums to 0.
        assert!(grads.get(g).unwrap().data().iter().all(|d| d.abs() < 1e-5));
    }

    #[test]
    fn inference_records_nothing() {
        let [x, ..] = inputs();
        let mut tape = Tape::inference();
        let xv = tape.constant(x);
        batch_norm_train(&mut tape, xv, None, 1e-5);
        assert_eq!(tape.num_recorded_ops(), 0);
    }

    #[test]
    #[should_panic(expected = "batch_norm: expected an input of shape [batch, 3], got [5, 4]")]
    fn wrong_feature_count_panics_with_both_shapes() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![5, 4]));
        batch_norm_eval(&mut tape, x, None, &[0.0; 3], &[1.0; 3], 1e-5);
    }

    #[test]
    #[should_panic(expected = "batch_norm: weight [2] and bias [3] do not fit input [5, 3]")]
    fn wrong_parameter_shape_panics() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![5, 3]));
        let g = tape.constant(Tensor::zeros(vec![2]));
        let b = tape.constant(Tensor::zeros(vec![3]));
        batch_norm_eval(&mut tape, x, Some((g, b)), &[0.0; 3], &[1.0; 3], 1e-5);
    }

    #[test]
    #[should_panic(
        expected = "batch_norm: expected more than 1 value per channel when training, got input of shape [1, 3]"
    )]
    fn functional_batch_of_one_panics() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![1, 3]));
        batch_norm_train(&mut tape, x, None, 1e-5);
    }
}
