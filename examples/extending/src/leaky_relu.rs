//! LeakyReLU, PyTorch's `nn.LeakyReLU`: the smallest op with its own backward, and a layer
//! without state around it.

use tapegrad::core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad::layers::{Mode, Module, Path, Visitor, VisitorMut};

/// `y = x` where `x > 0`, `y = negative_slope * x` elsewhere.
///
/// The backward reads the input, which stays on the tape, so the op saves nothing. At `x = 0`
/// the derivative is `negative_slope`, as in PyTorch.
pub struct LeakyReluOp {
    negative_slope: f32,
}

impl Op for LeakyReluOp {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let (x, slope) = (ctx.input(0), self.negative_slope);
        let mut y = ctx.buffer(x.shape());
        for (y, &x) in y.data_mut().iter_mut().zip(x.data()) {
            *y = if x > 0.0 { x } else { slope * x };
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, dy, slope) = (ctx.input(0), ctx.grad_output(), self.negative_slope);
        let mut dx = ctx.buffer(x.shape());
        let pairs = x.data().iter().zip(dy.data());
        for (dx, (&x, &dy)) in dx.data_mut().iter_mut().zip(pairs) {
            *dx = if x > 0.0 { dy } else { slope * dy };
        }
        ctx.set_grad(0, dx);
    }
}

/// Applies [`LeakyReluOp`] to `x` (the functional form, PyTorch's `F.leaky_relu`).
pub fn leaky_relu(tape: &mut Tape, x: Var, negative_slope: f32) -> Var {
    tape.apply(LeakyReluOp { negative_slope }, &[x])
}

/// The LeakyReLU layer. It has no parameters, buffers or random state, so its visitors list
/// nothing.
///
/// ```
/// use tapegrad::prelude::*;
/// use tapegrad_extending_example::LeakyRelu;
///
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![3], vec![-2.0, 0.0, 3.0]));
/// let y = LeakyRelu::default().forward(&mut tape, x, Mode::Train);
/// assert_eq!(tape.value(y).data(), &[-0.02, 0.0, 3.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    negative_slope: f32,
}

impl LeakyRelu {
    /// A layer with the given slope for negative inputs.
    ///
    /// Panics unless the slope is finite.
    pub fn new(negative_slope: f32) -> Self {
        assert!(
            negative_slope.is_finite(),
            "LeakyRelu: negative_slope must be finite, got {negative_slope}"
        );
        LeakyRelu { negative_slope }
    }

    /// The slope for negative inputs.
    pub fn negative_slope(&self) -> f32 {
        self.negative_slope
    }
}

impl Default for LeakyRelu {
    /// PyTorch's default slope, 0.01.
    fn default() -> Self {
        LeakyRelu::new(0.01)
    }
}

impl Module for LeakyRelu {
    fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Var {
        leaky_relu(tape, x, self.negative_slope)
    }

    fn visit<'a>(&'a self, _path: Path<'_>, _visitor: &mut dyn Visitor<'a>) {}

    fn visit_mut<'a>(&'a mut self, _path: Path<'_>, _visitor: &mut dyn VisitorMut<'a>) {}
}
