//! `Unflatten`: PyTorch's `nn.Unflatten`, the inverse of [`Flatten`](crate::Flatten): a data
//! batch of flat rows `[n, 784]` viewed as the images `[n, 1, 28, 28]` a convolution takes.

use crate::pool::stateless_layer;

/// Splits dimension `dim` of its input into `sizes`, whose product must be that dimension's
/// length: `Unflatten::new(1, [1, 28, 28])` views `[n, 784]` as `[n, 1, 28, 28]`. The elements
/// keep their row-major order (a [`Tape::reshape`](tapegrad_core::Tape::reshape)), so element
/// `(i, c, h, w)` of the output is element `(i, (c * 28 + h) * 28 + w)` of the input, as in
/// PyTorch's view. PyTorch also takes a negative `dim` and one size of `-1` to infer; here
/// both are spelled out.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{Mode, Module, Unflatten};
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::zeros(vec![8, 784]));
/// let y = Unflatten::new(1, [1, 28, 28]).forward(&mut tape, x, Mode::Train);
/// assert_eq!(tape.shape(y), &[8, 1, 28, 28]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unflatten {
    dim: usize,
    sizes: Vec<usize>,
}

impl Unflatten {
    /// `nn.Unflatten(dim, unflattened_size)`.
    ///
    /// Panics if `sizes` is empty (PyTorch raises for it too); a product that does not match
    /// the input's dimension panics in the forward, where the input is known.
    pub fn new(dim: usize, sizes: impl Into<Vec<usize>>) -> Self {
        let sizes = sizes.into();
        assert!(
            !sizes.is_empty(),
            "Unflatten: the sizes to split dimension {dim} into are empty"
        );
        Unflatten { dim, sizes }
    }

    /// The dimension split.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The sizes it is split into.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The output's shape for an input of `shape`; panics, with PyTorch's wording, unless
    /// `dim` is a dimension of `shape` whose length is the product of the sizes.
    fn output_shape(&self, shape: &[usize]) -> Vec<usize> {
        let dim = self.dim;
        assert!(
            dim < shape.len(),
            "Unflatten: dimension {dim} is not a dimension of shape {shape:?}"
        );
        let product: usize = self.sizes.iter().product();
        assert_eq!(
            product, shape[dim],
            "Unflatten: provided sizes {:?} don't multiply up to the size of dim {dim} ({}) in \
             the input of shape {shape:?}",
            self.sizes, shape[dim]
        );
        let mut out = shape[..dim].to_vec();
        out.extend(&self.sizes);
        out.extend(&shape[dim + 1..]);
        out
    }
}

stateless_layer!(Unflatten, |this, tape, x, _| {
    let shape = this.output_shape(tape.shape(x));
    tape.reshape(x, &shape)
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Flatten, Mode, Module, ModuleExt};
    use tapegrad_core::{gradcheck, Tape, Tensor};

    fn ramp(shape: &[usize]) -> Tensor {
        let numel = shape.iter().product();
        Tensor::from_vec(
            shape.to_vec(),
            (0..numel).map(|i| i as f32 * 0.25 - 3.0).collect(),
        )
    }

    #[test]
    fn a_flat_batch_becomes_images_element_for_element_as_pytorch_s_view() {
        let (n, c, h, w) = (3, 2, 4, 5);
        let x = ramp(&[n, c * h * w]);
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        let y = Unflatten::new(1, [c, h, w]).forward(&mut tape, v, Mode::Train);
        let y = tape.value(y);
        assert_eq!(y.shape(), &[n, c, h, w]);
        // x.view(n, c, h, w)[i, k, r, s] == x[i, (k * h + r) * w + s]
        for i in 0..n {
            for k in 0..c {
                for r in 0..h {
                    for s in 0..w {
                        let out = y.data()[((i * c + k) * h + r) * w + s];
                        assert_eq!(out, x.data()[i * c * h * w + (k * h + r) * w + s]);
                    }
                }
            }
        }
    }

    #[test]
    fn an_inner_dimension_splits_in_place_and_flatten_undoes_it() {
        let x = ramp(&[2, 6, 5]);
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        let y = Unflatten::new(1, vec![2, 3]).forward(&mut tape, v, Mode::Eval);
        assert_eq!(tape.shape(y), &[2, 2, 3, 5]);
        let back = Flatten::new().forward(&mut tape, y, Mode::Eval);
        assert_eq!(tape.shape(back), &[2, 30]);
        assert_eq!(tape.value(back).data(), x.data());
        let layer = Unflatten::new(2, [5, 1]);
        let last = layer.clone().forward(&mut tape, v, Mode::Eval);
        assert_eq!(tape.shape(last), &[2, 6, 5, 1]);
        assert_eq!((layer.dim(), layer.sizes()), (2, &[5, 1][..]));
        assert_eq!(layer.param_count(), 0);
    }

    #[test]
    fn gradcheck_through_the_layer() {
        let layer = Unflatten::new(1, [2, 2, 3]);
        gradcheck(&[ramp(&[2, 12])], |tape, v| {
            let y = layer.clone().forward(tape, v[0], Mode::Train);
            assert_eq!(tape.shape(y), &[2, 2, 2, 3]);
            tape.mul(y, y)
        })
        .unwrap();
    }

    #[test]
    #[should_panic(
        expected = "Unflatten: provided sizes [1, 28, 27] don't multiply up to the size of dim 1 (784)"
    )]
    fn sizes_with_another_product_panic_naming_both() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 784]));
        Unflatten::new(1, [1, 28, 27]).forward(&mut tape, v, Mode::Train);
    }

    #[test]
    #[should_panic(expected = "Unflatten: dimension 2 is not a dimension of shape [2, 784]")]
    fn a_dimension_past_the_last_panics() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 784]));
        Unflatten::new(2, [784]).forward(&mut tape, v, Mode::Train);
    }

    #[test]
    #[should_panic(expected = "Unflatten: the sizes to split dimension 1 into are empty")]
    fn no_sizes_panic() {
        Unflatten::new(1, Vec::new());
    }
}
