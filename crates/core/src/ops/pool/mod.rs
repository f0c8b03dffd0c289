//! Pooling over the last two dimensions of `[.., h, w]` tensors (NCHW): `max_pool2d`,
//! `avg_pool2d` and `adaptive_avg_pool2d`, PyTorch's `F.` functions of those names with their
//! defaults (no dilation, `ceil_mode=False`, `count_include_pad=True`). Each plane is
//! independent, so the planes are cut into fixed chunks run in parallel; within a plane
//! everything happens in one order, so the bits do not depend on the thread count.

#[cfg(test)]
mod tests;
mod windows;

use crate::ops::size2::Size2;
use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::{for_each_chunk_mut, for_each_chunk_pair_mut, CHUNK};
use windows::Windows;

/// The settings of `max_pool2d` and `avg_pool2d`: PyTorch's `kernel_size`, `stride` (by
/// default the kernel's size) and `padding` (default 0; at most half the kernel).
///
/// ```
/// use tapegrad_core::{Pool2dConfig, Size2};
/// let config = Pool2dConfig::new(2);
/// assert_eq!((config.kernel, config.stride, config.padding), (2.into(), 2.into(), 0.into()));
/// let config = Pool2dConfig::new((3, 2)).stride(1).padding((1, 0));
/// assert_eq!(config.stride, Size2 { h: 1, w: 1 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dConfig {
    /// The window's height and width.
    pub kernel: Size2,
    /// The step between windows.
    pub stride: Size2,
    /// Implicit padding on each side: `-inf` for the maximum, zeros for the average.
    pub padding: Size2,
}

impl Pool2dConfig {
    /// A `kernel`-sized window moving by its own size, without padding.
    pub fn new(kernel: impl Into<Size2>) -> Self {
        let kernel = kernel.into();
        Pool2dConfig {
            kernel,
            stride: kernel,
            padding: 0.into(),
        }
    }

    /// The same settings with this stride.
    pub fn stride(self, stride: impl Into<Size2>) -> Self {
        let stride = stride.into();
        Pool2dConfig { stride, ..self }
    }

    /// The same settings with this padding.
    pub fn padding(self, padding: impl Into<Size2>) -> Self {
        let padding = padding.into();
        Pool2dConfig { padding, ..self }
    }
}

/// Which pooling, and what its windows come from.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Max(Pool2dConfig),
    Avg(Pool2dConfig),
    AdaptiveAvg(Size2),
}

impl Kind {
    /// What an average divides the sum of window `(rows, cols)` by: PyTorch's
    /// `count_include_pad` divides by the whole kernel, padding included; the adaptive
    /// windows by their own size, as `sum / kh / kw`.
    fn scale(self, sum: f32, rows: usize, cols: usize) -> f32 {
        match self {
            Kind::Avg(c) => sum / (c.kernel.h * c.kernel.w) as f32,
            _ => sum / rows as f32 / cols as f32,
        }
    }
}

/// A pooling op. Only the maximum saves something for its backward: the index in its plane
/// of each output's maximum (what PyTorch's `return_indices` gives).
struct Pool2d {
    kind: Kind,
    argmax: Vec<u32>,
}

/// The sizes of one pooling call.
struct Plan {
    /// The input plane's size.
    size: Size2,
    windows: Windows,
    /// Planes per parallel chunk: a fixed amount of input per chunk, whatever the threads.
    per_chunk: usize,
}

impl Pool2d {
    fn name_of(kind: Kind) -> &'static str {
        match kind {
            Kind::Max(_) => "max_pool2d",
            Kind::Avg(_) => "avg_pool2d",
            Kind::AdaptiveAvg(_) => "adaptive_avg_pool2d",
        }
    }

    /// The plan for an input of `shape`, or a panic naming the op, the shape and why.
    fn plan(&self, shape: &[usize]) -> Plan {
        let fail =
            |why: &str| -> ! { panic!("{}: input {shape:?}: {why}", Self::name_of(self.kind)) };
        let (&[.., h, w], 3..=4) = (shape, shape.len()) else {
            fail("expected [N, C, H, W] or [C, H, W]")
        };
        if h == 0 || w == 0 {
            fail("the input planes are empty");
        }
        let size = Size2 { h, w };
        let windows = match self.kind {
            Kind::Max(c) | Kind::Avg(c) => Windows::sliding(size, c.kernel, c.stride, c.padding),
            Kind::AdaptiveAvg(output) => Windows::adaptive(size, output),
        };
        let windows = windows.unwrap_or_else(|why| fail(&why));
        Plan {
            size,
            windows,
            per_chunk: (CHUNK / (h * w)).max(1),
        }
    }
}

impl Op for Pool2d {
    fn name(&self) -> &'static str {
        Self::name_of(self.kind)
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        let plan = self.plan(x.shape());
        let (out_len, in_len) = (plan.windows.len(), plan.size.h * plan.size.w);
        let mut shape = x.shape().to_vec();
        let last = shape.len() - 2;
        shape[last..].copy_from_slice(&[plan.windows.rows.len(), plan.windows.cols.len()]);
        let mut y = ctx.buffer(&shape);
        let kind = self.kind;
        // The indices of the maxima, for the backward (in inference the op, and they, are
        // dropped right after the forward).
        let argmax = &mut self.argmax;
        argmax.clear();
        if let Kind::Max(_) = kind {
            argmax.resize(y.numel(), 0);
        }
        let chunk_len = plan.per_chunk * out_len;
        for_each_chunk_pair_mut(y.data_mut(), argmax, chunk_len, |chunk, y, argmax| {
            let x = &x.data()[chunk * plan.per_chunk * in_len..];
            for (p, y) in y.chunks_mut(out_len).enumerate() {
                let x = &x[p * in_len..][..in_len];
                match kind {
                    Kind::Max(_) => max_plane(&plan, x, y, &mut argmax[p * out_len..][..out_len]),
                    _ => avg_plane(kind, &plan, x, y),
                }
            }
        });
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, dy) = (ctx.input(0), ctx.grad_output());
        let plan = self.plan(x.shape());
        let (out_len, in_len) = (plan.windows.len(), plan.size.h * plan.size.w);
        let mut dx = ctx.zeros(x.shape());
        for_each_chunk_mut(dx.data_mut(), plan.per_chunk * in_len, |chunk, dx| {
            let first = chunk * plan.per_chunk * out_len;
            for (p, dx) in dx.chunks_mut(in_len).enumerate() {
                let dy = &dy.data()[first + p * out_len..][..out_len];
                match self.kind {
                    // Each output's gradient goes to the one input its maximum came from.
                    Kind::Max(_) => {
                        let argmax = &self.argmax[first + p * out_len..][..out_len];
                        for (&i, &g) in argmax.iter().zip(dy) {
                            dx[i as usize] += g;
                        }
                    }
                    kind => avg_plane_backward(kind, &plan, dy, dx),
                }
            }
        });
        ctx.set_grad(0, dx);
    }
}

/// The maximum of each window of one plane, and where it is: PyTorch's rule, in row-major
/// order over the window, a value replaces the maximum if it is greater or NaN, so a tie goes
/// to the first maximum and a NaN wins (the last NaN, if several).
fn max_plane(plan: &Plan, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let w = plan.size.w;
    let mut last = usize::MAX;
    plan.windows.for_each(|o, row, cols| {
        if o != last {
            // PyTorch starts from -inf at the window's first element.
            (y[o], argmax[o], last) = (f32::NEG_INFINITY, (row * w + cols.start) as u32, o);
        }
        let start = row * w + cols.start;
        for (i, &v) in x[start..row * w + cols.end].iter().enumerate() {
            if v > y[o] || v.is_nan() {
                (y[o], argmax[o]) = (v, (start + i) as u32);
            }
        }
    });
}

/// The average of each window of one plane: the window's sum in row-major order, scaled.
fn avg_plane(kind: Kind, plan: &Plan, x: &[f32], y: &mut [f32]) {
    let w = plan.size.w;
    y.fill(0.0);
    plan.windows.for_each(|o, row, cols| {
        // One running sum over the window, element by element, as PyTorch's.
        for &v in &x[row * w + cols.start..row * w + cols.end] {
            y[o] += v;
        }
    });
    for (o, y) in y.iter_mut().enumerate() {
        let (rows, cols) = plan.window_size(o);
        *y = kind.scale(*y, rows, cols);
    }
}

/// The average's backward for one plane: each output's gradient, scaled as its value was,
/// added to every input of its window.
fn avg_plane_backward(kind: Kind, plan: &Plan, dy: &[f32], dx: &mut [f32]) {
    let w = plan.size.w;
    plan.windows.for_each(|o, row, cols| {
        let (rows, width) = plan.window_size(o);
        let g = kind.scale(dy[o], rows, width);
        dx[row * w + cols.start..row * w + cols.end]
            .iter_mut()
            .for_each(|d| *d += g);
    });
}

impl Plan {
    /// The height and width of output `o`'s window.
    fn window_size(&self, o: usize) -> (usize, usize) {
        let n = self.windows.cols.len();
        (
            self.windows.rows[o / n].len(),
            self.windows.cols[o % n].len(),
        )
    }
}

impl Tape {
    /// PyTorch's `F.max_pool2d(x, kernel_size, stride, padding)` over `x: [n, c, h, w]` (or
    /// `[c, h, w]`): the maximum of each window, padding counting as `-inf`. The gradient goes
    /// to the first maximum of a window in row-major order (PyTorch's rule for ties); a NaN in
    /// a window is its maximum.
    ///
    /// ```
    /// use tapegrad_core::{Pool2dConfig, Tape, Tensor};
    ///
    /// let mut tape = Tape::new();
    /// let x = tape.variable(Tensor::from_vec(vec![1, 1, 2, 4], vec![1.0, 5.0, 2.0, 2.0, 3.0, 0.0, 2.0, 0.0]));
    /// let y = tape.max_pool2d(x, Pool2dConfig::new(2));
    /// assert_eq!(tape.value(y).data(), &[5.0, 2.0]);
    /// let loss = tape.sum(y);
    /// let grads = tape.backward(loss);
    /// // The tie of three 2s: the first one gets the gradient.
    /// assert_eq!(grads.get(x).unwrap().data(), &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    /// ```
    pub fn max_pool2d(&mut self, x: Var, config: Pool2dConfig) -> Var {
        self.pool(Kind::Max(config), x)
    }

    /// PyTorch's `F.avg_pool2d(x, kernel_size, stride, padding)` with its defaults
    /// (`count_include_pad=True`, `ceil_mode=False`): each window's mean, padding counting as
    /// zeros, so every window divides by `kh * kw`.
    pub fn avg_pool2d(&mut self, x: Var, config: Pool2dConfig) -> Var {
        self.pool(Kind::Avg(config), x)
    }

    /// PyTorch's `F.adaptive_avg_pool2d(x, output_size)`: `output_size` windows each way,
    /// output `o` of `n` averaging inputs `floor(o h / n)` to `ceil((o + 1) h / n)`; to `1`,
    /// the global average pooling of a classifier's head.
    pub fn adaptive_avg_pool2d(&mut self, x: Var, output_size: impl Into<Size2>) -> Var {
        self.pool(Kind::AdaptiveAvg(output_size.into()), x)
    }

    fn pool(&mut self, kind: Kind, x: Var) -> Var {
        let argmax = Vec::new();
        self.apply(Pool2d { kind, argmax }, &[x])
    }
}
