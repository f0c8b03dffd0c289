//! `reshape`: the same elements in the same order under another shape.

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
    #[should_panic(
        expected = "reshape: cannot view shape [2, 3] (6 elements) as [4, 2] (8 elements)"
    )]
    fn wrong_element_count_panics() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::zeros(vec![2, 3]));
        tape.reshape(v, &[4, 2]);
    }
}
