//! `conv2d`: PyTorch's `F.conv2d` on NCHW tensors, with stride, padding, dilation, groups
//! (depthwise included) and an optional bias, forward and backward by matrix products over
//! each image's columns (`lowered.rs`).
//!
//! - `geometry.rs`: the sizes, checked once, and the fixed cut of the batch into chunks;
//! - `lowered.rs`: the arithmetic: per image, its columns times the weight, per group; the
//!   backward's three gradients; the chunks run in parallel with the same bits on any
//!   number of threads;
//! - `plain.rs`: `im2col` and its adjoint written from the definition, element by element;
//! - `fast.rs`: the same, the padding checks hoisted out of the inner loop; what the op runs,
//!   held to `plain.rs` bit for bit by the tests.

mod fast;
mod geometry;
mod lowered;
#[cfg(test)]
mod plain;
#[cfg(test)]
mod tests;

use crate::ops::size2::Size2;
use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use geometry::Geometry;
use lowered::{Grads, Lowering, Schedule};

/// The settings of a convolution besides its weight: PyTorch's `stride`, `padding`,
/// `dilation` and `groups`, with its defaults (1, 0, 1, 1). The kernel's size is the
/// weight's.
///
/// ```
/// use tapegrad_core::{Conv2dConfig, Size2};
/// let config = Conv2dConfig::default().stride(2).padding((1, 2));
/// assert_eq!(config.padding, Size2 { h: 1, w: 2 });
/// assert_eq!((config.dilation, config.groups), (Size2 { h: 1, w: 1 }, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// The step between output positions, in input pixels.
    pub stride: Size2,
    /// Zeros added on each side of the input (top and bottom by `h`, left and right by `w`).
    pub padding: Size2,
    /// The spacing between kernel taps (1: adjacent pixels).
    pub dilation: Size2,
    /// Input and output channels are split into this many groups, each convolved with its
    /// own filters; `groups == c_in` with `c_out` a multiple of it is a depthwise convolution.
    pub groups: usize,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: 1.into(),
            padding: 0.into(),
            dilation: 1.into(),
            groups: 1,
        }
    }
}

impl Conv2dConfig {
    /// The same settings with this stride.
    pub fn stride(self, stride: impl Into<Size2>) -> Self {
        let stride = stride.into();
        Conv2dConfig { stride, ..self }
    }

    /// The same settings with this zero padding.
    pub fn padding(self, padding: impl Into<Size2>) -> Self {
        let padding = padding.into();
        Conv2dConfig { padding, ..self }
    }

    /// The same settings with this dilation.
    pub fn dilation(self, dilation: impl Into<Size2>) -> Self {
        let dilation = dilation.into();
        Conv2dConfig { dilation, ..self }
    }

    /// The same settings with this many groups.
    pub fn groups(self, groups: usize) -> Self {
        Conv2dConfig { groups, ..self }
    }
}

/// The convolution op, over the lowering `L` (the op of [`Tape::conv2d`] runs `fast.rs`'s,
/// in parallel; the tests apply `plain.rs`'s, serially). It saves nothing: the backward
/// reads the input and the weight, which stay on the tape, and recomputes the columns.
struct Conv2d<L> {
    config: Conv2dConfig,
    lowering: L,
    schedule: Schedule,
}

impl<L> Conv2d<L> {
    /// The sizes of this call, checked (see [`Geometry::new`]).
    fn geometry(&self, x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Geometry {
        Geometry::new(
            x.shape(),
            weight.shape(),
            bias.map(Tensor::shape),
            &self.config,
        )
    }
}

impl<L: Lowering + Send + 'static> Op for Conv2d<L> {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let (x, weight) = (ctx.input(0), ctx.input(1));
        let bias = (ctx.num_inputs() == 3).then(|| ctx.input(2));
        let g = self.geometry(x, weight, bias);
        let mut y = ctx.buffer(&g.out_shape());
        let mut scratch = ctx.buffer(&[g.chunks() * g.cols_len()]);
        let inputs = (x.data(), weight.data(), bias.map(Tensor::data));
        lowered::forward(
            &g,
            &self.lowering,
            self.schedule,
            inputs,
            y.data_mut(),
            scratch.data_mut(),
        );
        ctx.release(scratch);
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, weight, dy) = (ctx.input(0), ctx.input(1), ctx.grad_output());
        let g = self.geometry(x, weight, (ctx.num_inputs() == 3).then(|| ctx.input(2)));
        let chunks = g.chunks();
        // Scratch and per-chunk partial sums only for the gradients wanted: the first layer's
        // input (a data batch) needs none, and then neither its columns' gradient.
        let wants = [0, 1, 2].map(|i| i < ctx.num_inputs() && ctx.needs_grad(i));
        let mut take = |wanted: bool, shape: &[usize]| wanted.then(|| ctx.buffer(shape));
        let mut dx = take(wants[0], x.shape());
        let mut dw_parts = take(wants[1], &[chunks * g.weight_len()]);
        let mut cols = take(wants[1], &[chunks * g.cols_len()]);
        let mut dcols = take(wants[0], &[chunks * g.cols_len()]);
        let mut db_parts = wants[2].then(|| vec![0f64; chunks * g.c_out]);
        let grads = Grads {
            dx: dx.as_mut().map(Tensor::data_mut),
            dw: dw_parts.as_mut().map(Tensor::data_mut),
            db: db_parts.as_deref_mut(),
        };
        let scratch = (
            cols.as_mut().map_or(&mut [][..], Tensor::data_mut),
            dcols.as_mut().map_or(&mut [][..], Tensor::data_mut),
        );
        lowered::backward(
            &g,
            &self.lowering,
            self.schedule,
            (x.data(), weight.data(), dy.data()),
            grads,
            scratch,
        );

        if let Some(dx) = dx {
            ctx.set_grad(0, dx);
        }
        if let Some(parts) = dw_parts {
            let mut dw = ctx.buffer(weight.shape());
            lowered::sum_parts(parts.data(), dw.data_mut());
            ctx.set_grad(1, dw);
            ctx.release(parts);
        }
        if let Some(parts) = db_parts {
            // Each channel's f64 sums, chunk by chunk in order, rounded once.
            let mut db = ctx.buffer(&[g.c_out]);
            for (c, out) in db.data_mut().iter_mut().enumerate() {
                *out = parts.iter().skip(c).step_by(g.c_out).sum::<f64>() as f32;
            }
            ctx.set_grad(2, db);
        }
        for scratch in [cols, dcols].into_iter().flatten() {
            ctx.release(scratch);
        }
    }
}

impl Tape {
    /// PyTorch's `F.conv2d(x, weight, bias, stride, padding, dilation, groups)`: `x` is
    /// `[n, c_in, h, w]`, `weight` `[c_out, c_in / groups, kh, kw]`, `bias` `[c_out]`; the
    /// output is `[n, c_out, oh, ow]` with `oh = (h + 2 padding - dilation (kh - 1) - 1) /
    /// stride + 1` (and `ow` alike).
    ///
    /// Lowered to matrix products per image (`im2col`), in parallel over fixed chunks of
    /// images: the results, the weight and bias gradients included, have the same bits on any
    /// number of threads. Panics naming `conv2d` and the shapes if they do not fit.
    ///
    /// ```
    /// use tapegrad_core::{Conv2dConfig, Tape, Tensor};
    ///
    /// let mut tape = Tape::new();
    /// // One 3x3 image, one 2x2 filter summing its window.
    /// let x = tape.variable(Tensor::from_vec(vec![1, 1, 3, 3], (1..=9).map(|v| v as f32).collect()));
    /// let w = tape.variable(Tensor::full(vec![1, 1, 2, 2], 1.0));
    /// let y = tape.conv2d(x, w, None, Conv2dConfig::default());
    /// assert_eq!(tape.value(y).data(), &[12.0, 16.0, 24.0, 28.0]);
    /// let loss = tape.sum(y);
    /// let grads = tape.backward(loss);
    /// // The centre pixel is in all four windows.
    /// assert_eq!(grads.get(x).unwrap().data()[4], 4.0);
    /// ```
    pub fn conv2d(&mut self, x: Var, weight: Var, bias: Option<Var>, config: Conv2dConfig) -> Var {
        let op = Conv2d {
            config,
            lowering: fast::Fast,
            schedule: Schedule::Parallel,
        };
        match bias {
            Some(b) => self.apply(op, &[x, weight, b]),
            None => self.apply(op, &[x, weight]),
        }
    }
}
