//! Where each output of a pooling reads: a window of rows and one of columns per output
//! position, clipped to the input (PyTorch's padding is never read: `-inf` cannot win a
//! maximum whose window also covers the input, and an average counts it as zeros).

use crate::ops::size2::Size2;
use std::ops::Range;

/// The windows of one pooling: `rows[oh]` and `cols[ow]` are the input rows and columns of
/// output `(oh, ow)`, clipped to the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Windows {
    pub rows: Vec<Range<usize>>,
    pub cols: Vec<Range<usize>>,
}

/// Why a pooling cannot be applied to an input, for the op's panic message.
pub(crate) type Unfit = String;

/// The windows along one axis of `input` elements: `kernel` wide, `stride` apart, starting
/// `pad` before the input; as many as fit in the padded input (PyTorch's `ceil_mode=False`).
fn sliding(input: usize, kernel: usize, stride: usize, pad: usize) -> Option<Vec<Range<usize>>> {
    let outputs = (input + 2 * pad).checked_sub(kernel)? / stride + 1;
    let window = |o: usize| {
        let start = o * stride;
        start.saturating_sub(pad)..(start + kernel - pad).min(input)
    };
    Some((0..outputs).map(window).collect())
}

/// PyTorch's adaptive windows along one axis: output `o` of `outputs` reads
/// `floor(o * input / outputs)` to `ceil((o + 1) * input / outputs)`.
fn adaptive(input: usize, outputs: usize) -> Vec<Range<usize>> {
    let window = |o: usize| o * input / outputs..((o + 1) * input).div_ceil(outputs);
    (0..outputs).map(window).collect()
}

impl Windows {
    /// The windows of a `kernel` sliding by `stride` over an input of `size` padded by
    /// `padding` on each side, as `max_pool2d` and `avg_pool2d`; PyTorch's rules: a positive
    /// kernel and stride, a padding of at most half the kernel, at least one output.
    pub(crate) fn sliding(
        size: Size2,
        kernel: Size2,
        stride: Size2,
        padding: Size2,
    ) -> Result<Self, Unfit> {
        if kernel.h == 0 || kernel.w == 0 || stride.h == 0 || stride.w == 0 {
            return Err(format!(
                "kernel {kernel} and stride {stride} must be positive"
            ));
        }
        if 2 * padding.h > kernel.h || 2 * padding.w > kernel.w {
            return Err(format!(
                "padding {padding} must be at most half the kernel {kernel}"
            ));
        }
        let rows = sliding(size.h, kernel.h, stride.h, padding.h);
        let cols = sliding(size.w, kernel.w, stride.w, padding.w);
        match (rows, cols) {
            (Some(rows), Some(cols)) => Ok(Windows { rows, cols }),
            _ => Err(format!(
                "the kernel {kernel} is larger than the padded input {}x{}",
                size.h + 2 * padding.h,
                size.w + 2 * padding.w
            )),
        }
    }

    /// The windows of `adaptive_avg_pool2d` to `output`: at least one output each way.
    pub(crate) fn adaptive(size: Size2, output: Size2) -> Result<Self, Unfit> {
        if output.h == 0 || output.w == 0 {
            return Err(format!("the output size {output} must be positive"));
        }
        Ok(Windows {
            rows: adaptive(size.h, output.h),
            cols: adaptive(size.w, output.w),
        })
    }

    /// Outputs per plane.
    pub(crate) fn len(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// Calls `f(output, row, cols)` for every output of a plane in row-major order and every
    /// row of its window in order: the window's elements in that row are `cols` of the
    /// plane row `row` (an input plane is `w` wide).
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, usize, Range<usize>)) {
        let mut output = 0;
        for rows in &self.rows {
            for cols in &self.cols {
                for row in rows.clone() {
                    f(output, row, cols.clone());
                }
                output += 1;
            }
        }
    }
}
