//! The fused LayerNorm op: normalisation, gain and bias in one forward pass, and a
//! hand-written closed-form backward, instead of the eleven core ops a composed version
//! records (`tests/gradcheck.rs` builds that version and checks the op against it).

use tapegrad::core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

/// `y = (x - mean) / sqrt(var + eps) * weight + bias`, each row of `x` normalised by its own
/// mean and *biased* variance: PyTorch's `nn.LayerNorm(d)` over the last dimension.
///
/// Inputs: `x` (`[.., d]`, any number of leading dimensions), `weight` `[d]` and `bias` `[d]`.
///
/// The backward, per row of `d` elements, with `x_hat = (x - mean) * invstd` and
/// `g = dy * weight` (the gradient of `x_hat`):
/// `dx = invstd * (g - mean(g) - x_hat * mean(g * x_hat))`;
/// over all rows, `dweight = sum(dy * x_hat)` and `dbias = sum(dy)`.
///
/// What the backward needs and the tape does not keep: one `mean` and one `invstd` per row,
/// saved by the forward only when [`ForwardCtx::needs_backward`] is true. `x` and `weight` are
/// inputs, so they stay on the tape, and `x_hat` is recomputed from them: two floats are
/// kept per row instead of the `d` of a stored `x_hat`.
pub struct LayerNormOp {
    eps: f32,
    mean: Vec<f32>,
    invstd: Vec<f32>,
}

impl LayerNormOp {
    /// An op adding `eps` to the variance (PyTorch's default is `1e-5`).
    pub fn new(eps: f32) -> Self {
        LayerNormOp {
            eps,
            mean: Vec::new(),
            invstd: Vec::new(),
        }
    }
}

/// The mean and `1 / sqrt(var + eps)` of one row: two passes (never `E[x^2] - E[x]^2`,
/// which cancels catastrophically when the mean is large against the spread), in `f64`.
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, (1.0 / (var + eps as f64).sqrt()) as f32)
}

/// The normalised length `d`, or a panic naming the op and the three shapes.
fn normalized_len(x: &Tensor, weight: &Tensor, bias: &Tensor) -> usize {
    let d = weight.numel();
    let fits = weight.shape() == [d] && bias.shape() == [d] && x.shape().last() == Some(&d);
    assert!(
        fits && d > 0,
        "layer_norm: input {:?}, weight {:?} and bias {:?} do not fit (expected [.., d], [d], [d] with d > 0)",
        x.shape(),
        weight.shape(),
        bias.shape()
    );
    d
}

impl Op for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer_norm"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let (x, weight, bias) = (ctx.input(0), ctx.input(1), ctx.input(2));
        let d = normalized_len(x, weight, bias);
        let (w, b) = (weight.data(), bias.data());
        let save = ctx.needs_backward();
        let mut y = ctx.buffer(x.shape());
        for (r, y) in y.data_mut().chunks_exact_mut(d).enumerate() {
            let x = &x.data()[r * d..][..d];
            let (mean, invstd) = row_stats(x, self.eps);
            for (j, y) in y.iter_mut().enumerate() {
                *y = (x[j] - mean) * invstd * w[j] + b[j];
            }
            if save {
                self.mean.push(mean);
                self.invstd.push(invstd);
            }
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, weight, dy) = (ctx.input(0), ctx.input(1), ctx.grad_output());
        let (d, w) = (weight.numel(), weight.data());
        let mut dx = ctx.buffer(x.shape());
        // dweight and dbias are sums over every row: accumulated in f64.
        let (mut dweight, mut dbias) = (vec![0f64; d], vec![0f64; d]);
        for (r, dx) in dx.data_mut().chunks_exact_mut(d).enumerate() {
            let (x, dy) = (&x.data()[r * d..][..d], &dy.data()[r * d..][..d]);
            let (mean, invstd) = (self.mean[r], self.invstd[r]);
            let x_hat = |j: usize| (x[j] - mean) * invstd;
            // Pass 1: the row's sums of g = dy * weight and of g * x_hat.
            let (mut sum_g, mut sum_g_xhat) = (0f64, 0f64);
            for j in 0..d {
                let g = (dy[j] * w[j]) as f64;
                sum_g += g;
                sum_g_xhat += g * x_hat(j) as f64;
                dweight[j] += (dy[j] * x_hat(j)) as f64;
                dbias[j] += dy[j] as f64;
            }
            // Pass 2: dx = invstd * (g - mean(g) - x_hat * mean(g * x_hat)).
            let mean_g = (sum_g / d as f64) as f32;
            let mean_g_xhat = (sum_g_xhat / d as f64) as f32;
            for (j, dx) in dx.iter_mut().enumerate() {
                *dx = invstd * (dy[j] * w[j] - mean_g - x_hat(j) * mean_g_xhat);
            }
        }
        ctx.set_grad(0, dx);
        for (input, sums) in [(1, dweight), (2, dbias)] {
            if ctx.needs_grad(input) {
                let mut grad = ctx.buffer(&[d]);
                for (g, &s) in grad.data_mut().iter_mut().zip(&sums) {
                    *g = s as f32;
                }
                ctx.set_grad(input, grad);
            }
        }
    }
}

/// Applies [`LayerNormOp`] to `x` with `weight` and `bias` (the functional form, PyTorch's
/// `F.layer_norm(x, [d], weight, bias, eps)`).
pub fn layer_norm(tape: &mut Tape, x: Var, weight: Var, bias: Var, eps: f32) -> Var {
    tape.apply(LayerNormOp::new(eps), &[x, weight, bias])
}
