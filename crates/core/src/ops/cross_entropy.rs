//! The fused cross-entropy on integer labels: log-softmax and negative log-likelihood in one
//! op, mean over the batch (PyTorch's `F.cross_entropy` default), backward `softmax - onehot`.

use super::log_softmax::log_sum_exp;
use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

struct CrossEntropy {
    labels: Vec<usize>,
}

impl Op for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let logits = ctx.input(0);
        let (n, classes) = match logits.shape() {
            &[n, c] => (n, c),
            s => panic!("cross_entropy: logits must be [batch, classes], got shape {s:?}"),
        };
        assert_eq!(
            self.labels.len(),
            n,
            "cross_entropy: {} labels for logits of shape {:?}",
            self.labels.len(),
            logits.shape()
        );
        assert!(
            n > 0,
            "cross_entropy: empty batch, logits of shape {:?}",
            logits.shape()
        );
        // PyTorch raises an index error here (every label is out of range of 0 classes).
        assert!(
            classes > 0,
            "cross_entropy: no classes, logits of shape {:?} (every label is out of range)",
            logits.shape()
        );
        let mut total = 0.0f64;
        for (r, (row, &label)) in logits
            .data()
            .chunks_exact(classes)
            .zip(&self.labels)
            .enumerate()
        {
            assert!(
                label < classes,
                "cross_entropy: label {label} at row {r} is out of range for {classes} classes (logits {:?})",
                logits.shape()
            );
            // PyTorch's nll_loss of log_softmax: the f32 log-probability `(x - max) - log_sum`,
            // never `x - (max + log_sum)` (see `log_sum_exp`), summed in f64.
            let (max, log_sum) = log_sum_exp(row);
            total -= ((row[label] - max) - log_sum) as f64;
        }
        let mut loss = ctx.buffer(&[]);
        loss.data_mut()[0] = (total / n as f64) as f32;
        loss
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        // d loss / d logits = (softmax - onehot) / n, recomputed from the logits (cheaper to
        // redo than to keep a softmax alive through the whole backward).
        let (logits, g) = (ctx.input(0), ctx.grad_output().item());
        let classes = logits.shape()[1];
        let scale = g / self.labels.len() as f32;
        let mut dx = ctx.buffer(logits.shape());
        let rows = dx.data_mut().chunks_exact_mut(classes);
        for ((d, row), &label) in rows
            .zip(logits.data().chunks_exact(classes))
            .zip(&self.labels)
        {
            let (max, log_sum) = log_sum_exp(row);
            d.iter_mut()
                .zip(row)
                .for_each(|(d, &x)| *d = ((x - max) - log_sum).exp() * scale);
            d[label] -= scale;
        }
        ctx.set_grad(0, dx);
    }
}

impl Tape {
    /// Mean cross-entropy of `logits: [batch, classes]` against integer `labels`, as
    /// PyTorch's `F.cross_entropy(logits, labels)`.
    pub fn cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Var {
        let op = CrossEntropy {
            labels: labels.to_vec(),
        };
        self.apply(op, &[logits])
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Tape, Tensor};

    #[test]
    fn forward_by_hand() {
        // Uniform logits over 4 classes: loss ln 4 whatever the label.
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 4]));
        let loss = tape.cross_entropy(v, &[0, 3]);
        assert!((tape.value(loss).item() - 4f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn backward_is_softmax_minus_onehot_over_n() {
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::from_vec(vec![1, 2], vec![0.0, 0.0]));
        let loss = tape.cross_entropy(x, &[1]);
        let grads = tape.backward(loss);
        assert_eq!(grads.get(x).unwrap().data(), &[0.5, -0.5]);
    }

    #[test]
    fn gradcheck_cross_entropy_and_agreement_with_log_softmax() {
        let x = Tensor::from_vec(
            vec![3, 4],
            (0..12).map(|i| (i as f32 * 0.9).cos() * 2.0).collect(),
        );
        let labels = [2, 0, 3];
        gradcheck(std::slice::from_ref(&x), |t, v| {
            t.cross_entropy(v[0], &labels)
        })
        .unwrap();
        let mut tape = Tape::new();
        let v = tape.constant(x);
        let fused = tape.cross_entropy(v, &labels);
        let ls = tape.log_softmax(v);
        let picked: f32 = labels
            .iter()
            .enumerate()
            .map(|(r, &l)| tape.value(ls).row(r)[l])
            .sum();
        assert!((tape.value(fused).item() + picked / 3.0).abs() < 1e-6);
    }

    #[test]
    fn large_tied_logits_give_ln_of_the_tie_and_its_share_of_the_gradient() {
        // PyTorch (float32): four equal logits give a loss of ln 4 = 1.3862944 at any scale
        // and the gradient softmax - onehot = [0.25, 0.25, -0.75, 0.25]. Rounding
        // `max + ln 4` first gave 1.38672 at 1e4, 1.375 at 1e6, 1.0 at 1e7, 0 from 1e8 with
        // the gradient [1, 1, 0, 1].
        for scale in [1e4f32, 1e6, 1e7, 1e8, 1e20, 1e30] {
            let mut tape = Tape::new();
            let x = tape.variable(Tensor::full(vec![1, 4], scale));
            let loss = tape.cross_entropy(x, &[2]);
            assert_eq!(
                tape.value(loss).item(),
                4f64.ln() as f32,
                "ties at {scale:e}"
            );
            let grads = tape.backward(loss);
            let g = grads.get(x).unwrap().data();
            assert_eq!(g, &[0.25, 0.25, -0.75, 0.25], "ties at {scale:e}");
            assert_eq!(g.iter().map(|&v| v as f64).sum::<f64>(), 0.0);
        }
        // [1e30, 1e30, 0] with label 0: PyTorch gives ln 2 and [-0.5, 0.5, 0]; the old
        // rounding gave a loss of 0.
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::from_vec(vec![1, 3], vec![1e30, 1e30, 0.0]));
        let loss = tape.cross_entropy(x, &[0]);
        assert_eq!(tape.value(loss).item(), 2f64.ln() as f32);
        let grads = tape.backward(loss);
        assert_eq!(grads.get(x).unwrap().data(), &[-0.5, 0.5, 0.0]);
    }

    #[test]
    #[should_panic(expected = "cross_entropy: no classes, logits of shape [2, 0]")]
    fn zero_classes_are_refused_naming_the_op() {
        // PyTorch raises an IndexError (target 0 is out of bounds).
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 0]));
        tape.cross_entropy(v, &[0, 0]);
    }

    #[test]
    #[should_panic(expected = "cross_entropy: label 4 at row 1 is out of range for 4 classes")]
    fn label_out_of_range_panics() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 4]));
        tape.cross_entropy(v, &[0, 4]);
    }

    #[test]
    #[should_panic(expected = "cross_entropy: 3 labels for logits of shape [2, 4]")]
    fn label_count_mismatch_panics() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 4]));
        tape.cross_entropy(v, &[0, 1, 2]);
    }
}
