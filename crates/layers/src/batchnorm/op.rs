//! The fused BatchNorm op: normalisation, scale and shift in one pass, and a hand-written
//! closed-form backward in two, instead of the eight primitive ops (each keeping its output for
//! the backward) that the composed version in `reference.rs` records.

use super::columns::{map_rows, reduce_columns};
use super::stats::{require_two_rows, BatchStats};
use tapegrad_core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

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
/// The op saves no per-element state for its backward: `x` stays on the tape, so `x_hat` is
/// recomputed from it and the per-feature `mean` and `invstd` the forward needs anyway.
/// That is less memory traffic than writing and re-reading an `x_hat` tensor.
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
    /// The mean rounded to `f32`, and what that rounding lost: `x - mean` is computed as
    /// `(x - mean) - mean_lo`, which keeps the mean's `f64` precision for one more
    /// subtraction per element (for `x` near the mean, `x - mean` is exact in `f32`).
    mean: Vec<f32>,
    mean_lo: Vec<f32>,
    invstd: Vec<f32>,
    /// Whether `mean` and `invstd` are the statistics of the input (so functions of it).
    batch_stats: bool,
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
            mean_lo: stats
                .mean
                .iter()
                .zip(&mean)
                .map(|(&m, &hi)| (m - hi as f64) as f32)
                .collect(),
            mean,
            invstd: stats.var.iter().map(|&v| invstd(v, eps)).collect(),
            batch_stats: true,
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
        BatchNormOp {
            mean: mean.to_vec(),
            mean_lo: vec![0.0; mean.len()],
            invstd: var.iter().map(|&v| invstd(v as f64, eps)).collect(),
            batch_stats: false,
        }
    }

    /// The per-feature constants, as parallel slices.
    fn norm(&self) -> Norm<'_> {
        Norm {
            mean: &self.mean,
            mean_lo: &self.mean_lo,
            invstd: &self.invstd,
        }
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

/// The per-feature constants of a normalisation as parallel slices (structure of arrays,
/// so that the row loops below, zips over equal-length slices, vectorise).
#[derive(Clone, Copy)]
struct Norm<'a> {
    mean: &'a [f32],
    mean_lo: &'a [f32],
    invstd: &'a [f32],
}

impl<'a> Norm<'a> {
    /// Features `j0..j0 + len`.
    fn range(self, j0: usize, len: usize) -> Norm<'a> {
        Norm {
            mean: &self.mean[j0..][..len],
            mean_lo: &self.mean_lo[j0..][..len],
            invstd: &self.invstd[j0..][..len],
        }
    }

    /// `x_hat` per feature of one row: `((x - mean) - mean_lo) * invstd`.
    fn x_hat<'r>(self, x: &'r [f32]) -> impl Iterator<Item = f32> + 'r
    where
        'a: 'r,
    {
        let stats = self.mean.iter().zip(self.mean_lo).zip(self.invstd);
        x.iter()
            .zip(stats)
            .map(|(&x, ((&m, &lo), &s))| ((x - m) - lo) * s)
    }
}

/// The per-feature coefficients of `dx = k * (dy - mean_dy - x_hat * mean_dy_xhat)`.
struct DxCoefficients {
    k: Vec<f32>,
    mean_dy: Vec<f32>,
    mean_dy_xhat: Vec<f32>,
}

/// `gamma` and `beta` of an op's inputs, checked against `x`; `None` without them.
fn affine<'a>(inputs: &[&'a Tensor], x: &Tensor, c: usize) -> Option<(&'a [f32], &'a [f32])> {
    match inputs {
        [] => None,
        [gamma, beta] => {
            assert!(
                gamma.shape() == [c] && beta.shape() == [c],
                "batch_norm: weight {:?} and bias {:?} do not fit input {:?} (expected [{c}])",
                gamma.shape(),
                beta.shape(),
                x.shape()
            );
            Some((gamma.data(), beta.data()))
        }
        _ => panic!(
            "batch_norm: expects x, or x, weight and bias; got {} inputs",
            inputs.len() + 1
        ),
    }
}

impl Op for BatchNormOp {
    fn name(&self) -> &'static str {
        "batch_norm"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        let (_, c) = self.dims(x);
        let params: Vec<&Tensor> = (1..ctx.num_inputs()).map(|i| ctx.input(i)).collect();
        // y = x_hat * gamma + beta; without affine parameters gamma = 1, beta = 0.
        let (gamma, beta) = match affine(&params, x, c) {
            Some((g, b)) => (g.to_vec(), b.to_vec()),
            None => (vec![1.0; c], vec![0.0; c]),
        };
        let norm = self.norm();
        let xs = x.data();
        let mut y = ctx.buffer(x.shape());
        map_rows(y.data_mut(), c, |block, r0| {
            let rows = block.chunks_exact_mut(c).zip(xs[r0 * c..].chunks_exact(c));
            for (y, x) in rows {
                let affine = gamma.iter().zip(&beta);
                for ((y, x_hat), (&g, &b)) in y.iter_mut().zip(norm.x_hat(x)).zip(affine) {
                    *y = g * x_hat + b;
                }
            }
        });
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, dy) = (ctx.input(0), ctx.grad_output());
        let (n, c) = self.dims(x);
        let params: Vec<&Tensor> = (1..ctx.num_inputs()).map(|i| ctx.input(i)).collect();
        let affine = affine(&params, x, c);
        let norm = self.norm();
        let (xs, dys) = (x.data(), dy.data());
        let wants_params = affine.is_some() && (ctx.needs_grad(1) || ctx.needs_grad(2));

        // Pass 1: per feature, sum(dy) and sum(dy * x_hat), row by row, in f64.
        let mut sums = vec![(0f64, 0f64); c];
        if self.batch_stats || wants_params {
            reduce_columns(&mut sums, n, |acc, r, j0| {
                let len = acc.len();
                let (x, dy) = (&xs[r * c + j0..][..len], &dys[r * c + j0..][..len]);
                let x_hat = norm.range(j0, len).x_hat(x);
                for ((a, &dy), x_hat) in acc.iter_mut().zip(dy).zip(x_hat) {
                    a.0 += dy as f64;
                    a.1 += dy as f64 * x_hat as f64;
                }
            });
        }

        // Pass 2: dx = k * (dy - sum(dy)/n - x_hat * sum(dy x_hat)/n) with k = gamma * invstd;
        // with fixed statistics only the first term remains.
        if ctx.needs_grad(0) {
            let coef = self.dx_coefficients(affine.map(|(g, _)| g), &sums, n);
            let mut dx = ctx.buffer(x.shape());
            map_rows(dx.data_mut(), c, |block, r0| {
                let rows = block.chunks_exact_mut(c);
                let inputs = xs[r0 * c..]
                    .chunks_exact(c)
                    .zip(dys[r0 * c..].chunks_exact(c));
                for (d, (x, dy)) in rows.zip(inputs) {
                    let per_feature = coef.k.iter().zip(&coef.mean_dy).zip(&coef.mean_dy_xhat);
                    let terms = dy.iter().zip(norm.x_hat(x)).zip(per_feature);
                    for (d, ((&dy, x_hat), ((&k, &mdy), &mdyx))) in d.iter_mut().zip(terms) {
                        *d = k * (dy - mdy - x_hat * mdyx);
                    }
                }
            });
            ctx.set_grad(0, dx);
        }
        if wants_params {
            // dgamma (input 1) = sum(dy * x_hat) and dbeta (input 2) = sum(dy): pass 1's sums.
            for input in [1, 2] {
                if ctx.needs_grad(input) {
                    let mut g = ctx.buffer(&[c]);
                    for (g, &(sum_dy, sum_dy_xhat)) in g.data_mut().iter_mut().zip(&sums) {
                        *g = if input == 1 { sum_dy_xhat } else { sum_dy } as f32;
                    }
                    ctx.set_grad(input, g);
                }
            }
        }
    }
}

impl BatchNormOp {
    /// The coefficients of pass 2 from the sums of pass 1.
    fn dx_coefficients(
        &self,
        gamma: Option<&[f32]>,
        sums: &[(f64, f64)],
        n: usize,
    ) -> DxCoefficients {
        let c = self.invstd.len();
        let k = (0..c)
            .map(|j| gamma.map_or(1.0, |g| g[j]) * self.invstd[j])
            .collect();
        let (mean_dy, mean_dy_xhat) = if self.batch_stats {
            sums.iter()
                .map(|&(s, t)| ((s / n as f64) as f32, (t / n as f64) as f32))
                .unzip()
        } else {
            // Fixed statistics are constants: only dy's own term remains.
            (vec![0.0; c], vec![0.0; c])
        };
        DxCoefficients {
            k,
            mean_dy,
            mean_dy_xhat,
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
        // 300 x 400 takes the parallel paths (feature chunks and row blocks).
        let x = t(&[300, 400], |i| ((i * 7919) % 1013) as f32 / 101.0 - 5.0);
        let dy = t(&[300, 400], |i| ((i * 104_729) % 1009) as f32 / 500.0 - 1.0);
        let gamma = t(&[400], |i| 1.0 + (i % 7) as f32 * 0.1);
        let beta = t(&[400], |i| (i % 5) as f32 * 0.1);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
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
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
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
