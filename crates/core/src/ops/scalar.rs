//! `a + s` and `a * s` for a plain number `s` (no gradient for `s`).

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::map_into;

/// `y = a * scale + shift`: one op serves both `add_scalar` and `mul_scalar`.
struct Affine {
    scale: f32,
    shift: f32,
    name: &'static str,
}

impl Op for Affine {
    fn name(&self) -> &'static str {
        self.name
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let a = ctx.input(0);
        let mut y = ctx.buffer(a.shape());
        let (scale, shift) = (self.scale, self.shift);
        map_into(y.data_mut(), a.data(), |x| x * scale + shift);
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let g = ctx.grad_output();
        let mut da = ctx.buffer(g.shape());
        let scale = self.scale;
        map_into(da.data_mut(), g.data(), |g| g * scale);
        ctx.set_grad(0, da);
    }
}

impl Tape {
    /// `a + s` for every element.
    pub fn add_scalar(&mut self, a: Var, s: f32) -> Var {
        let op = Affine {
            scale: 1.0,
            shift: s,
            name: "add_scalar",
        };
        self.apply(op, &[a])
    }

    /// `a * s` for every element.
    pub fn mul_scalar(&mut self, a: Var, s: f32) -> Var {
        let op = Affine {
            scale: s,
            // -0.0, the additive identity of IEEE arithmetic: `x * s + 0.0` turned a product
            // of -0.0 into +0.0, where PyTorch's `x * s` keeps -0.0.
            shift: -0.0,
            name: "mul_scalar",
        };
        self.apply(op, &[a])
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Tape, Tensor};

    #[test]
    fn mul_scalar_keeps_negative_zero_as_pytorch() {
        // PyTorch: torch.tensor([0.0, -0.0]) * -1.0 is [-0.0, 0.0]; adding +0.0 after the
        // product gave [0.0, 0.0].
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::from_vec(vec![2], vec![0.0, -0.0]));
        let y = tape.mul_scalar(x, -1.0);
        let bits: Vec<u32> = tape.value(y).data().iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, [(-0.0f32).to_bits(), 0]);
    }

    #[test]
    fn forward_by_hand_and_gradcheck() {
        let x = Tensor::from_vec(vec![3], vec![1.0, -2.0, 0.5]);
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        let a = tape.add_scalar(v, 1.5);
        let m = tape.mul_scalar(v, -2.0);
        assert_eq!(tape.value(a).data(), &[2.5, -0.5, 2.0]);
        assert_eq!(tape.value(m).data(), &[-2.0, 4.0, -1.0]);
        gradcheck(std::slice::from_ref(&x), |t, v| t.add_scalar(v[0], 3.0)).unwrap();
        gradcheck(&[x], |t, v| t.mul_scalar(v[0], -0.7)).unwrap();
    }
}
