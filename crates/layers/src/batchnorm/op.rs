//! The fused BatchNorm op: normalisation, scale, shift (and optionally a ReLU) in one pass,
//! and the closed-form backward of `docs/BATCHNORM.md`, not the eight core ops of `reference.rs`.

use super::fast;
use super::stats::{column_sums, for_each_row_chunk, BatchStats};
use std::borrow::Cow;
use std::ops::Range;
use tapegrad_core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::{self as kernels, relu_backward};

/// `y = gamma * (x - mean) * invstd + beta` over `x: [n, c, *]`, per feature, as one tape op:
/// the statistics of feature `j` are over all its `m = n * s` values (`s` the product of the
/// dimensions after `c`: 1 for `[n, c]`, `h * w` for images).
///
/// Inputs: `x`, then `gamma` and `beta` (`[c]`, both or neither: without, `y = x_hat`). The
/// statistics are given at construction:
///
/// - [`BatchNormOp::with_batch_stats`] (training): functions of `x`, differentiated through:
///   per feature over its `m` values, `dbeta = sum(dy)`, `dgamma = sum(dy * x_hat)`,
///   `dx = gamma * invstd / m * (m * dy - sum(dy) - x_hat * sum(dy * x_hat))`.
/// - [`BatchNormOp::with_fixed_stats`] (evaluation): constants, `dx = gamma * invstd * dy`.
///
/// No per-element state: the backward recomputes `x_hat` from `x`, which stays on the tape.
#[derive(Clone, Debug)]
pub struct BatchNormOp {
    /// The mean rounded to `f32`, and what rounding lost (for a small spread around a large
    /// mean, rounding alone would shift every `x_hat`).
    mean: Vec<f32>,
    mean_lo: Vec<f32>,
    /// `1 / sqrt(var + eps)` per feature.
    invstd: Vec<f32>,
    /// Whether the statistics are the input's, and whether a ReLU follows inside the op.
    batch_stats: bool,
    relu: bool,
}
/// `1 / sqrt(var + eps)`, in `f64` before rounding.
fn invstd(var: f64, eps: f32) -> f32 {
    (1.0 / (var + eps as f64).sqrt()) as f32
}

impl BatchNormOp {
    /// Normalises with `stats`, the [`BatchStats`] of the very input the op is applied to.
    pub fn with_batch_stats(stats: &BatchStats, eps: f32) -> Self {
        let split = |&m: &f64| (m as f32, (m - m as f32 as f64) as f32);
        let (mean, mean_lo) = stats.mean.iter().map(split).unzip();
        BatchNormOp {
            mean,
            mean_lo,
            invstd: stats.var.iter().map(|&v| invstd(v, eps)).collect(),
            batch_stats: true,
            relu: false,
        }
    }
    /// Normalises with constant `mean` and `var`. Panics if their lengths differ.
    pub fn with_fixed_stats(mean: &[f32], var: &[f32], eps: f32) -> Self {
        let (m, v) = (mean.len(), var.len());
        assert_eq!(m, v, "batch_norm: {m} means for {v} variances");
        BatchNormOp {
            mean: mean.to_vec(),
            mean_lo: vec![0.0; mean.len()],
            invstd: var.iter().map(|&v| invstd(v as f64, eps)).collect(),
            batch_stats: false,
            relu: false,
        }
    }
    /// The op then a ReLU, to the bit as [`Tape::relu`] after it, one pass and one tensor
    /// fewer. Named `batch_norm_relu` in the tape's op timings.
    pub fn then_relu(self) -> Self {
        BatchNormOp { relu: true, ..self }
    }
    /// `gamma * invstd` per feature: `y = (x - mean) * scale + beta`, one product per element
    /// fewer than normalising first.
    fn scale<'a>(&'a self, gamma: &'a [f32]) -> impl Iterator<Item = f32> + 'a {
        gamma.iter().zip(&self.invstd).map(|(g, s)| g * s)
    }
    /// `x`, `gamma` and `beta` (ones and zeros without them), borrowed from the tape; or a
    /// panic naming the shapes.
    fn inputs<'a>(&self, count: usize, input: impl Fn(usize) -> &'a Tensor) -> Inputs<'a> {
        let c = self.mean.len();
        let fits = count > 0 && matches!(input(0).shape(), &[_, xc, ..] if xc == c);
        let param = |i: usize| input(i).shape() == [c];
        match count {
            1 if fits => (input(0), vec![1.0; c].into(), vec![0.0; c].into()),
            3 if fits && param(1) && param(2) => {
                (input(0), input(1).data().into(), input(2).data().into())
            }
            _ => panic!(
                "batch_norm: inputs of shapes {:?} do not fit {c} features \
                 (expected [batch, {c}, *], and optionally weight and bias [{c}])",
                (0..count).map(|i| input(i).shape()).collect::<Vec<_>>()
            ),
        }
    }
}

/// `x`, `gamma`, `beta` as the op reads them: borrowed, or ones and zeros made for the op.
type Inputs<'a> = (&'a Tensor, Cow<'a, [f32]>, Cow<'a, [f32]>);

impl Op for BatchNormOp {
    fn name(&self) -> &'static str {
        ["batch_norm", "batch_norm_relu"][self.relu as usize]
    }
    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let input = |i| ctx.input(i);
        let (x, gamma, beta) = self.inputs(ctx.num_inputs(), input);
        let (_, c, s) = dims(x.shape());
        let scale: Vec<f32> = self.scale(&gamma).collect();
        let features = [&self.mean[..], &self.mean_lo, &scale, &beta];
        let mut y = ctx.buffer(x.shape());
        for_each_row_chunk(y.data_mut(), c * s, |i, y| {
            fast::forward(&x.data()[i * c * s..][..y.len()], features, s, self.relu, y)
        });
        y
    }
    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let input = |i| ctx.input(i);
        let (x, gamma, beta) = self.inputs(ctx.num_inputs(), input);
        let (n, c, s) = dims(x.shape());
        let wants_params = ctx.num_inputs() == 3 && (ctx.needs_grad(1) || ctx.needs_grad(2));
        let (mean, mean_lo, invstd) = (&self.mean[..], &self.mean_lo[..], &self.invstd[..]);
        // Per feature, side by side in one allocation: `scale`, which a fused ReLU's gate
        // recomputes the forward's output with, then pass 2's `k`, `offset` and `slope`.
        let mut terms = vec![0f32; 4 * c];
        let (scale, rest) = terms.split_at_mut(c);
        (scale.iter_mut().zip(self.scale(&gamma))).for_each(|(s, v)| *s = v);
        let forward = [mean, mean_lo, &*scale, &beta];
        let (dy, w) = (ctx.grad_output().data(), c * s);
        let rows = |r: Range<usize>| [x.data(), dy].map(|v| &v[r.start * w..r.end * w]);
        // Pass 1: sum(g) and sum(g * (x - mean)) per feature, g the gradient reaching x_hat.
        let mut sums = if self.batch_stats || wants_params {
            column_sums(n, w, 2 * c, |r, acc| {
                fast::sums(rows(r), forward, s, self.relu, acc)
            })
        } else {
            vec![0f64; 2 * c]
        };
        let (sum_g, sum_g_xhat) = sums.split_at_mut(c);
        // sum(g * x_hat) = invstd * sum(g * (x - mean)), in place.
        (sum_g_xhat.iter_mut().zip(invstd)).for_each(|(s, &i)| *s *= i as f64);
        let (sum_g, sum_g_xhat) = (&*sum_g, &*sum_g_xhat);
        if ctx.needs_grad(0) {
            // Pass 2: dx = k * (g - sum(g)/n - x_hat * sum(g x_hat)/n), k = gamma * invstd, as
            // k * g - offset - (x - mean) * slope (the terms in f64); k * g with fixed stats.
            let inv_n = 1.0 / (n * s) as f64;
            let k = |j: usize| gamma[j] as f64 * invstd[j] as f64;
            let (kf, rest) = rest.split_at_mut(c);
            let (offset, slope) = rest.split_at_mut(c);
            for j in 0..c {
                kf[j] = k(j) as f32;
                offset[j] = (k(j) * sum_g[j] * inv_n) as f32;
                slope[j] = (k(j) * invstd[j] as f64 * sum_g_xhat[j] * inv_n) as f32;
            }
            let features = [mean, mean_lo, &*scale, &beta, &*kf, &*offset, &*slope];
            let mut dx = ctx.buffer(x.shape());
            for_each_row_chunk(dx.data_mut(), w, |i, dx| {
                let flags = (self.batch_stats, self.relu);
                fast::dx(rows(i..i + dx.len() / w), features, s, flags, dx)
            });
            ctx.set_grad(0, dx);
        }
        if wants_params {
            // dgamma (input 1) = sum(g * x_hat), dbeta (input 2) = sum(g): pass 1's sums.
            for (input, sums) in [(1, sum_g_xhat), (2, sum_g)] {
                if ctx.needs_grad(input) {
                    // From the tape's pool, where it returns: fresh ones would pile up there.
                    let mut grad = ctx.buffer(&[c]);
                    (grad.data_mut().iter_mut().zip(sums)).for_each(|(g, &s)| *g = s as f32);
                    ctx.set_grad(input, grad);
                }
            }
        }
    }
}

/// `(n, c, s)` of a shape `[n, c, *]`: samples, features, values of a feature per sample.
pub(super) fn dims(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2..].iter().product())
}

/// [`dims`] of a shape `[n, c, *]` with at least one value per feature; `None` otherwise.
pub(super) fn dims_with_values(shape: &[usize]) -> Option<(usize, usize, usize)> {
    (shape.len() > 1)
        .then(|| dims(shape))
        .filter(|&(n, _, s)| n * s > 0)
}

/// Whether `x: [n, c, *]` has the more than one value per feature that a batch's statistics
/// need (PyTorch's check in training).
pub(super) fn has_batch_statistics(shape: &[usize]) -> bool {
    dims_with_values(shape).is_some_and(|(n, _, s)| n * s > 1)
}

/// What PyTorch raises, followed by the shape, where [`has_batch_statistics`] is false.
pub(super) const ONE_VALUE_PER_FEATURE: &str =
    "expected more than 1 value per channel when training, got input of shape";

// The loops over one row of features, which `fast.rs` runs over chunks of rows (or planes).
/// `x - mean`, the mean's rounding residual included: how every loop centres `x`.
#[inline(always)]
fn centred(x: f32, mean: f32, mean_lo: f32) -> f32 {
    (x - mean) - mean_lo
}

/// The normalised, scaled and shifted `x`: what a fused ReLU is applied to.
#[inline(always)]
fn affine(x: f32, [mean, mean_lo, scale, beta]: [f32; 4]) -> f32 {
    centred(x, mean, mean_lo) * scale + beta
}

/// The gradient reaching the normalisation: `dy`, gated as `relu`'s backward if fused, by the
/// forward's value recomputed from `x` (the same bits, and one tensor fewer to read).
#[inline(always)]
fn gated(dy: f32, x: f32, features: [f32; 4], relu: bool) -> f32 {
    match relu {
        true => relu_backward(affine(x, features), dy),
        false => dy,
    }
}

/// Each feature's `[mean, mean_lo, scale, beta]` in turn, from their slices.
#[inline(always)]
fn each([mean, mean_lo, scale, beta]: [&[f32]; 4]) -> impl Iterator<Item = [f32; 4]> + '_ {
    let pairs = mean.iter().zip(mean_lo).zip(scale.iter().zip(beta));
    pairs.map(|((&m, &lo), (&s, &b))| [m, lo, s, b])
}

/// `y = (x - mean) * scale + beta` over one row, then the ReLU if fused.
#[inline(always)]
pub(super) fn forward_row(x: &[f32], features: [&[f32]; 4], relu: bool, y: &mut [f32]) {
    for ((y, &x), f) in y.iter_mut().zip(x).zip(each(features)) {
        let v = affine(x, f);
        *y = if relu { kernels::relu(v) } else { v };
    }
}

/// Adds one row's `g` and `g * (x - mean)` to the per-feature sums; `features` as
/// [`forward_row`]'s.
#[inline(always)]
pub(super) fn sums_row(rows: [&[f32]; 2], features: [&[f32]; 4], relu: bool, sums: &mut [f64]) {
    let [x, dy] = rows;
    let (sum_g, sum_gx) = sums.split_at_mut(x.len());
    let terms = x.iter().zip(dy).zip(each(features));
    for ((s_g, s_gx), ((&x, &dy), f)) in sum_g.iter_mut().zip(sum_gx).zip(terms) {
        let g = gated(dy, x, f, relu);
        *s_g += g as f64;
        *s_gx += (g * centred(x, f[0], f[1])) as f64;
    }
}

/// One row of `dx = k * g - offset - (x - mean) * slope`, or `k * g` with fixed statistics;
/// `features` as [`forward_row`]'s, then `[k, offset, slope]`.
#[inline(always)]
pub(super) fn dx_row(rows: [&[f32]; 2], f: [&[f32]; 7], flags: (bool, bool), dx: &mut [f32]) {
    let ([x, dy], [mean, mean_lo, scale, beta, k, offset, slope]) = (rows, f);
    let (batch, relu) = flags;
    let coefficients = k.iter().zip(offset).zip(slope);
    let terms = x.iter().zip(dy).zip(each([mean, mean_lo, scale, beta]));
    for ((dx, ((&x, &dy), f)), ((&k, &offset), &slope)) in
        dx.iter_mut().zip(terms).zip(coefficients)
    {
        let g = k * gated(dy, x, f, relu);
        *dx = match batch {
            true => g - offset - centred(x, f[0], f[1]) * slope,
            false => g,
        };
    }
}

/// Applies `op` to `x` and, if given, `(gamma, beta)`.
pub(crate) fn apply(tape: &mut Tape, op: BatchNormOp, x: Var, affine: Option<(Var, Var)>) -> Var {
    let params = affine.into_iter().flat_map(|(gamma, beta)| [gamma, beta]);
    tape.apply(op, &[x].into_iter().chain(params).collect::<Vec<_>>())
}

/// Functional BatchNorm with the batch's statistics (PyTorch's `F.batch_norm(x, None, None,
/// gamma, beta, training=True, eps=eps)`). Panics unless `x: [n, c, *]` has more than one
/// value per feature, and `gamma, beta: [c]`.
pub fn batch_norm_train(tape: &mut Tape, x: Var, affine: Option<(Var, Var)>, eps: f32) -> Var {
    let shape = tape.shape(x);
    assert!(
        has_batch_statistics(shape),
        "batch_norm: {ONE_VALUE_PER_FEATURE} {shape:?}"
    );
    let stats = fast::statistics(tape.value(x));
    apply(tape, BatchNormOp::with_batch_stats(&stats, eps), x, affine)
}

/// Functional BatchNorm with fixed statistics (PyTorch's `F.batch_norm(x, mean, var, gamma,
/// beta, training=False, eps=eps)`), differentiable with respect to `x`, `gamma`, `beta`.
pub fn batch_norm_eval(
    tape: &mut Tape,
    x: Var,
    affine: Option<(Var, Var)>,
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Var {
    let op = BatchNormOp::with_fixed_stats(mean, var, eps);
    apply(tape, op, x, affine)
}
