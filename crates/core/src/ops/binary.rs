//! Element-wise `add`, `sub`, `mul`, `div`, with the right operand either of the same shape
//! or one row broadcast over every row of the left one (a bias, a per-feature scale).

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::{sum_rows_into, zip3_into, zip_into};

#[derive(Clone, Copy)]
enum Kind {
    Add,
    Sub,
    Mul,
    Div,
}

struct Binary {
    kind: Kind,
}

impl Binary {
    fn name_of(kind: Kind) -> &'static str {
        match kind {
            Kind::Add => "add",
            Kind::Sub => "sub",
            Kind::Mul => "mul",
            Kind::Div => "div",
        }
    }

    /// `None` for equal shapes, `Some(cols)` when `b` is one row broadcast over `a`'s rows.
    fn broadcast(&self, a: &Tensor, b: &Tensor) -> Option<usize> {
        if a.shape() == b.shape() {
            return None;
        }
        let cols = a.as_matrix().1;
        let is_row = b.numel() == cols
            && !a.shape().is_empty()
            && b.shape().iter().rev().skip(1).all(|&d| d == 1);
        assert!(
            is_row,
            "{}: shapes {:?} and {:?} do not broadcast (the right operand must have the left one's shape or be one row of its last dimension)",
            Self::name_of(self.kind),
            a.shape(),
            b.shape()
        );
        Some(cols)
    }
}

/// Applies `f(a, b_row)` over `a`'s rows with `b` a single row, or element-wise when
/// `b` has `a`'s shape.
fn zip_rows(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync + Copy) {
    if a.len() == b.len() {
        zip_into(out, a, b, f);
    } else {
        for (o, x) in out.chunks_exact_mut(b.len()).zip(a.chunks_exact(b.len())) {
            o.iter_mut()
                .zip(x.iter().zip(b))
                .for_each(|(o, (&x, &y))| *o = f(x, y));
        }
    }
}

impl Op for Binary {
    fn name(&self) -> &'static str {
        Self::name_of(self.kind)
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let (a, b) = (ctx.input(0), ctx.input(1));
        self.broadcast(a, b);
        let mut y = ctx.buffer(a.shape());
        let out = y.data_mut();
        match self.kind {
            Kind::Add => zip_rows(out, a.data(), b.data(), |x, y| x + y),
            Kind::Sub => zip_rows(out, a.data(), b.data(), |x, y| x - y),
            Kind::Mul => zip_rows(out, a.data(), b.data(), |x, y| x * y),
            Kind::Div => zip_rows(out, a.data(), b.data(), |x, y| x / y),
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (a, b, g) = (ctx.input(0), ctx.input(1), ctx.grad_output());
        let row = self.broadcast(a, b);
        if ctx.needs_grad(0) {
            // d/da: g (add, sub), g*b (mul), g/b (div).
            let mut da = ctx.buffer(a.shape());
            match self.kind {
                Kind::Add | Kind::Sub => da.data_mut().copy_from_slice(g.data()),
                Kind::Mul => zip_rows(da.data_mut(), g.data(), b.data(), |g, b| g * b),
                Kind::Div => zip_rows(da.data_mut(), g.data(), b.data(), |g, b| g / b),
            }
            ctx.set_grad(0, da);
        }
        if ctx.needs_grad(1) {
            // d/db element-wise over a's shape, then summed over rows if b was broadcast.
            let mut full = ctx.buffer(a.shape());
            match self.kind {
                Kind::Add => full.data_mut().copy_from_slice(g.data()),
                Kind::Sub => zip_into(full.data_mut(), g.data(), g.data(), |g, _| -g),
                Kind::Mul => zip_into(full.data_mut(), g.data(), a.data(), |g, a| g * a),
                Kind::Div => {
                    let b_full = expand(ctx, b, a.shape(), row);
                    zip3_into(
                        full.data_mut(),
                        g.data(),
                        a.data(),
                        b_full.data(),
                        // PyTorch's `-g * ((a / b) / b)`: `b * b` overflowed to inf at
                        // |b| = 1e20 and gave 0 where the gradient is -a / b^2 = -1e-40.
                        |g, a, b| -g * ((a / b) / b),
                    );
                    ctx.release(b_full);
                }
            }
            let db = match row {
                None => full,
                Some(cols) => {
                    let mut db = ctx.buffer(b.shape());
                    // Rows from the shape, not `numel / cols`, which divides by zero for `[n, 0]`.
                    sum_rows_into(db.data_mut(), full.data(), a.as_matrix().0, cols);
                    ctx.release(full);
                    db
                }
            };
            ctx.set_grad(1, db);
        }
    }
}

/// `b` repeated to `shape` when it is a broadcast row, or copied as is.
fn expand(ctx: &mut BackwardCtx<'_>, b: &Tensor, shape: &[usize], row: Option<usize>) -> Tensor {
    let mut out = ctx.buffer(shape);
    match row {
        // A zero-width row has nothing to repeat (and `chunks_exact_mut(0)` would panic).
        None | Some(0) => out.data_mut().copy_from_slice(b.data()),
        Some(cols) => out
            .data_mut()
            .chunks_exact_mut(cols)
            .for_each(|r| r.copy_from_slice(b.data())),
    }
    out
}

impl Tape {
    /// `a + b`; `b` has `a`'s shape or is one row added to every row of `a`.
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.apply(Binary { kind: Kind::Add }, &[a, b])
    }

    /// `a - b`; `b` has `a`'s shape or is one row subtracted from every row of `a`.
    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        self.apply(Binary { kind: Kind::Sub }, &[a, b])
    }

    /// `a * b` element-wise; `b` has `a`'s shape or is one row scaling every row of `a`.
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.apply(Binary { kind: Kind::Mul }, &[a, b])
    }

    /// `a / b` element-wise; `b` has `a`'s shape or is one row dividing every row of `a`.
    pub fn div(&mut self, a: Var, b: Var) -> Var {
        self.apply(Binary { kind: Kind::Div }, &[a, b])
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Tape, Tensor, Var};

    type BinaryFn = fn(&mut Tape, Var, Var) -> Var;
    const OPS: [(&str, BinaryFn); 4] = [
        ("add", Tape::add),
        ("sub", Tape::sub),
        ("mul", Tape::mul),
        ("div", Tape::div),
    ];

    fn t(shape: &[usize], data: &[f32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), data.to_vec())
    }

    #[test]
    fn forward_by_hand_same_shape_and_row_broadcast() {
        let a = t(&[2, 2], &[1., 2., 3., 4.]);
        let b = t(&[2, 2], &[2., 4., 6., 8.]);
        let row = t(&[2], &[10., 20.]);
        let expected_same: [&[f32]; 4] = [
            &[3., 6., 9., 12.],
            &[-1., -2., -3., -4.],
            &[2., 8., 18., 32.],
            &[0.5, 0.5, 0.5, 0.5],
        ];
        let expected_row: [&[f32]; 4] = [
            &[11., 22., 13., 24.],
            &[-9., -18., -7., -16.],
            &[10., 40., 30., 80.],
            &[0.1, 0.1, 0.3, 0.2],
        ];
        for (i, (name, op)) in OPS.iter().enumerate() {
            let mut tape = Tape::new();
            let (va, vb, vr) = (
                tape.constant(a.clone()),
                tape.constant(b.clone()),
                tape.constant(row.clone()),
            );
            let same = op(&mut tape, va, vb);
            assert_eq!(
                tape.value(same).data(),
                expected_same[i],
                "{name} same shape"
            );
            let bcast = op(&mut tape, va, vr);
            assert_eq!(tape.value(bcast).data(), expected_row[i], "{name} row");
        }
    }

    #[test]
    fn gradcheck_same_shape_and_broadcast() {
        let a = t(&[3, 2], &[0.5, -1.0, 1.5, 2.0, -0.3, 0.8]);
        let b = t(&[3, 2], &[1.2, 0.7, -1.1, 0.9, 1.4, -0.6]);
        let row = t(&[2], &[0.9, -1.3]);
        let row2d = t(&[1, 2], &[1.1, 0.6]);
        for (name, op) in OPS {
            for rhs in [&b, &row, &row2d] {
                gradcheck(&[a.clone(), rhs.clone()], |tape, v| op(tape, v[0], v[1]))
                    .unwrap_or_else(|e| panic!("{name} with rhs {:?}: {e}", rhs.shape()));
            }
        }
    }

    #[test]
    fn div_gradient_does_not_overflow_at_large_divisors() {
        // PyTorch: d(a / b)/db = -g * ((a / b) / b) = -1e-40 (a subnormal) for a = 1,
        // b = 1e20; -g * a / (b * b) overflowed b * b to inf and gave -0.0.
        let mut tape = Tape::new();
        let a = tape.variable(t(&[1], &[1.0]));
        let b = tape.variable(t(&[1], &[1e20]));
        let y = tape.div(a, b);
        let grads = tape.backward(y);
        let db = grads.get(b).unwrap().data()[0];
        assert_eq!(db, -((1.0f32 / 1e20) / 1e20));
        assert!(db < 0.0);
    }

    #[test]
    fn zero_width_broadcast_gives_empty_gradients_as_pytorch() {
        // PyTorch: x[3, 0] op b[0] is an empty [3, 0] tensor, and both gradients are empty.
        for (name, op) in OPS {
            let mut tape = Tape::new();
            let (a, b) = (
                tape.variable(Tensor::zeros(vec![3, 0])),
                tape.variable(Tensor::zeros(vec![0])),
            );
            let y = op(&mut tape, a, b);
            assert_eq!(tape.shape(y), &[3, 0], "{name}");
            let grads = tape.backward_with(y, Tensor::zeros(vec![3, 0]));
            assert_eq!(grads.get(a).unwrap().shape(), &[3, 0], "{name}");
            assert_eq!(grads.get(b).unwrap().shape(), &[0], "{name}");
        }
    }

    #[test]
    #[should_panic(expected = "mul: shapes [4, 3] and [2] do not broadcast")]
    fn mismatched_shapes_panic_with_both() {
        let mut tape = Tape::new();
        let a = tape.constant(Tensor::zeros(vec![4, 3]));
        let b = tape.constant(Tensor::zeros(vec![2]));
        tape.mul(a, b);
    }

    #[test]
    #[should_panic(expected = "add: shapes [4, 3] and [4, 1] do not broadcast")]
    fn column_broadcast_is_not_supported() {
        let mut tape = Tape::new();
        let a = tape.constant(Tensor::zeros(vec![4, 3]));
        let b = tape.constant(Tensor::zeros(vec![4, 1]));
        tape.add(a, b);
    }
}
