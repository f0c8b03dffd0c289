//! A layer with a buffer and a different behaviour in training and evaluation, composed of
//! core ops: mean-only batch normalization (Salimans & Kingma, "Weight Normalization", 2016).

use tapegrad::core::{Tape, Tensor, Var};
use tapegrad::layers::{BufferMut, BufferRef, Mode, Module, Path, Visitor, VisitorMut};

/// Subtracts from each feature of `x: [batch, d]` its batch mean in `Mode::Train`, and a
/// running average of those means in `Mode::Eval`:
/// `running_mean = (1 - momentum) * running_mean + momentum * batch_mean`, from 0.
///
/// `running_mean` is a buffer: saved and restored with the model, never trained. The layer
/// records no op of its own: `mean_axis` and `sub` have their backward already, and the
/// tape differentiates through the batch mean (`dx = dy - mean(dy)` over the batch).
///
/// ```
/// use tapegrad::prelude::*;
/// use tapegrad_extending_example::MeanCenter;
///
/// let mut center = MeanCenter::new(1);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![2, 1], vec![1.0, 3.0]));
/// let y = center.forward(&mut tape, x, Mode::Train);
/// assert_eq!(tape.value(y).data(), &[-1.0, 1.0]);
/// assert_eq!(center.running_mean().data(), &[0.2]); // 0.9 * 0 + 0.1 * 2
/// let y = center.forward(&mut tape, x, Mode::Eval);
/// assert_eq!(tape.value(y).data(), &[0.8, 2.8]);
/// ```
#[derive(Clone, Debug)]
pub struct MeanCenter {
    running_mean: Tensor,
    momentum: f32,
}

impl MeanCenter {
    /// A layer over `d` features with momentum 0.1 (BatchNorm's default).
    pub fn new(d: usize) -> Self {
        Self::with_momentum(d, 0.1)
    }

    /// A layer with another momentum.
    ///
    /// Panics unless `momentum` is in `[0, 1]`.
    pub fn with_momentum(d: usize, momentum: f32) -> Self {
        assert!(
            (0.0..=1.0).contains(&momentum),
            "MeanCenter({d}): momentum must be in [0, 1], got {momentum}"
        );
        MeanCenter {
            running_mean: Tensor::zeros(vec![d]),
            momentum,
        }
    }

    /// The running average of the batch means, `[d]`.
    pub fn running_mean(&self) -> &Tensor {
        &self.running_mean
    }
}

impl Module for MeanCenter {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        let d = self.running_mean.numel();
        let shape = tape.shape(x);
        assert!(
            matches!(shape, &[_, c] if c == d),
            "MeanCenter({d}): expected an input of shape [batch, {d}], got {shape:?}"
        );
        let mean = match mode {
            Mode::Train => {
                // A function of x: its gradient flows back into x.
                let mean = tape.mean_axis(x, 0);
                let m = self.momentum;
                let batch = tape.value(mean).data();
                for (r, &b) in self.running_mean.data_mut().iter_mut().zip(batch) {
                    *r = (1.0 - m) * *r + m * b;
                }
                mean
            }
            // A constant on the tape: no gradient flows into the buffer.
            Mode::Eval => tape.constant_from_slice(&[d], self.running_mean.data()),
        };
        tape.sub(x, mean)
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        let running_mean = BufferRef::Float(&self.running_mean);
        visitor.buffer(path.name("running_mean"), running_mean);
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        let running_mean = BufferMut::Float(&mut self.running_mean);
        visitor.buffer(path.name("running_mean"), running_mean);
    }
}
