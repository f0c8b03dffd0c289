//! The fused BatchNorm op: normalisation, scale, shift (and optionally a ReLU) in one forward
//! pass, and a hand-written closed-form backward instead of the eight primitive ops the
//! composed version in `reference.rs` records.

use super::stats::{column_sums, for_each_row_chunk, require_two_rows, BatchStats};
use tapegrad_core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::{relu, relu_backward};

/// `y = gamma * (x - mean) * invstd + beta` over `x: [n, c]`, per feature, as one tape op.
///
/// Inputs: `x`, then optionally `gamma` and `beta` (both `[c]`, both or neither; without
/// them the op returns `x_hat = (x - mean) * invstd`). The statistics are given at
/// construction, so the op never computes them itself:
///
/// - [`BatchNormOp::with_batch_stats`]: the batch's own mean and biased variance
///   (training). They depend on `x`, and the backward differentiates through them:
///   per feature over the `n` rows,
///   `dbeta = sum(dy)`, `dgamma = sum(dy * x_hat)`,
///   `dx = gamma * invstd / n * (n * dy - sum(dy) - x_hat * sum(dy * x_hat))`.
/// - [`BatchNormOp::with_fixed_stats`]: constants such as the running statistics
///   (evaluation). Still differentiable: `dx = gamma * invstd * dy`, `dgamma` and `dbeta`
///   as above.
///
/// The op keeps three numbers per feature and no per-element state: `x` stays on the tape,
/// so the backward recomputes `x_hat` from it rather than reading a saved copy.
#[derive(Clone, Debug)]
pub struct BatchNormOp {
    /// The mean of each feature rounded to `f32`, and what the rounding lost: `x - mean` is
    /// `(x - mean) - mean_lo`, since for a feature of small spread around a large mean,
    /// rounding the mean alone would shift every `x_hat` of it by the same error.
    mean: Vec<f32>,
    mean_lo: Vec<f32>,
    /// `1 / sqrt(var + eps)` per feature.
    invstd: Vec<f32>,
    /// Whether the statistics are the input's (so functions of it), and whether a ReLU
    /// follows the normalisation inside the op.
    batch_stats: bool,
    relu: bool,
}

/// `1 / sqrt(var + eps)`, in `f64` before rounding.
fn invstd(var: f64, eps: f32) -> f32 {
    (1.0 / (var + eps as f64).sqrt()) as f32
}

impl BatchNormOp {
    /// Normalises with `stats`, which must be the [`BatchStats`] of the very input the op is
    /// applied to: the backward treats them as functions of it.
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

    /// Normalises with fixed `mean` and `var` (running ones, say), constants for the
    /// backward. Panics if their lengths differ.
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

    /// The same op followed by a ReLU: the output is `relu(y)`, as [`Tape::relu`] gives it,
    /// to the bit, and the backward gates `dy` by the output as `relu`'s backward does.
    /// Against the op and a separate `relu`, one pass over the output and one tensor on the
    /// tape fewer. Named `batch_norm_relu` in the tape's op timings.
    pub fn then_relu(self) -> Self {
        BatchNormOp { relu: true, ..self }
    }

    /// `x`, `gamma` and `beta` (ones and zeros without them) among the op's inputs, or a
    /// panic naming the op and the shapes that do not fit.
    fn inputs<'a>(&self, inputs: &[&'a Tensor]) -> (&'a Tensor, Vec<f32>, Vec<f32>) {
        let c = self.mean.len();
        let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
        match shapes[..] {
            [&[_, xc]] if xc == c => (inputs[0], vec![1.0; c], vec![0.0; c]),
            [&[_, xc], g, b] if xc == c && g == [c] && b == [c] => (
                inputs[0],
                inputs[1].data().to_vec(),
                inputs[2].data().to_vec(),
            ),
            _ => panic!(
                "batch_norm: inputs of shapes {shapes:?} do not fit {c} features \
                 (expected [batch, {c}], and optionally weight and bias [{c}])"
            ),
        }
    }
}

impl Op for BatchNormOp {
    fn name(&self) -> &'static str {
        ["batch_norm", "batch_norm_relu"][self.relu as usize]
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let inputs: Vec<&Tensor> = (0..ctx.num_inputs()).map(|i| ctx.input(i)).collect();
        let ((x, gamma, beta), c) = (self.inputs(&inputs), self.mean.len());
        // y = (x - mean) * (gamma * invstd) + beta: one product per element fewer.
        let scale: Vec<f32> = gamma.iter().zip(&self.invstd).map(|(g, s)| g * s).collect();
        let features = [&self.mean[..], &self.mean_lo, &scale, &beta];
        let mut y = ctx.buffer(x.shape());
        for_each_row_chunk(y.data_mut(), c, |i, y| {
            forward_row(&x.data()[i * c..][..c], features, self.relu, y)
        });
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let inputs: Vec<&Tensor> = (0..ctx.num_inputs()).map(|i| ctx.input(i)).collect();
        let ((x, gamma, _), c) = (self.inputs(&inputs), self.mean.len());
        let n = x.shape()[0];
        let wants_params = ctx.num_inputs() == 3 && (ctx.needs_grad(1) || ctx.needs_grad(2));
        let (mean, mean_lo, invstd) = (&self.mean[..], &self.mean_lo[..], &self.invstd[..]);
        // Row `i` of `x`, `dy` and the output, which only a fused ReLU's gate reads: without
        // one, `dy` stands in for it, so that the loops stream no third tensor from memory.
        let dy = ctx.grad_output().data();
        let out = if self.relu { ctx.output().data() } else { dy };
        let rows = |i: usize| [x.data(), dy, out].map(|v| &v[i * c..][..c]);

        // Pass 1, per feature: sum(g) and sum(g * (x - mean)) in f64, where g is the
        // gradient reaching the normalisation.
        let mut sums = vec![0f64; 2 * c];
        if self.batch_stats || wants_params {
            sums = column_sums(n, c, 2, |i, acc| {
                sums_row(rows(i), [mean, mean_lo], self.relu, acc)
            });
        }
        let (sum_g, sum_gx) = sums.split_at(c);
        // sum(g * x_hat) = invstd * sum(g * (x - mean)).
        let sum_g_xhat: Vec<f64> = (sum_gx.iter().zip(invstd))
            .map(|(&s, &inv)| s * inv as f64)
            .collect();

        if ctx.needs_grad(0) {
            // Pass 2: dx = k * (g - sum(g)/n - x_hat * sum(g x_hat)/n) with k = gamma * invstd,
            // as dx = k * g - offset - (x - mean) * slope, the per-feature terms in f64. With
            // fixed statistics, dx = k * g.
            let inv_n = 1.0 / n as f64;
            let k = |j: usize| gamma[j] as f64 * invstd[j] as f64;
            let per_feature = |f: &dyn Fn(usize) -> f64| (0..c).map(|j| f(j) as f32).collect();
            let kf: Vec<f32> = per_feature(&k);
            let offset: Vec<f32> = per_feature(&|j| k(j) * sum_g[j] * inv_n);
            let slope: Vec<f32> = per_feature(&|j| k(j) * invstd[j] as f64 * sum_g_xhat[j] * inv_n);
            let features = [mean, mean_lo, &kf, &offset, &slope];
            let mut dx = ctx.buffer(x.shape());
            for_each_row_chunk(dx.data_mut(), c, |i, dx| {
                dx_row(rows(i), features, (self.batch_stats, self.relu), dx)
            });
            ctx.set_grad(0, dx);
        }
        if wants_params {
            // dgamma (input 1) = sum(g * x_hat), dbeta (input 2) = sum(g): pass 1's sums.
            for (input, sums) in [(1, &sum_g_xhat[..]), (2, sum_g)] {
                if ctx.needs_grad(input) {
                    // From the tape's pool, where the tape returns it: a fresh allocation each
                    // step would pile up there.
                    let mut grad = ctx.buffer(&[c]);
                    (grad.data_mut().iter_mut().zip(sums)).for_each(|(g, &s)| *g = s as f32);
                    ctx.set_grad(input, grad);
                }
            }
        }
    }
}

// The loops over one row of `c` features. Each re-slices its inputs to the row's length, so
// that the compiler sees every index in bounds and vectorises the loop.

/// `x - mean`, the mean's rounding residual included: how every loop centres `x`.
#[inline(always)]
fn centred(x: f32, mean: f32, mean_lo: f32) -> f32 {
    (x - mean) - mean_lo
}

/// The gradient reaching the normalisation from `dy`: with a fused ReLU, gated by the op's
/// output exactly as `relu`'s own backward gates it.
#[inline(always)]
fn gated(dy: f32, out: f32, relu: bool) -> f32 {
    if relu {
        relu_backward(out, dy)
    } else {
        dy
    }
}

/// `y = (x - mean) * scale + beta` over one row, then the ReLU if fused.
fn forward_row(
    x: &[f32],
    [mean, mean_lo, scale, beta]: [&[f32]; 4],
    fused_relu: bool,
    y: &mut [f32],
) {
    let c = y.len();
    let [x, mean, mean_lo, scale, beta] = [x, mean, mean_lo, scale, beta].map(|v| &v[..c]);
    for j in 0..c {
        let v = centred(x[j], mean[j], mean_lo[j]) * scale[j] + beta[j];
        y[j] = if fused_relu { relu(v) } else { v };
    }
}

/// Adds one row's `g` and `g * (x - mean)` to the per-feature sums.
fn sums_row([x, dy, out]: [&[f32]; 3], [mean, mean_lo]: [&[f32]; 2], relu: bool, sums: &mut [f64]) {
    let c = x.len();
    let (sum_g, sum_gx) = sums.split_at_mut(c);
    let (sum_g, sum_gx) = (&mut sum_g[..c], &mut sum_gx[..c]);
    let [dy, out, mean, mean_lo] = [dy, out, mean, mean_lo].map(|v| &v[..c]);
    for j in 0..c {
        let g = gated(dy[j], out[j], relu);
        sum_g[j] += g as f64;
        sum_gx[j] += (g * centred(x[j], mean[j], mean_lo[j])) as f64;
    }
}

/// One row of `dx = k * g - offset - (x - mean) * slope`, or `k * g` with fixed statistics.
fn dx_row(rows: [&[f32]; 3], features: [&[f32]; 5], (batch, relu): (bool, bool), dx: &mut [f32]) {
    let c = dx.len();
    let [x, dy, out] = rows.map(|v| &v[..c]);
    let [mean, mean_lo, k, offset, slope] = features.map(|v| &v[..c]);
    for j in 0..c {
        let g = k[j] * gated(dy[j], out[j], relu);
        dx[j] = match batch {
            true => g - offset[j] - centred(x[j], mean[j], mean_lo[j]) * slope[j],
            false => g,
        };
    }
}

/// Applies `op` to `x` and, if given, `(gamma, beta)`.
pub(crate) fn apply(tape: &mut Tape, op: BatchNormOp, x: Var, affine: Option<(Var, Var)>) -> Var {
    let params = affine.into_iter().flat_map(|(gamma, beta)| [gamma, beta]);
    tape.apply(op, &[x].into_iter().chain(params).collect::<Vec<_>>())
}

/// Functional BatchNorm with the batch's statistics (PyTorch's
/// `F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)`): no running
/// statistics are read or written. The statistics are computed here, then one fused op goes
/// on the tape.
///
/// Panics if `x` is not `[n, c]` with `n > 1`, or `gamma`/`beta` are not `[c]`.
pub fn batch_norm_train(tape: &mut Tape, x: Var, affine: Option<(Var, Var)>, eps: f32) -> Var {
    require_two_rows(&"batch_norm", tape.shape(x));
    let stats = BatchStats::of(tape.value(x));
    apply(tape, BatchNormOp::with_batch_stats(&stats, eps), x, affine)
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
    let op = BatchNormOp::with_fixed_stats(mean, var, eps);
    apply(tape, op, x, affine)
}
