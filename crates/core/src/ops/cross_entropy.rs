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
            total += (log_sum_exp(row) - row[label]) as f64;
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
            let lse = log_sum_exp(row);
            d.iter_mut()
                .zip(row)
                .for_each(|(d, &x)| *d = (x - lse).exp() * scale);
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
