//! `Flatten`: PyTorch's `nn.Flatten`, between a convolution's `[n, c, h, w]` and a `Linear`.

use crate::pool::stateless_layer;

/// Merges every dimension from `start_dim` (1 by default, as `nn.Flatten`) into one
/// ([`Tape::flatten`](tapegrad_core::Tape::flatten)): `[n, c, h, w]` becomes `[n, c * h * w]`,
/// the elements in the same order, so a `Linear` after it has PyTorch's weight layout.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{Flatten, Mode, Module};
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::zeros(vec![8, 64, 12, 12]));
/// let y = Flatten::new().forward(&mut tape, x, Mode::Train);
/// assert_eq!(tape.shape(y), &[8, 9216]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flatten {
    start_dim: usize,
}

impl Flatten {
    /// `nn.Flatten()`: from dimension 1, keeping the batch dimension.
    pub fn new() -> Self {
        Self::from_dim(1)
    }

    /// `nn.Flatten(start_dim)`.
    pub fn from_dim(start_dim: usize) -> Self {
        Flatten { start_dim }
    }

    /// The first dimension merged.
    pub fn start_dim(&self) -> usize {
        self.start_dim
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Self::new()
    }
}

stateless_layer!(Flatten, |this, tape, x, _| tape.flatten(x, this.start_dim));
