//! Matrix products: `matmul` (either operand transposed without a copy) and the fused
//! `linear` (`x W^T + b`, PyTorch's layout, the bias folded into the GEMM), optionally
//! followed by a ReLU in the same op (`linear_relu`).

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::{
    for_each_chunk_mut, gemm, gemm_is_large, gemm_serial, join, relu, relu_backward, sum_rows_into,
    zip_into, MatRef, CHUNK,
};

/// The two dimensions of a matrix operand, or a panic naming the op and both shapes.
fn matrix_dims(op: &str, which: &Tensor, other: &Tensor) -> (usize, usize) {
    match which.shape() {
        &[r, c] => (r, c),
        _ => panic!(
            "{op}: operands must be matrices, got shapes {:?} and {:?}",
            which.shape(),
            other.shape()
        ),
    }
}

/// `op(a) @ op(b)`, where `op` transposes when asked (a stride change, not a copy).
struct MatMul {
    trans_a: bool,
    trans_b: bool,
}

impl MatMul {
    fn operands<'a>(&self, a: &'a Tensor, b: &'a Tensor) -> (MatRef<'a>, MatRef<'a>) {
        let (ar, ac) = matrix_dims("matmul", a, b);
        let (br, bc) = matrix_dims("matmul", b, a);
        let am = MatRef::new(a.data(), ar, ac).t(self.trans_a);
        let bm = MatRef::new(b.data(), br, bc).t(self.trans_b);
        assert_eq!(
            am.dims().1,
            bm.dims().0,
            "matmul: inner dimensions differ: {:?}{} @ {:?}{}",
            a.shape(),
            if self.trans_a { "^T" } else { "" },
            b.shape(),
            if self.trans_b { "^T" } else { "" },
        );
        (am, bm)
    }
}

impl Op for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let (a, b) = (ctx.input(0), ctx.input(1));
        let (am, bm) = self.operands(a, b);
        let shape = [am.dims().0, bm.dims().1];
        let mut c = ctx.buffer(&shape);
        gemm(am, bm, 0.0, c.data_mut());
        c
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (a, b, g) = (ctx.input(0), ctx.input(1), ctx.grad_output());
        let (am, bm) = self.operands(a, b);
        let gm = MatRef::new(g.data(), g.shape()[0], g.shape()[1]);
        let mut da = ctx.needs_grad(0).then(|| ctx.buffer(a.shape()));
        let mut db = ctx.needs_grad(1).then(|| ctx.buffer(b.shape()));
        // With C = op(A) op(B): dop(A) = G op(B)^T and dop(B) = op(A)^T G; a transposed
        // operand's gradient is the transpose of those.
        let (trans_a, trans_b) = (self.trans_a, self.trans_b);
        let (m, n) = (gm.rows, gm.cols);
        let k = am.dims().1;
        side_by_side(
            da.is_some() && db.is_some() && gemm_is_large(m, k, n),
            |gemm| {
                if let Some(da) = &mut da {
                    match trans_a {
                        true => gemm(bm, gm.t(true), 0.0, da.data_mut()),
                        false => gemm(gm, bm.t(true), 0.0, da.data_mut()),
                    }
                }
            },
            |gemm| {
                if let Some(db) = &mut db {
                    match trans_b {
                        true => gemm(gm.t(true), am, 0.0, db.data_mut()),
                        false => gemm(am.t(true), gm, 0.0, db.data_mut()),
                    }
                }
            },
        );
        if let Some(da) = da {
            ctx.set_grad(0, da);
        }
        if let Some(db) = db {
            ctx.set_grad(1, db);
        }
    }
}

/// A GEMM entry point: [`gemm`] (all threads) or [`gemm_serial`] (the calling one).
type Gemm = fn(MatRef<'_>, MatRef<'_>, f32, &mut [f32]);

/// Runs the two independent products of a backward (input and weight gradients): side by
/// side, one thread each, when both are large (no packing duplicated, one fork instead of
/// two), else one after the other, each split across all threads when large. Either way
/// each product is computed by the same deterministic GEMM, so the bits do not change.
fn side_by_side(
    both_large: bool,
    first: impl FnOnce(Gemm) + Send,
    second: impl FnOnce(Gemm) + Send,
) {
    if both_large {
        join(|| first(gemm_serial), || second(gemm_serial));
    } else {
        first(gemm);
        second(gemm);
    }
}

/// `y = x @ w^T (+ b)` with `x: [n, in]`, `w: [out, in]` (PyTorch's layout), `b: [out]`.
struct Linear {
    /// Whether a ReLU follows, inside the op (see [`Tape::linear_relu`]).
    relu: bool,
}

impl Op for Linear {
    fn name(&self) -> &'static str {
        if self.relu {
            "linear_relu"
        } else {
            "linear"
        }
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let (x, w) = (ctx.input(0), ctx.input(1));
        let (n, fan_in) = matrix_dims("linear", x, w);
        let (fan_out, w_in) = matrix_dims("linear", w, x);
        assert_eq!(
            fan_in,
            w_in,
            "linear: input {:?} does not fit weight {:?} (expected [n, {w_in}])",
            x.shape(),
            w.shape()
        );
        let mut y = ctx.buffer(&[n, fan_out]);
        let beta = if ctx.num_inputs() == 3 {
            let b = ctx.input(2);
            assert_eq!(
                b.shape(),
                [fan_out],
                "linear: bias {:?} does not fit weight {:?}",
                b.shape(),
                w.shape()
            );
            // Prefill every row with the bias and let the GEMM add onto it (beta = 1). With
            // no outputs there is no row to fill: PyTorch returns the empty `[n, 0]`.
            if fan_out > 0 {
                for row in y.data_mut().chunks_exact_mut(fan_out) {
                    row.copy_from_slice(b.data());
                }
            }
            1.0
        } else {
            0.0
        };
        gemm(
            MatRef::new(x.data(), n, fan_in),
            MatRef::new(w.data(), fan_out, fan_in).t(true),
            beta,
            y.data_mut(),
        );
        if self.relu {
            // Over the product while it is still in the cache, in place.
            for_each_chunk_mut(y.data_mut(), CHUNK, |_, ys| {
                ys.iter_mut().for_each(|v| *v = relu(*v))
            });
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, w) = (ctx.input(0), ctx.input(1));
        let (n, fan_in) = (x.shape()[0], x.shape()[1]);
        let fan_out = w.shape()[0];
        // With a ReLU, the products take the gradient through it: zero where the output is 0.
        let gated = self.relu.then(|| {
            let (y, g) = (ctx.output(), ctx.grad_output());
            let mut gated = ctx.buffer(g.shape());
            zip_into(gated.data_mut(), y.data(), g.data(), relu_backward);
            gated
        });
        let g = gated.as_ref().unwrap_or(ctx.grad_output());
        let gm = MatRef::new(g.data(), n, fan_out);
        let mut dx = ctx.needs_grad(0).then(|| ctx.buffer(x.shape()));
        let mut dw = ctx.needs_grad(1).then(|| ctx.buffer(w.shape()));
        let with_bias = ctx.num_inputs() == 3 && ctx.needs_grad(2);
        let mut db = with_bias.then(|| ctx.buffer(&[fan_out]));
        side_by_side(
            dx.is_some() && dw.is_some() && gemm_is_large(n, fan_out, fan_in),
            |gemm| {
                if let Some(dx) = &mut dx {
                    let wm = MatRef::new(w.data(), fan_out, fan_in);
                    gemm(gm, wm, 0.0, dx.data_mut());
                }
            },
            |gemm| {
                if let Some(dw) = &mut dw {
                    let xm = MatRef::new(x.data(), n, fan_in);
                    gemm(gm.t(true), xm, 0.0, dw.data_mut());
                }
                if let Some(db) = &mut db {
                    sum_rows_into(db.data_mut(), g.data(), n, fan_out);
                }
            },
        );
        for (i, grad) in [dx, dw, db].into_iter().enumerate() {
            if let Some(grad) = grad {
                ctx.set_grad(i, grad);
            }
        }
        if let Some(gated) = gated {
            ctx.release(gated);
        }
    }
}

impl Tape {
    /// The matrix product `a @ b` of `[m, k]` and `[k, n]`.
    pub fn matmul(&mut self, a: Var, b: Var) -> Var {
        self.apply(
            MatMul {
                trans_a: false,
                trans_b: false,
            },
            &[a, b],
        )
    }

    /// `op(a) @ op(b)`, transposing `a` and/or `b` by strides, without a copy.
    pub fn matmul_t(&mut self, a: Var, trans_a: bool, b: Var, trans_b: bool) -> Var {
        self.apply(MatMul { trans_a, trans_b }, &[a, b])
    }

    /// PyTorch's `F.linear`: `x @ weight^T + bias`, with `weight: [out, in]` and
    /// `bias: [out]`, the bias added inside the GEMM.
    pub fn linear(&mut self, x: Var, weight: Var, bias: Option<Var>) -> Var {
        self.linear_op(Linear { relu: false }, x, weight, bias)
    }

    /// [`Tape::linear`] followed by [`Tape::relu`], as one op (`linear_relu` in op timings):
    /// the ReLU runs over the product in place while it is in the cache, and the backward
    /// gates the gradient before its two products. The same bits as the two ops, one tensor
    /// fewer kept. `Sequential` uses it for a `Linear` directly followed by a ReLU.
    ///
    /// ```
    /// use tapegrad_core::{Tape, Tensor};
    ///
    /// let mut tape = Tape::new();
    /// let x = tape.constant(Tensor::from_vec(vec![1, 2], vec![1.0, 2.0]));
    /// let w = tape.variable(Tensor::from_vec(vec![2, 2], vec![1.0, 0.0, 0.0, -1.0]));
    /// let y = tape.linear_relu(x, w, None);
    /// assert_eq!(tape.value(y).data(), &[1.0, 0.0]);
    /// ```
    pub fn linear_relu(&mut self, x: Var, weight: Var, bias: Option<Var>) -> Var {
        self.linear_op(Linear { relu: true }, x, weight, bias)
    }

    /// `op` on `x`, `weight` and, if given, `bias`.
    fn linear_op(&mut self, op: Linear, x: Var, weight: Var, bias: Option<Var>) -> Var {
        match bias {
            Some(b) => self.apply(op, &[x, weight, b]),
            None => self.apply(op, &[x, weight]),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Backward, Tape, Tensor};

    fn t(shape: &[usize], data: &[f32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), data.to_vec())
    }

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(
            shape.to_vec(),
            (0..n).map(|i| ((i as f32 * 0.7).sin()) * scale).collect(),
        )
    }

    #[test]
    fn matmul_forward_by_hand() {
        let mut tape = Tape::new();
        let a = tape.constant(t(&[2, 3], &[1., 2., 3., 4., 5., 6.]));
        let b = tape.constant(t(&[3, 2], &[7., 8., 9., 10., 11., 12.]));
        let c = tape.matmul(a, b);
        assert_eq!(tape.value(c).data(), &[58., 64., 139., 154.]);
        let ct = tape.matmul_t(a, true, a, false); // a^T a: [3,3]
        assert_eq!(
            tape.value(ct).data(),
            &[17., 22., 27., 22., 29., 36., 27., 36., 45.]
        );
    }

    #[test]
    fn matmul_gradcheck_every_transpose() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = if ta {
                ramp(&[3, 2], 1.0)
            } else {
                ramp(&[2, 3], 1.0)
            };
            let b = if tb {
                ramp(&[4, 3], 0.5)
            } else {
                ramp(&[3, 4], 0.5)
            };
            gradcheck(&[a, b], |tape, v| tape.matmul_t(v[0], ta, v[1], tb))
                .unwrap_or_else(|e| panic!("ta={ta} tb={tb}: {e}"));
        }
    }

    #[test]
    fn linear_forward_by_hand_and_gradcheck() {
        let mut tape = Tape::new();
        let x = tape.constant(t(&[1, 2], &[1., 2.]));
        let w = tape.constant(t(&[3, 2], &[1., 0., 0., 1., 1., 1.]));
        let b = tape.constant(t(&[3], &[0.5, -0.5, 0.]));
        let y = tape.linear(x, w, Some(b));
        assert_eq!(tape.value(y).data(), &[1.5, 1.5, 3.0]);
        let no_bias = tape.linear(x, w, None);
        assert_eq!(tape.value(no_bias).data(), &[1., 2., 3.]);

        gradcheck(
            &[ramp(&[4, 3], 1.0), ramp(&[5, 3], 0.5), ramp(&[5], 0.3)],
            |tape, v| tape.linear(v[0], v[1], Some(v[2])),
        )
        .unwrap();
        gradcheck(&[ramp(&[4, 3], 1.0), ramp(&[5, 3], 0.5)], |tape, v| {
            tape.linear(v[0], v[1], None)
        })
        .unwrap();
    }

    #[test]
    fn linear_relu_gives_the_bits_of_linear_then_relu() {
        // A small product and one large enough for the backward's two GEMMs side by side.
        for (n, fan_in, fan_out) in [(4, 3, 5), (128, 300, 200)] {
            let x = ramp(&[n, fan_in], 1.0);
            let (w, b) = (ramp(&[fan_out, fan_in], 0.2), ramp(&[fan_out], 0.3));
            let g = ramp(&[n, fan_out], 0.7);
            for with_bias in [true, false] {
                let run = |fused: bool| {
                    let mut tape = Tape::new();
                    let (xv, wv) = (tape.variable(x.clone()), tape.variable(w.clone()));
                    let bv = tape.variable(b.clone());
                    let bias = with_bias.then_some(bv);
                    let y = if fused {
                        tape.linear_relu(xv, wv, bias)
                    } else {
                        let z = tape.linear(xv, wv, bias);
                        tape.relu(z)
                    };
                    let out = tape.value(y).clone();
                    let closed = out.data().iter().filter(|&&v| v == 0.0).count();
                    let grads = tape.backward_with(y, Backward::seeded(g.clone()));
                    let grad = |v| grads.get(v).cloned();
                    (out, closed, [grad(xv), grad(wv), grad(bv)])
                };
                let (fused, plain) = (run(true), run(false));
                assert!(fused.1 > 0 && fused.1 < n * fan_out, "some outputs clipped");
                assert_eq!(fused, plain, "{n}x{fan_in}x{fan_out}, bias {with_bias}");
            }
        }
        // Away from the kink at 0, against finite differences.
        gradcheck(
            &[ramp(&[4, 3], 1.0), ramp(&[5, 3], 0.5), ramp(&[5], 0.3)],
            |tape, v| tape.linear_relu(v[0], v[1], Some(v[2])),
        )
        .unwrap();
    }

    #[test]
    fn linear_with_zero_outputs_or_inputs_is_empty_or_the_bias_as_pytorch() {
        // PyTorch: F.linear(x[2, 3], w[0, 3], b[0]) is an empty [2, 0], with gradients
        // zeros [2, 3], [0, 3] and [0].
        let mut tape = Tape::new();
        let x = tape.variable(ramp(&[2, 3], 1.0));
        let w = tape.variable(Tensor::zeros(vec![0, 3]));
        let b = tape.variable(Tensor::zeros(vec![0]));
        let y = tape.linear(x, w, Some(b));
        assert_eq!(tape.shape(y), &[2, 0]);
        let grads = tape.backward_with(y, Tensor::zeros(vec![2, 0]));
        assert_eq!(grads.get(x).unwrap().data(), &[0.0; 6]);
        assert_eq!(grads.get(w).unwrap().shape(), &[0, 3]);
        assert_eq!(grads.get(b).unwrap().shape(), &[0]);
        // F.linear(x[2, 0], w[3, 0], b) is b on every row; dx [2, 0], dw zeros, db = sum.
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::zeros(vec![2, 0]));
        let w = tape.variable(Tensor::zeros(vec![3, 0]));
        let b = tape.variable(t(&[3], &[1.0, -2.0, 0.5]));
        let y = tape.linear(x, w, Some(b));
        assert_eq!(tape.value(y).data(), &[1.0, -2.0, 0.5, 1.0, -2.0, 0.5]);
        let grads = tape.backward_with(y, Tensor::full(vec![2, 3], 1.0));
        assert_eq!(grads.get(x).unwrap().shape(), &[2, 0]);
        assert_eq!(grads.get(w).unwrap().shape(), &[3, 0]);
        assert_eq!(grads.get(b).unwrap().data(), &[2.0, 2.0, 2.0]);
    }

    #[test]
    fn bias_gradient_over_many_rows_is_exact_as_pytorch() {
        // PyTorch (float32): the bias gradient of F.linear over 2^24 + 4096 rows with an
        // upstream gradient of ones is 16781312; an f32 running sum stopped at 16777216.
        let n = (1 << 24) + 4096;
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![n, 1]));
        let w = tape.constant(Tensor::zeros(vec![1, 1]));
        let b = tape.variable(Tensor::zeros(vec![1]));
        let y = tape.linear(x, w, Some(b));
        let grads = tape.backward_with(y, Tensor::full(vec![n, 1], 1.0));
        assert_eq!(grads.get(b).unwrap().data(), &[n as f32]);
    }

    #[test]
    #[should_panic(expected = "matmul: inner dimensions differ: [2, 3] @ [4, 5]")]
    fn matmul_rejects_mismatched_inner_dims() {
        let mut tape = Tape::new();
        let a = tape.constant(Tensor::zeros(vec![2, 3]));
        let b = tape.constant(Tensor::zeros(vec![4, 5]));
        tape.matmul(a, b);
    }

    #[test]
    #[should_panic(expected = "matmul: operands must be matrices, got shapes [3] and [3, 2]")]
    fn matmul_rejects_vectors() {
        let mut tape = Tape::new();
        let a = tape.constant(Tensor::zeros(vec![3]));
        let b = tape.constant(Tensor::zeros(vec![3, 2]));
        tape.matmul(a, b);
    }

    #[test]
    #[should_panic(expected = "linear: input [2, 3] does not fit weight [4, 5]")]
    fn linear_rejects_a_wrong_input_width() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![2, 3]));
        let w = tape.constant(Tensor::zeros(vec![4, 5]));
        tape.linear(x, w, None);
    }

    #[test]
    #[should_panic(expected = "linear: bias [3] does not fit weight [4, 5]")]
    fn linear_rejects_a_wrong_bias() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![2, 5]));
        let w = tape.constant(Tensor::zeros(vec![4, 5]));
        let b = tape.constant(Tensor::zeros(vec![3]));
        tape.linear(x, w, Some(b));
    }
}
