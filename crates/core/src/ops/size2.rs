//! `Size2`: a height and a width, what PyTorch's 2-D layers take as an int or a pair.

use std::fmt;

/// Two sizes, along the height and along the width: a kernel, a stride, a padding, a
/// dilation. PyTorch's `kernel_size=3` or `kernel_size=(3, 5)`; here `3.into()` or
/// `(3, 5).into()`, and every setter taking one accepts either.
///
/// ```
/// use tapegrad_core::Size2;
/// assert_eq!(Size2::from(3), Size2 { h: 3, w: 3 });
/// assert_eq!(Size2::from((3, 5)), Size2 { h: 3, w: 5 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size2 {
    /// Along the height (rows).
    pub h: usize,
    /// Along the width (columns).
    pub w: usize,
}

/// The same size along both axes.
impl From<usize> for Size2 {
    fn from(both: usize) -> Self {
        Size2 { h: both, w: both }
    }
}

/// `(height, width)`, PyTorch's tuple order.
impl From<(usize, usize)> for Size2 {
    fn from((h, w): (usize, usize)) -> Self {
        Size2 { h, w }
    }
}

/// `HxW`, as in error messages (`3x5`).
impl fmt::Display for Size2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.h, self.w)
    }
}
