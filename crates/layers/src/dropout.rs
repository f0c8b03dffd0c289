//! Inverted dropout, PyTorch's `nn.Dropout`: in training each element is zeroed with
//! probability `p` and the kept ones are scaled by `1 / (1 - p)`, so `E[y] = x`; in
//! evaluation it is the identity.

use crate::{Mode, Module, Path, Rng, Visitor, VisitorMut};
use rand::{RngCore, SeedableRng};
use std::any::Any;
use tapegrad_core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

/// Panics unless `0 <= p < 1`.
///
/// `p = 1` is rejected although PyTorch accepts it (it returns zeros): a layer that drops
/// everything trains nothing, and `1 / (1 - p)` would be infinite.
pub(crate) fn check_p(p: f32) {
    check_p_of("Dropout", p);
}

/// [`check_p`] for the layer named `layer` (`Dropout2d`), which the message names.
pub(crate) fn check_p_of(layer: &str, p: f32) {
    assert!(
        (0.0..1.0).contains(&p),
        "{layer}: p must be in [0, 1), got {p}"
    );
}

/// The dropout layer. It owns its random generator, seeded at construction and shown to
/// visitors (`visitor.rng`), so a checkpoint that saves it resumes the same masks.
///
/// Each training forward draws a fresh 64-bit seed from that generator for the
/// [`DropoutOp`] of the step. `Mode::Eval`, and `p = 0`, return the input itself: no op is
/// recorded and no random number is drawn.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{Dropout, Mode, Module};
///
/// let mut drop = Dropout::new(0.5, 42);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::full(vec![2, 4], 1.0));
/// let y = drop.forward(&mut tape, x, Mode::Train);
/// // Every element is dropped (0) or kept and doubled (1 / (1 - 0.5)).
/// assert!(tape.value(y).data().iter().all(|&v| v == 0.0 || v == 2.0));
/// assert_eq!(drop.forward(&mut tape, x, Mode::Eval), x);
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f32,
    pub(crate) rng: Rng,
}

impl Dropout {
    /// A layer dropping with probability `p`, its generator seeded with `seed`.
    ///
    /// Panics unless `0 <= p < 1`. PyTorch accepts `p = 1` (all zeros); it is rejected here
    /// because a layer that drops everything trains nothing, and `1 / (1 - p)` is infinite.
    pub fn new(p: f32, seed: u64) -> Self {
        Self::with_rng(p, Rng::seed_from_u64(seed))
    }

    /// A layer dropping with probability `p` that draws from `rng`.
    ///
    /// Panics unless `0 <= p < 1`.
    pub fn with_rng(p: f32, rng: Rng) -> Self {
        check_p(p);
        Dropout { p, rng }
    }

    /// The probability of dropping an element.
    pub fn p(&self) -> f32 {
        self.p
    }
}

impl Dropout {
    /// The generator of this training step's mask, seeded from the layer's own, or `None`
    /// where the layer is the identity (`Mode::Eval`, `p = 0`), which then draws nothing.
    /// [`Dropout2d`](crate::Dropout2d) draws its channel masks from it too.
    pub(crate) fn step_rng(&mut self, mode: Mode) -> Option<Rng> {
        let active = mode == Mode::Train && self.p != 0.0;
        active.then(|| Rng::seed_from_u64(self.rng.next_u64()))
    }
}

impl Module for Dropout {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        match self.step_rng(mode) {
            Some(rng) => tape.apply(DropoutOp::random(self.p, rng), &[x]),
            None => x,
        }
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        visitor.rng(path.name("rng"), &self.rng);
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        visitor.rng(path.name("rng"), &mut self.rng);
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

/// The dropout op: `y = x * mask / (1 - p)`, `dx = dy * mask / (1 - p)` with the same mask.
///
/// The mask is drawn in the forward and kept for the backward only when
/// [`ForwardCtx::needs_backward`] is true; in inference the op computes `y` directly and
/// keeps nothing. [`DropoutOp::with_mask`] takes an explicit mask instead (to reproduce a
/// reference, or to test).
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::DropoutOp;
///
/// let mut tape = Tape::new();
/// let x = tape.variable(Tensor::from_vec(vec![4], vec![1.0, 2.0, 3.0, 4.0]));
/// let y = tape.apply(DropoutOp::with_mask(0.5, vec![true, false, false, true]), &[x]);
/// assert_eq!(tape.value(y).data(), &[2.0, 0.0, 0.0, 8.0]);
/// let loss = tape.sum(y);
/// assert_eq!(tape.backward(loss).get(x).unwrap().data(), &[2.0, 0.0, 0.0, 2.0]);
/// ```
#[derive(Debug)]
pub struct DropoutOp {
    p: f32,
    /// Where the mask is drawn from; `None` when it was given.
    rng: Option<Rng>,
    /// The keep-mask (`true` = kept): given at construction, or drawn by the forward and
    /// kept only when the backward will run.
    keep: Vec<bool>,
}

impl DropoutOp {
    /// Drops each element with probability `p`, drawing from `rng`.
    ///
    /// Panics unless `0 <= p < 1`.
    pub fn random(p: f32, rng: Rng) -> Self {
        check_p(p);
        DropoutOp {
            p,
            rng: Some(rng),
            keep: Vec::new(),
        }
    }

    /// Keeps exactly the elements where `keep` is true (row-major), scaling them by
    /// `1 / (1 - p)`. The op panics if the mask's length differs from the input's.
    ///
    /// Panics unless `0 <= p < 1`.
    pub fn with_mask(p: f32, keep: Vec<bool>) -> Self {
        check_p(p);
        DropoutOp { p, rng: None, keep }
    }

    fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }
}

/// What an element is multiplied by: `scale` if kept, else `0`. PyTorch multiplies by its
/// noise tensor (`mask / (1 - p)`) rather than writing zeros, so a dropped NaN or infinity
/// gives NaN and a dropped negative value `-0.0`; so do we, forward and backward.
#[inline(always)]
fn factor(keep: bool, scale: f32) -> f32 {
    if keep {
        scale
    } else {
        0.0
    }
}

/// Keep an element when a uniform `u32` is at least `p * 2^32`: probability `1 - p` up to
/// `2^-32`, one integer comparison per element.
pub(crate) fn keep_threshold(p: f32) -> u64 {
    (p as f64 * 4_294_967_296.0).round() as u64
}

impl Op for DropoutOp {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        let scale = self.scale();
        let save = ctx.needs_backward();
        let mut y = ctx.buffer(x.shape());
        match &mut self.rng {
            Some(rng) => {
                let threshold = keep_threshold(self.p);
                if save {
                    self.keep.reserve_exact(x.numel());
                }
                for (y, &x) in y.data_mut().iter_mut().zip(x.data()) {
                    let keep = u64::from(rng.next_u32()) >= threshold;
                    if save {
                        self.keep.push(keep);
                    }
                    *y = x * factor(keep, scale);
                }
            }
            None => {
                assert_eq!(
                    self.keep.len(),
                    x.numel(),
                    "dropout: a mask of {} elements for an input of shape {:?}",
                    self.keep.len(),
                    x.shape()
                );
                let kept = y.data_mut().iter_mut().zip(x.data()).zip(&self.keep);
                for ((y, &x), &keep) in kept {
                    *y = x * factor(keep, scale);
                }
            }
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let g = ctx.grad_output();
        let scale = self.scale();
        let mut dx = ctx.buffer(g.shape());
        for ((d, &g), &keep) in dx.data_mut().iter_mut().zip(g.data()).zip(&self.keep) {
            *d = g * factor(keep, scale);
        }
        ctx.set_grad(0, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad_core::gradcheck;
    use tapegrad_testutil::{assert_close, load, tensor, tol};

    fn train(drop: &mut Dropout, x: Tensor) -> (Vec<f32>, Vec<f32>) {
        let mut tape = Tape::new();
        let v = tape.variable(x);
        let y = drop.forward(&mut tape, v, Mode::Train);
        let out = tape.value(y).data().to_vec();
        let loss = tape.sum(y);
        let dx = tape.backward(loss).get(v).unwrap().data().to_vec();
        (out, dx)
    }

    #[test]
    fn kept_fraction_and_mean_over_a_million_values() {
        let n = 1_000_000;
        let p = 0.3;
        let (y, _) = train(
            &mut Dropout::new(p, 11),
            Tensor::full(vec![1000, 1000], 1.0),
        );
        let scale = 1.0 / (1.0 - p);
        assert!(y.iter().all(|&v| v == 0.0 || v == scale));
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        assert!(((kept - 0.7) / 0.7).abs() < 0.01, "kept fraction {kept}");
        // Each y is 0 or 1/(1-p): the mean's standard deviation is sqrt(p/(1-p)/n) = 6.5e-4;
        // 6 standard deviations.
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!(
            (mean - 1.0).abs() < 6.0 * (p as f64 / (1.0 - p as f64) / n as f64).sqrt(),
            "mean {mean}"
        );
    }

    #[test]
    fn eval_and_p_zero_are_the_identity_without_an_op() {
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::from_vec(vec![2, 2], vec![1.0, -2.0, 3.0, 0.5]));
        let mut drop = Dropout::new(0.4, 1);
        let before = drop.rng.clone();
        assert_eq!(drop.forward(&mut tape, x, Mode::Eval), x);
        assert_eq!(drop.rng, before, "eval draws no random number");
        assert_eq!(Dropout::new(0.0, 1).forward(&mut tape, x, Mode::Train), x);
        assert_eq!(tape.num_recorded_ops(), 0);
    }

    #[test]
    fn backward_uses_the_forward_mask() {
        let x = Tensor::from_vec(
            vec![50, 40],
            (0..2000).map(|i| (i as f32 * 0.37).sin() + 1.5).collect(),
        );
        let (y, dx) = train(&mut Dropout::new(0.25, 9), x);
        for (&y, &d) in y.iter().zip(&dx) {
            // x > 0, so y is zero exactly where the element was dropped.
            if y == 0.0 {
                assert_eq!(d, 0.0);
            } else {
                assert_eq!(d, 1.0 / 0.75);
            }
        }
    }

    #[test]
    fn same_seed_same_masks_and_the_generator_advances() {
        let x = Tensor::full(vec![8, 16], 1.0);
        let (mut a, mut b) = (Dropout::new(0.5, 3), Dropout::new(0.5, 3));
        let first = train(&mut a, x.clone()).0;
        assert_eq!(first, train(&mut b, x.clone()).0);
        let second = train(&mut a, x.clone()).0;
        assert_ne!(first, second, "a new step draws a new mask");
        assert_eq!(second, train(&mut b, x.clone()).0);
        assert_ne!(first, train(&mut Dropout::new(0.5, 4), x).0);
    }

    #[test]
    fn inference_keeps_no_mask() {
        let mut tape = Tape::new();
        let y = tape.no_grad(|tape| {
            let x = tape.constant(Tensor::full(vec![4, 4], 1.0));
            Dropout::new(0.5, 0).forward(tape, x, Mode::Train)
        });
        assert!(tape.value(y).data().iter().all(|&v| v == 0.0 || v == 2.0));
        assert_eq!(tape.num_recorded_ops(), 0);
    }

    #[test]
    fn gradcheck_with_a_fixed_seed_and_a_fixed_mask() {
        let x = Tensor::from_vec(
            vec![3, 4],
            (0..12).map(|i| (i as f32 * 0.9).cos()).collect(),
        );
        gradcheck(std::slice::from_ref(&x), |tape, v| {
            Dropout::new(0.4, 17).forward(tape, v[0], Mode::Train)
        })
        .unwrap();
        let mask: Vec<bool> = (0..12).map(|i| i % 3 != 0).collect();
        gradcheck(&[x], |tape, v| {
            tape.apply(DropoutOp::with_mask(0.4, mask.clone()), &[v[0]])
        })
        .unwrap();
    }

    #[test]
    fn pytorch_explicit_mask_example() {
        let golden = load("dropout.json");
        let p = golden["p"].as_f64().unwrap() as f32;
        let x = tensor(&golden, "x");
        let keep: Vec<bool> = tensor(&golden, "mask_kept")
            .data
            .iter()
            .map(|&m| m == 1.0)
            .collect();
        let mut tape = Tape::new();
        let v = tape.variable(Tensor::from_vec(x.shape.clone(), x.to_f32()));
        let y = tape.apply(DropoutOp::with_mask(p, keep), &[v]);
        assert_close(
            "y_train",
            tape.value(y).data(),
            &tensor(&golden, "y_train").data,
            tol::RTOL,
            tol::ATOL,
        );
        let dy = tensor(&golden, "dy");
        let grads = tape.backward_with(y, Tensor::from_vec(dy.shape.clone(), dy.to_f32()));
        assert_close(
            "dx",
            grads.get(v).unwrap().data(),
            &tensor(&golden, "dx").data,
            tol::RTOL,
            tol::ATOL,
        );

        let mut tape = Tape::new();
        let v = tape.constant(Tensor::from_vec(x.shape.clone(), x.to_f32()));
        let y = Dropout::new(p, 0).forward(&mut tape, v, Mode::Eval);
        assert_eq!(y, v, "eval is the identity: the same value, no op");
        assert_close(
            "y_eval",
            tape.value(y).data(),
            &tensor(&golden, "y_eval").data,
            tol::RTOL,
            tol::ATOL,
        );
    }

    #[test]
    #[should_panic(expected = "Dropout: p must be in [0, 1), got 1")]
    fn p_of_one_is_rejected() {
        Dropout::new(1.0, 0);
    }

    #[test]
    #[should_panic(expected = "Dropout: p must be in [0, 1), got NaN")]
    fn p_nan_is_rejected() {
        Dropout::new(f32::NAN, 0);
    }

    #[test]
    fn a_dropped_nan_stays_nan_as_pytorch() {
        // PyTorch computes x * (mask / (1 - p)): a dropped NaN or inf is NaN, a dropped
        // negative value -0.0, and the same for the gradient.
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::from_vec(
            vec![4],
            vec![f32::NAN, f32::INFINITY, -3.0, 2.0],
        ));
        let y = tape.apply(DropoutOp::with_mask(0.5, vec![false; 4]), &[x]);
        let out = tape.value(y).data().to_vec();
        assert!(out[0].is_nan() && out[1].is_nan(), "{out:?}");
        assert_eq!(
            (out[2].to_bits(), out[3].to_bits()),
            ((-0.0f32).to_bits(), 0)
        );
        let g = Tensor::from_vec(vec![4], vec![f32::NAN, -1.0, 1.0, 1.0]);
        let grads = tape.backward_with(y, g);
        let dx = grads.get(x).unwrap().data();
        assert!(dx[0].is_nan(), "{dx:?}");
        assert_eq!(dx[1].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    #[should_panic(expected = "dropout: a mask of 3 elements for an input of shape [2, 2]")]
    fn a_mask_of_the_wrong_length_panics() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![2, 2]));
        tape.apply(DropoutOp::with_mask(0.5, vec![true; 3]), &[x]);
    }
}
