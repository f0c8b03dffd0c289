//! `log_softmax` over the last dimension, stable for large logits.

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

/// `log(sum(exp(row)))` computed as `max + log(sum(exp(row - max)))`, so it never overflows.
pub(crate) fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
    max + sum.ln()
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
        for (out, row) in y
            .data_mut()
            .chunks_exact_mut(cols)
            .zip(x.data().chunks_exact(cols))
        {
            let lse = log_sum_exp(row);
            out.iter_mut().zip(row).for_each(|(o, &x)| *o = x - lse);
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        // dx = g - softmax * sum(g), with softmax = exp(y) read from the output.
        let (y, g) = (ctx.output(), ctx.grad_output());
        let cols = y.as_matrix().1;
        let mut dx = ctx.buffer(y.shape());
        let rows = dx.data_mut().chunks_exact_mut(cols);
        for ((d, y), g) in rows
            .zip(y.data().chunks_exact(cols))
            .zip(g.data().chunks_exact(cols))
        {
            let total: f32 = g.iter().sum();
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
    fn gradcheck_log_softmax() {
        let x = Tensor::from_vec(
            vec![3, 4],
            (0..12).map(|i| (i as f32 * 1.3).sin() * 2.0).collect(),
        );
        gradcheck(&[x], |t, v| t.log_softmax(v[0])).unwrap();
    }
}
