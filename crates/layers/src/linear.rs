//! `Linear`: `y = x W^T + b`, PyTorch's `nn.Linear`, on the core's fused `linear` op (the
//! bias is added inside the GEMM).

use crate::init::try_uniform;
use crate::weight_bias::WeightBias;
use crate::{Activation, Mode, Module, Path, Rng, Visitor, VisitorMut};
use std::any::Any;
use tapegrad_core::{AllocError, Param, Tape, Tensor, Var};

/// A fully connected layer: `weight: [out_features, in_features]` (PyTorch's layout) and an
/// optional `bias: [out_features]`.
///
/// Initialised as PyTorch does: weight and bias both drawn from
/// `U(-1/sqrt(in_features), 1/sqrt(in_features))` (weight first, row-major, then bias),
/// from the generator passed to the constructor, so a seed fixes the model.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{seeded_rng, Linear, Mode, Module};
///
/// let mut layer = Linear::new(3, 2, &mut seeded_rng(0));
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::zeros(vec![4, 3]));
/// let y = layer.forward(&mut tape, x, Mode::Train);
/// assert_eq!(tape.shape(y), &[4, 2]);
/// // A zero input gives the bias on every row.
/// assert_eq!(tape.value(y).row(3), layer.bias().unwrap().value().data());
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    params: WeightBias,
    /// Whether the forward applies a ReLU itself (see [`Module::fuse_activation`]).
    fused_relu: bool,
}

impl Linear {
    /// A layer with a bias, initialised as PyTorch's `nn.Linear(in_features, out_features)`.
    ///
    /// Panics if the parameters cannot be allocated, with the message of
    /// [`Linear::try_new`]'s error.
    pub fn new(in_features: usize, out_features: usize, rng: &mut Rng) -> Self {
        Self::with_bias(in_features, out_features, true, rng)
    }

    /// [`Linear::new`] with the bias switched on or off (`bias=False` in PyTorch).
    ///
    /// Panics if `in_features` is 0 (the init bound `1/sqrt(in_features)` is undefined), or
    /// if the parameters cannot be allocated (with the message of
    /// [`Linear::try_with_bias`]'s error).
    pub fn with_bias(in_features: usize, out_features: usize, bias: bool, rng: &mut Rng) -> Self {
        Self::try_with_bias(in_features, out_features, bias, rng).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Linear::new`] that returns an error naming the layer, the parameter and the bytes
    /// (`Linear(100000 -> 100000): could not allocate 40000000000 bytes for weight ...`)
    /// instead of aborting the process when the parameters cannot be allocated.
    ///
    /// What the error can and cannot catch on Linux (a request accepted lazily and killed
    /// later) is told at [`AllocError`].
    ///
    /// ```
    /// use tapegrad_layers::{seeded_rng, Linear};
    /// let err = Linear::try_new(1 << 40, 1 << 40, &mut seeded_rng(0)).unwrap_err();
    /// assert!(err.to_string().starts_with("Linear(1099511627776 -> 1099511627776): could not allocate"));
    /// ```
    pub fn try_new(
        in_features: usize,
        out_features: usize,
        rng: &mut Rng,
    ) -> Result<Self, AllocError> {
        Self::try_with_bias(in_features, out_features, true, rng)
    }

    /// [`Linear::with_bias`] that returns an error instead of aborting when the parameters
    /// cannot be allocated (see [`Linear::try_new`]).
    ///
    /// Panics if `in_features` is 0: a programming error, not a question of resources.
    pub fn try_with_bias(
        in_features: usize,
        out_features: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<Self, AllocError> {
        assert!(
            in_features > 0,
            "Linear: in_features must be positive, got {in_features} (out_features {out_features})"
        );
        let layer = || format!("Linear({in_features} -> {out_features})");
        let bound = 1.0 / (in_features as f32).sqrt();
        let weight = try_uniform(&[out_features, in_features], -bound, bound, rng)
            .map_err(|e| e.for_param(layer(), "weight"))?;
        let bias = match bias {
            true => Some(
                try_uniform(&[out_features], -bound, bound, rng)
                    .map_err(|e| e.for_param(layer(), "bias"))?,
            ),
            false => None,
        };
        Ok(Self::from_tensors(weight, bias))
    }

    /// A layer with the given values (weights loaded from elsewhere, a folded layer).
    ///
    /// Panics unless `weight` is `[out, in]` and `bias`, if any, is `[out]`.
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Self {
        let from = "Linear::from_tensors";
        assert!(
            weight.shape().len() == 2,
            "{from}: weight must be [out_features, in_features], got {:?}",
            weight.shape()
        );
        Linear {
            params: WeightBias::new(from, weight, bias),
            fused_relu: false,
        }
    }

    /// Multiplies the weight by `scale` (the bias is left as drawn), and returns the layer.
    ///
    /// Scaling after the draw is the same as drawing from `U(-scale/sqrt(in), scale/sqrt(in))`,
    /// and keeps the generator's sequence independent of the scale: models at 0.01x and 10x
    /// the default scale then differ only in scale, not in direction (a controlled
    /// experiment).
    pub fn scale_weight(mut self, scale: f32) -> Self {
        self.params
            .weight
            .value_mut()
            .data_mut()
            .iter_mut()
            .for_each(|w| *w *= scale);
        self
    }

    /// The number of input features.
    pub fn in_features(&self) -> usize {
        self.params.weight.shape()[1]
    }

    /// The number of output features.
    pub fn out_features(&self) -> usize {
        self.params.weight.shape()[0]
    }

    /// The weight, `[out_features, in_features]`.
    pub fn weight(&self) -> &Param {
        &self.params.weight
    }

    /// The weight, mutably.
    pub fn weight_mut(&mut self) -> &mut Param {
        &mut self.params.weight
    }

    /// The bias, `[out_features]`, if the layer has one.
    pub fn bias(&self) -> Option<&Param> {
        self.params.bias.as_ref()
    }

    /// The bias, mutably.
    pub fn bias_mut(&mut self) -> Option<&mut Param> {
        self.params.bias.as_mut()
    }
}

impl Module for Linear {
    fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Var {
        let (weight, bias) = self.params.on_tape(tape);
        match self.fused_relu {
            true => tape.linear_relu(x, weight, bias),
            false => tape.linear(x, weight, bias),
        }
    }

    /// Takes a ReLU into the layer's op ([`Tape::linear_relu`]): the same bits as the layer
    /// then [`Tape::relu`].
    fn fuse_activation(&mut self, activation: Activation) -> bool {
        self.fused_relu |= activation == Activation::Relu;
        activation == Activation::Relu
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        self.params.visit(path, visitor);
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        self.params.visit_mut(path, visitor);
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
    use crate::{seeded_rng, ModuleExt};
    use tapegrad_core::gradcheck;

    #[test]
    fn init_is_pytorch_default_bound_and_seeded() {
        let a = Linear::new(100, 30, &mut seeded_rng(3));
        let bound = 0.1;
        for p in [a.weight(), a.bias().unwrap()] {
            assert!(p.value().data().iter().all(|w| w.abs() < bound));
            let max = p.value().data().iter().fold(0f32, |m, w| m.max(w.abs()));
            assert!(
                max > 0.9 * bound,
                "the draws should fill the range, max {max}"
            );
        }
        let b = Linear::new(100, 30, &mut seeded_rng(3));
        assert_eq!(a.weight().value(), b.weight().value());
        assert_eq!(a.bias().unwrap().value(), b.bias().unwrap().value());
        let c = Linear::new(100, 30, &mut seeded_rng(4));
        assert_ne!(a.weight().value(), c.weight().value());
    }

    #[test]
    fn scale_weight_scales_the_same_draw() {
        let a = Linear::new(8, 4, &mut seeded_rng(1));
        let b = Linear::new(8, 4, &mut seeded_rng(1)).scale_weight(0.01);
        for (x, y) in a
            .weight()
            .value()
            .data()
            .iter()
            .zip(b.weight().value().data())
        {
            assert_eq!(x * 0.01, *y);
        }
        assert_eq!(a.bias().unwrap().value(), b.bias().unwrap().value());
    }

    #[test]
    fn names_shapes_and_count() {
        let l = Linear::with_bias(5, 3, false, &mut seeded_rng(0));
        assert!(l.bias().is_none());
        let names: Vec<String> = l.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight"]);
        let l = Linear::new(5, 3, &mut seeded_rng(0));
        let names: Vec<String> = l.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight", "bias"]);
        assert_eq!(
            (l.in_features(), l.out_features(), l.param_count()),
            (5, 3, 18)
        );
    }

    #[test]
    fn gradcheck_input_and_parameter_gradients() {
        let x = Tensor::from_vec(
            vec![3, 4],
            (0..12).map(|i| (i as f32 * 0.7).sin()).collect(),
        );
        gradcheck(std::slice::from_ref(&x), |tape, v| {
            Linear::new(4, 2, &mut seeded_rng(5)).forward(tape, v[0], Mode::Train)
        })
        .unwrap();

        // The parameters' gradients, against finite differences on a perturbed copy.
        let layer = Linear::new(4, 2, &mut seeded_rng(5));
        let r = [0.3f32, -1.1, 0.8, 0.5, -0.2, 0.9];
        let loss = |layer: &mut Linear| -> (f64, Tape, Var) {
            let mut tape = Tape::new();
            let xv = tape.constant(x.clone());
            let y = layer.forward(&mut tape, xv, Mode::Train);
            let rv = tape.constant(Tensor::from_vec(vec![3, 2], r.to_vec()));
            let p = tape.mul(y, rv);
            let s = tape.sum(p);
            (tape.value(s).item() as f64, tape, s)
        };
        let mut base = layer.clone();
        let (_, mut tape, s) = loss(&mut base);
        let grads = tape.backward(s);
        let params = [base.weight(), base.bias().unwrap()];
        for (which, p) in params.iter().enumerate() {
            let analytic = grads.param(p).unwrap().data().to_vec();
            for (i, &a) in analytic.iter().enumerate() {
                let f = |h: f32| {
                    let mut l = base.clone();
                    let target = if which == 0 {
                        l.weight_mut()
                    } else {
                        l.bias_mut().unwrap()
                    };
                    target.value_mut().data_mut()[i] += h;
                    loss(&mut l).0
                };
                let numeric = (f(1e-2) - f(-1e-2)) / 2e-2;
                assert!(
                    (a as f64 - numeric).abs() < 1e-3,
                    "param {which}[{i}]: {a} vs {numeric}"
                );
            }
        }
    }

    #[test]
    fn an_impossible_size_is_an_error_naming_the_layer_not_an_abort() {
        let mut rng = seeded_rng(0);
        let err = Linear::try_new(1 << 40, 1 << 40, &mut rng).unwrap_err();
        assert_eq!(err.failure(), tapegrad_core::AllocFailure::TooLarge);
        assert_eq!(
            err.param(),
            Some(("Linear(1099511627776 -> 1099511627776)", "weight"))
        );
        assert!(
            err.to_string().starts_with(
                "Linear(1099511627776 -> 1099511627776): could not allocate \
                 4835703278458516698824704 bytes for weight [1099511627776, 1099511627776]"
            ),
            "{err}"
        );
        // Without a bias too; a byte count that overflows while the element count fits.
        let err = Linear::try_with_bias(1, 1 << 62, false, &mut rng).unwrap_err();
        assert_eq!(
            err.param(),
            Some(("Linear(1 -> 4611686018427387904)", "weight"))
        );
        // Nothing was drawn for the refused layers.
        assert_eq!(rng, seeded_rng(0));
    }

    #[test]
    fn try_new_builds_the_layer_new_does() {
        let a = Linear::try_new(7, 3, &mut seeded_rng(9)).unwrap();
        let b = Linear::new(7, 3, &mut seeded_rng(9));
        assert_eq!(a.weight().value(), b.weight().value());
        assert_eq!(a.bias().unwrap().value(), b.bias().unwrap().value());
        let c = Linear::try_with_bias(7, 3, false, &mut seeded_rng(9)).unwrap();
        assert!(c.bias().is_none());
        assert_eq!(c.weight().value(), b.weight().value());
    }

    #[test]
    #[should_panic(expected = "Linear(4294967296 -> 4294967296): could not allocate")]
    fn new_panics_with_the_message_instead_of_aborting() {
        Linear::new(1 << 32, 1 << 32, &mut seeded_rng(0));
    }

    #[test]
    #[should_panic(expected = "linear: input [2, 3] does not fit weight [2, 4]")]
    fn wrong_input_width_panics_with_both_shapes() {
        let mut l = Linear::new(4, 2, &mut seeded_rng(0));
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![2, 3]));
        l.forward(&mut tape, x, Mode::Eval);
    }
}
