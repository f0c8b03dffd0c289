//! Channel dropout, PyTorch's `nn.Dropout2d`: in training each channel of each sample is
//! zeroed whole with probability `p` and the kept ones are scaled by `1 / (1 - p)`; in
//! evaluation it is the identity. Neighbouring pixels of a feature map are strongly
//! correlated, so dropping them one by one (`Dropout`) regularises little; dropping the map
//! does.

use crate::dropout::{check_p_of, keep_threshold};
use crate::{Dropout, DropoutOp, Mode, Module, Path, Rng, Visitor, VisitorMut};
use rand::RngCore;
use std::any::Any;
use tapegrad_core::{Tape, Var};

/// The channel dropout layer, for inputs `[n, c, ..]` (`[n, c, h, w]` after a convolution).
/// It owns its random generator, seeded at construction and shown to visitors
/// (`visitor.rng`), so a checkpoint that saves it resumes the same masks: the state and the
/// per-step seeding of a [`Dropout`], which it holds.
///
/// Each training forward draws a 64-bit seed from that generator, then one keep-or-drop per
/// channel of each sample (`n * c` draws, in order) from a generator of that seed, and applies
/// the [`DropoutOp`] of the expanded mask. `Mode::Eval`, and `p = 0`, return the input
/// itself: no op is recorded and no random number is drawn.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{Dropout2d, Mode, Module};
///
/// let mut drop = Dropout2d::new(0.5, 42);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::full(vec![2, 8, 3, 3], 1.0));
/// let y = drop.forward(&mut tape, x, Mode::Train);
/// // Each 3x3 channel is all zeros or all twos.
/// for channel in tape.value(y).data().chunks(9) {
///     assert!(channel.iter().all(|&v| v == channel[0]) && (channel[0] == 0.0 || channel[0] == 2.0));
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Dropout2d {
    /// The probability and the generator, and the step's generator drawn from it.
    inner: Dropout,
}

impl Dropout2d {
    /// A layer dropping channels with probability `p`, its generator seeded with `seed`.
    ///
    /// Panics unless `0 <= p < 1` (as [`Dropout`](crate::Dropout), `p = 1` is rejected).
    pub fn new(p: f32, seed: u64) -> Self {
        Self::with_rng(p, crate::seeded_rng(seed))
    }

    /// A layer dropping channels with probability `p` that draws from `rng`.
    ///
    /// Panics unless `0 <= p < 1`.
    pub fn with_rng(p: f32, rng: Rng) -> Self {
        check_p_of("Dropout2d", p);
        let inner = Dropout::with_rng(p, rng);
        Dropout2d { inner }
    }

    /// The probability of dropping a channel.
    pub fn p(&self) -> f32 {
        self.inner.p()
    }
}

impl Module for Dropout2d {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        let Some(mut rng) = self.inner.step_rng(mode) else {
            return x;
        };
        let shape = tape.shape(x);
        assert!(
            shape.len() >= 3,
            "Dropout2d: expected an input [N, C, H, W] (or [N, C, L]), got {shape:?}"
        );
        let (channels, channel_len) = (shape[0] * shape[1], shape[2..].iter().product::<usize>());
        let threshold = keep_threshold(self.p());
        let mut keep = Vec::with_capacity(channels * channel_len);
        for _ in 0..channels {
            let kept = u64::from(rng.next_u32()) >= threshold;
            keep.extend(std::iter::repeat_n(kept, channel_len));
        }
        tape.apply(DropoutOp::with_mask(self.p(), keep), &[x])
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        self.inner.visit(path, visitor);
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        self.inner.visit_mut(path, visitor);
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad_core::{gradcheck, Tensor};

    /// The output and the input's gradient (of the sum) of one training forward.
    fn train(drop: &mut Dropout2d, x: Tensor) -> (Tensor, Tensor) {
        let mut tape = Tape::new();
        let v = tape.variable(x);
        let y = drop.forward(&mut tape, v, Mode::Train);
        let out = tape.value(y).clone();
        let loss = tape.sum(y);
        (out, tape.backward(loss).get(v).unwrap().clone())
    }

    #[test]
    fn whole_channels_are_dropped_at_rate_p_and_the_gradient_follows() {
        let (n, c, hw) = (50, 40, 6);
        let (y, dx) = train(
            &mut Dropout2d::new(0.3, 5),
            Tensor::full(vec![n, c, 2, 3], 1.0),
        );
        let scale = 1.0 / 0.7;
        let mut dropped = 0;
        for (channel, grad) in y.data().chunks(hw).zip(dx.data().chunks(hw)) {
            assert!(channel.iter().all(|&v| v == channel[0]), "{channel:?}");
            assert!(channel[0] == 0.0 || channel[0] == scale, "{channel:?}");
            assert_eq!(
                grad, channel,
                "the gradient of the sum is the mask's factor"
            );
            dropped += usize::from(channel[0] == 0.0);
        }
        // 2000 channels: the dropped count's standard deviation is sqrt(2000 * 0.21) = 20.5.
        let expected = 0.3 * (n * c) as f64;
        assert!(
            (dropped as f64 - expected).abs() < 4.0 * 20.5,
            "{dropped} dropped"
        );
    }

    #[test]
    fn a_seed_fixes_the_masks_and_each_step_draws_new_ones() {
        let x = Tensor::full(vec![4, 16, 2, 2], 1.0);
        let (mut a, mut b) = (Dropout2d::new(0.5, 3), Dropout2d::new(0.5, 3));
        let first = train(&mut a, x.clone()).0;
        assert_eq!(first, train(&mut b, x.clone()).0);
        assert_ne!(first, train(&mut a, x.clone()).0);
        assert_ne!(first, train(&mut Dropout2d::new(0.5, 4), x).0);
    }

    #[test]
    fn eval_and_p_zero_are_the_identity_without_an_op() {
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::full(vec![1, 2, 2, 2], 1.0));
        let mut drop = Dropout2d::new(0.4, 1);
        let before = drop.inner.rng.clone();
        assert_eq!(drop.forward(&mut tape, x, Mode::Eval), x);
        assert_eq!(drop.inner.rng, before, "eval draws nothing");
        assert_eq!(Dropout2d::new(0.0, 1).forward(&mut tape, x, Mode::Train), x);
        assert_eq!(tape.num_recorded_ops(), 0);
    }

    #[test]
    fn gradcheck_with_a_fixed_seed() {
        let x = Tensor::from_vec(
            vec![2, 3, 2, 2],
            (0..24).map(|i| (i as f32).cos()).collect(),
        );
        gradcheck(&[x], |tape, v| {
            Dropout2d::new(0.5, 9).forward(tape, v[0], Mode::Train)
        })
        .unwrap();
    }

    #[test]
    #[should_panic(
        expected = "Dropout2d: expected an input [N, C, H, W] (or [N, C, L]), got [4, 5]"
    )]
    fn a_matrix_panics() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![4, 5]));
        Dropout2d::new(0.5, 0).forward(&mut tape, x, Mode::Train);
    }

    #[test]
    #[should_panic(expected = "Dropout2d: p must be in [0, 1), got 1")]
    fn p_of_one_is_rejected() {
        Dropout2d::new(1.0, 0);
    }
}
