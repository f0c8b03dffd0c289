//! `log_softmax` over the last dimension, stable for large logits.

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

/// `log(sum(exp(row)))` as its two parts `(max, log(sum(exp(row - max))))`, never added
/// together: callers compute `(x - max) - log_sum` as PyTorch's kernel does. `max + log_sum`
/// rounds to the `f32` grid of `max`, whose spacing is 1 at 1e7 and 8 at 1e8, so with large,
/// nearly tied logits `log_sum` (at most `ln(cols)`) would be lost: a four-way tie at 1e8
/// gave a loss of 0 instead of `ln 4`. The sum of exponentials is accumulated in `f64`.
/// A row of only `-inf`, or one holding `+inf` or NaN, gives NaN, as in PyTorch.
pub(crate) fn log_sum_exp(row: &[f32]) -> (f32, f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = row.iter().map(|&x| (x - max).exp() as f64).sum();
    (max, sum.ln() as f32)
}

struct LogSoftmax;

impl Op for LogSoftmax {
    fn name(&self) -> &'static str {
        "log_softmax"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        assert!(
            !x.shape().is_empty(),
            "log_softmax: needs at least one dimension, got shape {:?}",
            x.shape()
        );
        let cols = x.as_matrix().1;
        let mut y = ctx.buffer(x.shape());
        if cols == 0 {
            // PyTorch returns the empty tensor; there is no row to normalise.
            return y;
        }
        for (out, row) in y
            .data_mut()
            .chunks_exact_mut(cols)
            .zip(x.data().chunks_exact(cols))
        {
            let (max, log_sum) = log_sum_exp(row);
            out.iter_mut()
                .zip(row)
                .for_each(|(o, &x)| *o = (x - max) - log_sum);
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        // dx = g - softmax * sum(g), with softmax = exp(y) read from the output.
        let (y, g) = (ctx.output(), ctx.grad_output());
        let cols = y.as_matrix().1;
        let mut dx = ctx.buffer(y.shape());
        if cols == 0 {
            ctx.set_grad(0, dx);
            return;
        }
        let rows = dx.data_mut().chunks_exact_mut(cols);
        for ((d, y), g) in rows
            .zip(y.data().chunks_exact(cols))
            .zip(g.data().chunks_exact(cols))
        {
            // A reduction, so accumulated in f64 like every other one.
            let total = g.iter().map(|&g| g as f64).sum::<f64>() as f32;
            for ((d, &y), &g) in d.iter_mut().zip(y).zip(g) {
                *d = g - y.exp() * total;
            }
        }
        ctx.set_grad(0, dx);
    }
}

impl Tape {
    /// `x - log(sum(exp(x)))` along the last dimension.
    pub fn log_softmax(&mut self, x: Var) -> Var {
        self.apply(LogSoftmax, &[x])
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Tape, Tensor};

    #[test]
    fn forward_by_hand_and_stable_for_huge_logits() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::from_vec(vec![2, 2], vec![0.0, 0.0, 1000.0, 0.0]));
        let y = tape.log_softmax(v);
        let y = tape.value(y).data();
        let half = -(2f32.ln());
        assert!((y[0] - half).abs() < 1e-6 && (y[1] - half).abs() < 1e-6);
        assert_eq!(y[2], 0.0);
        assert_eq!(y[3], -1000.0);
    }

    #[test]
    fn large_tied_logits_keep_their_log_of_the_row_length() {
        // PyTorch (float32): log_softmax of four equal logits is -ln 4 = -1.3862944 at any
        // scale. Adding ln 4 to the max first lost it: -1.38672 at 1e4, -1.0 at 1e7, 0 from 1e8.
        let want = -(4f64.ln() as f32);
        for scale in [1e4f32, 1e6, 1e7, 1e8, 1e20, 1e30] {
            let mut tape = Tape::new();
            let x = tape.constant(Tensor::full(vec![2, 4], scale));
            let y = tape.log_softmax(x);
            assert_eq!(tape.value(y).data(), &[want; 8], "ties at {scale:e}");
        }
        // Nearly tied: [1e8, 1e8 - 8] (adjacent f32 values) is -ln(1 + e^-8) and -8 - that.
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::from_vec(vec![1, 2], vec![1e8, 1e8 - 8.0]));
        let y = tape.log_softmax(x);
        let first = -(1.0 + (-8f64).exp()).ln();
        let got = tape.value(y).data();
        assert!((got[0] as f64 - first).abs() < 1e-7, "{got:?}");
        assert!((got[1] as f64 - (first - 8.0)).abs() < 1e-6, "{got:?}");
    }

    #[test]
    fn zero_width_rows_give_empty_outputs_as_pytorch() {
        // torch.log_softmax(torch.zeros(3, 0), -1) is an empty [3, 0] tensor.
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::zeros(vec![3, 0]));
        let y = tape.log_softmax(x);
        assert_eq!(tape.shape(y), &[3, 0]);
        let grads = tape.backward_with(y, Tensor::zeros(vec![3, 0]));
        assert_eq!(grads.get(x).unwrap().shape(), &[3, 0]);
    }

    #[test]
    fn gradcheck_log_softmax() {
        let x = Tensor::from_vec(
            vec![3, 4],
            (0..12).map(|i| (i as f32 * 1.3).sin() * 2.0).collect(),
        );
        gradcheck(&[x], |t, v| t.log_softmax(v[0])).unwrap();
    }
}
