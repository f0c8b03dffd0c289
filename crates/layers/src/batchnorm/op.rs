//! The fused BatchNorm op: normalisation, scale, shift (and optionally a ReLU) in one forward
//! pass, and a hand-written closed-form backward instead of the eight primitive ops the
//! composed version in `reference.rs` records.

use super::stats::{column_sums, require_two_rows, row_chunks, BatchStats};
use tapegrad_core::kernels::{for_each_chunk_mut, relu, relu_backward};
use tapegrad_core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

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
    /// The mean of each feature rounded to `f32`, and what that rounding lost. `x - mean` is
    /// computed as `(x - mean) - mean_lo`: for a feature whose values all lie near a large
    /// mean, rounding the mean alone would shift every `x_hat` of it by the same error.
    mean: Vec<f32>,
    mean_lo: Vec<f32>,
    /// `1 / sqrt(var + eps)` per feature.
    invstd: Vec<f32>,
    /// Whether the statistics are those of the input (so functions of it).
    batch_stats: bool,
    /// Whether a ReLU follows the normalisation inside the op.
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
        let mean: Vec<f32> = stats.mean.iter().map(|&m| m as f32).collect();
        BatchNormOp {
            mean_lo: (stats.mean.iter().zip(&mean))
                .map(|(&m, &hi)| (m - hi as f64) as f32)
                .collect(),
            mean,
            invstd: stats.var.iter().map(|&v| invstd(v, eps)).collect(),
            batch_stats: true,
            relu: false,
        }
    }

    /// Normalises with fixed `mean` and (running or other) `var`, constants for the backward.
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

    /// `(n, c)` of the input, or a panic naming the op and both shapes.
    fn dims(&self, x: &Tensor) -> (usize, usize) {
        match x.shape() {
            &[n, c] if c == self.mean.len() => (n, c),
            s => panic!(
                "batch_norm: expected an input of shape [batch, {}], got {s:?}",
                self.mean.len()
            ),
        }
    }
}

/// `gamma` and `beta` among the op's inputs, checked against `x: [n, c]`; ones and zeros
/// without them.
fn affine(inputs: &[&Tensor], c: usize) -> (Vec<f32>, Vec<f32>) {
    match inputs {
        [_] => (vec![1.0; c], vec![0.0; c]),
        [x, gamma, beta] => {
            assert!(
                gamma.shape() == [c] && beta.shape() == [c],
                "batch_norm: weight {:?} and bias {:?} do not fit input {:?} (expected [{c}])",
                gamma.shape(),
                beta.shape(),
                x.shape()
            );
            (gamma.data().to_vec(), beta.data().to_vec())
        }
        _ => panic!(
            "batch_norm: expects x, or x, weight and bias; got {} inputs",
            inputs.len()
        ),
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
        let inputs: Vec<&Tensor> = (0..ctx.num_inputs()).map(|i| ctx.input(i)).collect();
        let x = inputs[0];
        let (_, c) = self.dims(x);
        let (gamma, beta) = affine(&inputs, c);
        // y = (x - mean) * (gamma * invstd) + beta: one product per element fewer.
        let scale: Vec<f32> = gamma.iter().zip(&self.invstd).map(|(g, s)| g * s).collect();
        let (mean, mean_lo, relu_after) = (&self.mean[..c], &self.mean_lo[..c], self.relu);
        let mut y = ctx.buffer(x.shape());
        let rows = row_chunks(c);
        for_each_chunk_mut(y.data_mut(), rows * c.max(1), |t, y| {
            let x = &x.data()[t * rows * c..][..y.len()];
            for (y, x) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                for j in 0..c {
                    let v = ((x[j] - mean[j]) - mean_lo[j]) * scale[j] + beta[j];
                    y[j] = if relu_after { relu(v) } else { v };
                }
            }
        });
        y
    }

    fn backward<'a>(&self, ctx: &mut BackwardCtx<'a>) {
        let inputs: Vec<&'a Tensor> = (0..ctx.num_inputs()).map(|i| ctx.input(i)).collect();
        let (x, dy, out) = (
            inputs[0].data(),
            ctx.grad_output().data(),
            ctx.output().data(),
        );
        let (n, c) = self.dims(inputs[0]);
        let (gamma, _) = affine(&inputs, c);
        let wants_params = inputs.len() == 3 && (ctx.needs_grad(1) || ctx.needs_grad(2));
        let (mean, mean_lo) = (&self.mean[..c], &self.mean_lo[..c]);
        let (invstd, relu_after) = (&self.invstd[..c], self.relu);
        // Row `i` of a `[n, c]` tensor, `c` long, so that the loops below index without checks.
        let row = |v: &'a [f32], i: usize| &v[i * c..][..c];
        // The gradient reaching the normalisation: `dy`, or `dy` through the fused ReLU,
        // gated by the output exactly as `relu`'s own backward gates it.
        let grad = |dy: &[f32], out: &[f32], j: usize| match relu_after {
            true => relu_backward(out[j], dy[j]),
            false => dy[j],
        };

        // Pass 1, per feature: sum(g) and sum(g * (x - mean)), in f64.
        let mut sums = vec![0f64; 2 * c];
        if self.batch_stats || wants_params {
            sums = column_sums(n, c, 2, |i, acc| {
                let (sum_g, sum_gx) = acc.split_at_mut(c);
                let (x, dy, out) = (row(x, i), row(dy, i), row(out, i));
                for j in 0..c {
                    let g = grad(dy, out, j);
                    sum_g[j] += g as f64;
                    sum_gx[j] += (g * ((x[j] - mean[j]) - mean_lo[j])) as f64;
                }
            });
        }
        let (sum_g, sum_gx) = sums.split_at(c);
        // sum(g * x_hat) = invstd * sum(g * (x - mean)).
        let sum_g_xhat: Vec<f64> = (sum_gx.iter().zip(invstd))
            .map(|(&s, &inv)| s * inv as f64)
            .collect();

        if ctx.needs_grad(0) {
            // dx = k * (g - sum(g)/n - x_hat * sum(g x_hat)/n) with k = gamma * invstd,
            // as dx = k * g - offset - (x - mean) * slope, the per-feature terms in f64.
            let inv_n = 1.0 / n as f64;
            let k: Vec<f64> = (gamma.iter().zip(invstd))
                .map(|(&g, &s)| g as f64 * s as f64)
                .collect();
            let per_feature = |f: &dyn Fn(usize) -> f64| (0..c).map(|j| f(j) as f32).collect();
            let kf: Vec<f32> = per_feature(&|j| k[j]);
            let (offset, slope): (Vec<f32>, Vec<f32>) = match self.batch_stats {
                true => (
                    per_feature(&|j| k[j] * sum_g[j] * inv_n),
                    per_feature(&|j| k[j] * invstd[j] as f64 * sum_g_xhat[j] * inv_n),
                ),
                false => (vec![0.0; c], vec![0.0; c]),
            };
            let batch_stats = self.batch_stats;
            let mut dx = ctx.buffer(inputs[0].shape());
            let rows = row_chunks(c);
            for_each_chunk_mut(dx.data_mut(), rows * c.max(1), |t, dx| {
                for (r, dx) in dx.chunks_exact_mut(c).enumerate() {
                    let i = t * rows + r;
                    let (x, dy, out) = (row(x, i), row(dy, i), row(out, i));
                    for j in 0..c {
                        let g = kf[j] * grad(dy, out, j);
                        dx[j] = match batch_stats {
                            true => g - offset[j] - ((x[j] - mean[j]) - mean_lo[j]) * slope[j],
                            false => g,
                        };
                    }
                }
            });
            ctx.set_grad(0, dx);
        }
        if wants_params {
            // dgamma (input 1) = sum(g * x_hat), dbeta (input 2) = sum(g): pass 1's sums.
            for (input, sums) in [(1, &sum_g_xhat[..]), (2, sum_g)] {
                if ctx.needs_grad(input) {
                    let mut grad = ctx.buffer(&[c]);
                    for (g, &s) in grad.data_mut().iter_mut().zip(sums) {
                        *g = s as f32;
                    }
                    ctx.set_grad(input, grad);
                }
            }
        }
    }
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
/// statistics are read or written. The statistics are computed here, then one fused op goes
/// on the tape.
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
