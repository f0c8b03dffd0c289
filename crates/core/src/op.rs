//! The one op mechanism: every built-in op and every user op implements [`Op`].

use crate::pool::BufferPool;
use crate::tape::Slot;
use crate::Tensor;

/// An operation on the tape: a forward that computes the output and keeps what the backward
/// needs, and a backward that gives the gradient of every input that needs one.
///
/// The inputs and the output stay on the tape, so an op only stores what it cannot
/// recompute cheaply from them (a dropout mask, BatchNorm's `1/std`). When
/// [`ForwardCtx::needs_backward`] is false (inference, or no input needs a gradient) the op
/// is dropped right after its forward: it should then save nothing.
///
/// ```
/// use tapegrad_core::{BackwardCtx, ForwardCtx, Op, Tape, Tensor};
///
/// /// y = x^3, a user-defined op.
/// struct Cube;
/// impl Op for Cube {
///     fn name(&self) -> &'static str { "cube" }
///     fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
///         let x = ctx.input(0);
///         let mut y = ctx.buffer(x.shape());
///         for (y, &x) in y.data_mut().iter_mut().zip(x.data()) { *y = x * x * x; }
///         y
///     }
///     fn backward(&self, ctx: &mut BackwardCtx<'_>) {
///         let (x, g) = (ctx.input(0), ctx.grad_output());
///         let mut dx = ctx.buffer(x.shape());
///         for ((d, &x), &g) in dx.data_mut().iter_mut().zip(x.data()).zip(g.data()) {
///             *d = 3.0 * x * x * g;
///         }
///         ctx.set_grad(0, dx);
///     }
/// }
///
/// let mut tape = Tape::new();
/// let x = tape.variable(Tensor::from_vec(vec![2], vec![1.0, 2.0]));
/// let y = tape.apply(Cube, &[x]);
/// let loss = tape.sum(y);
/// let grads = tape.backward(loss);
/// assert_eq!(grads.get(x).unwrap().data(), &[3.0, 12.0]);
/// ```
pub trait Op: Send + 'static {
    /// A short name used in panic messages (`"matmul"`, `"batch_norm"`).
    fn name(&self) -> &'static str;

    /// Computes the output from the inputs, saving in `self` whatever the backward needs.
    /// Checks the input shapes and panics with the op's name and the shapes on misuse.
    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor;

    /// Sets, with [`BackwardCtx::set_grad`], the gradient of every input for which
    /// [`BackwardCtx::needs_grad`] is true. The tape checks that each was set with the
    /// input's shape.
    fn backward(&self, ctx: &mut BackwardCtx<'_>);
}

/// What an op's forward sees: its inputs, and buffers to write its output into.
pub struct ForwardCtx<'a> {
    pub(crate) values: &'a [Slot],
    pub(crate) inputs: &'a [u32],
    pub(crate) pool: &'a mut BufferPool,
    pub(crate) needs_backward: bool,
}

impl<'a> ForwardCtx<'a> {
    /// Input `i`'s value. It borrows the tape, not this context, so buffers can be taken
    /// while it is held.
    pub fn input(&self, i: usize) -> &'a Tensor {
        &self.values[self.inputs[i] as usize]
    }

    /// How many inputs the op was applied to.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Whether the backward will run: false in inference mode or when no input needs a
    /// gradient. Save state for the backward only when this is true.
    pub fn needs_backward(&self) -> bool {
        self.needs_backward
    }

    /// A reused buffer of `shape` with unspecified contents: write every element.
    pub fn buffer(&mut self, shape: &[usize]) -> Tensor {
        self.pool.take(shape)
    }

    /// A reused buffer of `shape` filled with zeros.
    pub fn zeros(&mut self, shape: &[usize]) -> Tensor {
        self.pool.zeros(shape)
    }

    /// Gives back a scratch buffer taken with [`buffer`](Self::buffer) or
    /// [`zeros`](Self::zeros) that the op no longer needs, so the next op can reuse it
    /// (dropping it works too, but then the memory is asked of the allocator again).
    pub fn release(&mut self, scratch: Tensor) {
        self.pool.give(scratch);
    }
}

/// What an op's backward sees: inputs, output, the gradient of the output, and where to put
/// the gradients of the inputs.
pub struct BackwardCtx<'a> {
    pub(crate) values: &'a [Slot],
    pub(crate) inputs: &'a [u32],
    pub(crate) requires_grad: &'a [bool],
    pub(crate) output: &'a Tensor,
    pub(crate) grad_output: &'a Tensor,
    pub(crate) pool: &'a mut BufferPool,
    pub(crate) grads: &'a mut Vec<Option<Tensor>>,
}

impl<'a> BackwardCtx<'a> {
    /// Input `i`'s value, as it was in the forward. It borrows the tape, not this context,
    /// so buffers can be taken and gradients set while it is held.
    pub fn input(&self, i: usize) -> &'a Tensor {
        &self.values[self.inputs[i] as usize]
    }

    /// How many inputs the op was applied to.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The op's output, as the forward computed it.
    pub fn output(&self) -> &'a Tensor {
        self.output
    }

    /// The gradient of the loss with respect to the output (same shape as the output).
    pub fn grad_output(&self) -> &'a Tensor {
        self.grad_output
    }

    /// Whether input `i` needs a gradient (a constant input, such as a data batch, does not;
    /// skipping it saves work, e.g. a whole GEMM for the first layer's input).
    pub fn needs_grad(&self, i: usize) -> bool {
        self.requires_grad[self.inputs[i] as usize]
    }

    /// A reused buffer of `shape` with unspecified contents: write every element.
    pub fn buffer(&mut self, shape: &[usize]) -> Tensor {
        self.pool.take(shape)
    }

    /// A reused buffer of `shape` filled with zeros.
    pub fn zeros(&mut self, shape: &[usize]) -> Tensor {
        self.pool.zeros(shape)
    }

    /// Gives back a scratch buffer taken with [`buffer`](Self::buffer) or
    /// [`zeros`](Self::zeros) that the op no longer needs, so the next op can reuse it
    /// (dropping it works too, but then the memory is asked of the allocator again).
    pub fn release(&mut self, scratch: Tensor) {
        self.pool.give(scratch);
    }

    /// Sets the gradient of input `i`. Setting it twice keeps the last one.
    pub fn set_grad(&mut self, i: usize, grad: Tensor) {
        if let Some(old) = self.grads[i].replace(grad) {
            self.pool.give(old);
        }
    }
}
