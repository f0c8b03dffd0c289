//! LayerNorm, PyTorch's `nn.LayerNorm(d)`: the layer (its parameters and their names) in
//! this file, the fused op with its backward in `op.rs`.

mod op;

pub use op::{layer_norm, LayerNormOp};

use std::any::Any;
use tapegrad::core::{Param, Tape, Tensor, Var};
use tapegrad::layers::{Mode, Module, Path, Visitor, VisitorMut};

/// Layer normalisation over the last dimension, with a learnable gain `weight` (init 1)
/// and `bias` (init 0), both `[d]`; `eps = 1e-5`. PyTorch's `nn.LayerNorm(d)`, under the
/// same state-dict names.
///
/// Each row is normalised by its own statistics, so the output of a sample does not depend
/// on the rest of its batch, a batch of one is fine, and training and evaluation compute
/// the same thing (the layer has no buffers).
///
/// ```
/// use tapegrad::prelude::*;
/// use tapegrad_extending_example::LayerNorm;
///
/// let mut norm = LayerNorm::new(2);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![1, 2], vec![1.0, 3.0]));
/// let y = norm.forward(&mut tape, x, Mode::Eval);
/// let y = tape.value(y).data();
/// assert!((y[0] + 1.0).abs() < 1e-4 && (y[1] - 1.0).abs() < 1e-4);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Param,
    bias: Param,
    eps: f32,
}

impl LayerNorm {
    /// `nn.LayerNorm(d)`: eps `1e-5`, weight 1, bias 0.
    pub fn new(d: usize) -> Self {
        Self::with_eps(d, 1e-5)
    }

    /// A layer with another `eps`.
    ///
    /// Panics if `d` is 0, or `eps` is negative or not finite.
    pub fn with_eps(d: usize, eps: f32) -> Self {
        assert!(d > 0, "LayerNorm: the normalised length must be positive");
        assert!(
            eps >= 0.0 && eps.is_finite(),
            "LayerNorm({d}): eps must be finite and >= 0, got {eps}"
        );
        LayerNorm {
            weight: Param::new(Tensor::full(vec![d], 1.0)),
            bias: Param::new(Tensor::zeros(vec![d])),
            eps,
        }
    }

    /// The normalised length `d` (PyTorch's `normalized_shape`, one dimension here).
    pub fn normalized_len(&self) -> usize {
        self.weight.value().numel()
    }

    /// The value added to the variance.
    pub fn eps(&self) -> f32 {
        self.eps
    }

    /// The gain, `[d]`.
    pub fn weight(&self) -> &Param {
        &self.weight
    }

    /// The gain, mutably (to load values from elsewhere).
    pub fn weight_mut(&mut self) -> &mut Param {
        &mut self.weight
    }

    /// The bias, `[d]`.
    pub fn bias(&self) -> &Param {
        &self.bias
    }

    /// The bias, mutably.
    pub fn bias_mut(&mut self) -> &mut Param {
        &mut self.bias
    }
}

impl Module for LayerNorm {
    fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Var {
        // The same in both modes: the statistics are the row's own, never running ones.
        let weight = tape.param(&self.weight);
        let bias = tape.param(&self.bias);
        layer_norm(tape, x, weight, bias, self.eps)
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        visitor.param(path.name("weight"), &self.weight);
        visitor.param(path.name("bias"), &self.bias);
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        visitor.param(path.name("weight"), &mut self.weight);
        visitor.param(path.name("bias"), &mut self.bias);
    }

    // Optional: lets `Sequential::get_as::<LayerNorm>` find this layer in a model.
    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}
