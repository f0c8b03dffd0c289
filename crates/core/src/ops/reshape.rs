//! `reshape`: the same elements in the same order under another shape; `flatten`, the
//! reshape that merges trailing dimensions.

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};

struct Reshape {
    shape: Vec<usize>,
}

impl Op for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        let numel: usize = self.shape.iter().product();
        assert_eq!(
            numel,
            x.numel(),
            "reshape: cannot view shape {:?} ({} elements) as {:?} ({numel} elements)",
            x.shape(),
            x.numel(),
            self.shape
        );
        let mut y = ctx.buffer(&self.shape);
        y.data_mut().copy_from_slice(x.data());
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let mut dx = ctx.buffer(ctx.input(0).shape());
        dx.data_mut().copy_from_slice(ctx.grad_output().data());
        ctx.set_grad(0, dx);
    }
}

impl Tape {
    /// The same elements viewed with `shape` (same element count).
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Var {
        let op = Reshape {
            shape: shape.to_vec(),
        };
        self.apply(op, &[x])
    }

    /// PyTorch's `torch.flatten(x, start_dim)`: dimensions `start_dim` and after merged into
    /// one, a [`reshape`](Tape::reshape). `start_dim = 1` is `nn.Flatten`'s, from a
    /// convolution's `[n, c, h, w]` to the `[n, c * h * w]` a `linear` takes.
    ///
    /// Panics unless `start_dim` is a dimension of `x`.
    ///
    /// ```
    /// use tapegrad_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let x = tape.constant(Tensor::zeros(vec![2, 3, 4, 5]));
    /// let y = tape.flatten(x, 1);
    /// assert_eq!(tape.shape(y), &[2, 60]);
    /// ```
    pub fn flatten(&mut self, x: Var, start_dim: usize) -> Var {
        let shape = self.shape(x);
        assert!(
            start_dim < shape.len(),
            "flatten: start_dim {start_dim} is not a dimension of shape {shape:?}"
        );
        let mut flat = shape[..start_dim].to_vec();
        flat.push(shape[start_dim..].iter().product());
        self.reshape(x, &flat)
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Tape, Tensor};

    #[test]
    fn forward_keeps_the_order_and_gradcheck() {
        let x = Tensor::from_vec(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]);
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        let r = tape.reshape(v, &[3, 2]);
        assert_eq!(tape.shape(r), &[3, 2]);
        assert_eq!(tape.value(r).row(1), &[3., 4.]);
        gradcheck(&[x], |t, v| {
            let r = t.reshape(v[0], &[6]);
            t.mul(r, r)
        })
        .unwrap();
    }

    #[test]
    fn flatten_merges_the_trailing_dimensions_and_gradcheck() {
        let x = Tensor::from_vec(
            vec![2, 2, 3],
            (0..12).map(|i| i as f32 * 0.3 - 1.0).collect(),
        );
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        for (start_dim, shape) in [(0, vec![12]), (1, vec![2, 6]), (2, vec![2, 2, 3])] {
            let y = tape.flatten(v, start_dim);
            assert_eq!(tape.shape(y), shape);
            assert_eq!(tape.value(y).data(), x.data());
        }
        gradcheck(&[x], |t, v| {
            let y = t.flatten(v[0], 1);
            t.mul(y, y)
        })
        .unwrap();
    }

    #[test]
    #[should_panic(expected = "flatten: start_dim 2 is not a dimension of shape [2, 3]")]
    fn flatten_past_the_last_dimension_panics() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 3]));
        tape.flatten(v, 2);
    }

    #[test]
    #[should_panic(
        expected = "reshape: cannot view shape [2, 3] (6 elements) as [4, 2] (8 elements)"
    )]
    fn wrong_element_count_panics() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 3]));
        tape.reshape(v, &[4, 2]);
    }
}
