//! Element-wise functions: `relu`, `sigmoid`, `tanh`, `exp`, `log`, `sqrt`. Each derivative
//! is taken from the output where it can be (`relu`, `sigmoid`, `tanh`, `exp`, `sqrt`), so
//! the backward reads one tensor instead of recomputing the function.

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::{map_into, relu, relu_backward, sigmoid_into, zip_into};

#[derive(Clone, Copy)]
enum Kind {
    Relu,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Sqrt,
}

struct Unary {
    kind: Kind,
}

impl Op for Unary {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Relu => "relu",
            Kind::Sigmoid => "sigmoid",
            Kind::Tanh => "tanh",
            Kind::Exp => "exp",
            Kind::Log => "log",
            Kind::Sqrt => "sqrt",
        }
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        let mut y = ctx.buffer(x.shape());
        let out = y.data_mut();
        match self.kind {
            Kind::Relu => map_into(out, x.data(), relu),
            Kind::Sigmoid => sigmoid_into(out, x.data()),
            Kind::Tanh => map_into(out, x.data(), f32::tanh),
            Kind::Exp => map_into(out, x.data(), f32::exp),
            Kind::Log => map_into(out, x.data(), f32::ln),
            Kind::Sqrt => map_into(out, x.data(), f32::sqrt),
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, y, g) = (ctx.input(0), ctx.output(), ctx.grad_output());
        let mut dx = ctx.buffer(x.shape());
        let out = dx.data_mut();
        match self.kind {
            Kind::Relu => zip_into(out, y.data(), g.data(), relu_backward),
            Kind::Sigmoid => zip_into(out, g.data(), y.data(), |g, y| g * y * (1.0 - y)),
            Kind::Tanh => zip_into(out, g.data(), y.data(), |g, y| g * (1.0 - y * y)),
            Kind::Exp => zip_into(out, g.data(), y.data(), |g, y| g * y),
            Kind::Log => zip_into(out, g.data(), x.data(), |g, x| g / x),
            Kind::Sqrt => zip_into(out, g.data(), y.data(), |g, y| 0.5 * g / y),
        }
        ctx.set_grad(0, dx);
    }
}

impl Tape {
    /// `max(x, 0)`; its derivative at 0 is 0, and a NaN stays NaN with the gradient passed
    /// through, as in PyTorch (see [`tapegrad_kernels::relu`]).
    pub fn relu(&mut self, x: Var) -> Var {
        self.apply(Unary { kind: Kind::Relu }, &[x])
    }

    /// `1 / (1 + exp(-x))`.
    pub fn sigmoid(&mut self, x: Var) -> Var {
        self.apply(
            Unary {
                kind: Kind::Sigmoid,
            },
            &[x],
        )
    }

    /// The hyperbolic tangent.
    pub fn tanh(&mut self, x: Var) -> Var {
        self.apply(Unary { kind: Kind::Tanh }, &[x])
    }

    /// `e^x`.
    pub fn exp(&mut self, x: Var) -> Var {
        self.apply(Unary { kind: Kind::Exp }, &[x])
    }

    /// The natural logarithm.
    pub fn log(&mut self, x: Var) -> Var {
        self.apply(Unary { kind: Kind::Log }, &[x])
    }

    /// The square root.
    pub fn sqrt(&mut self, x: Var) -> Var {
        self.apply(Unary { kind: Kind::Sqrt }, &[x])
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Backward, Tape, Tensor, Var};

    type UnaryFn = fn(&mut Tape, Var) -> Var;
    type Reference = fn(f64) -> f64;

    #[test]
    fn forward_by_hand() {
        let x = Tensor::from_vec(vec![4], vec![-1.0, 0.0, 0.5, 2.0]);
        let cases: [(&str, UnaryFn, Reference); 4] = [
            ("relu", Tape::relu, |x| x.max(0.0)),
            ("sigmoid", Tape::sigmoid, |x| 1.0 / (1.0 + (-x).exp())),
            ("tanh", Tape::tanh, f64::tanh),
            ("exp", Tape::exp, f64::exp),
        ];
        for (name, op, reference) in cases {
            let mut tape = Tape::new();
            let v = tape.constant(x.clone());
            let y = op(&mut tape, v);
            for (&got, &x) in tape.value(y).data().iter().zip(x.data()) {
                let want = reference(x as f64);
                assert!(
                    (got as f64 - want).abs() < 1e-6,
                    "{name}({x}) = {got}, expected {want}"
                );
            }
        }
        let positive = Tensor::from_vec(vec![3], vec![1.0, 4.0, 0.25]);
        let mut tape = Tape::new();
        let v = tape.constant(positive);
        let (l, s) = (tape.log(v), tape.sqrt(v));
        assert_eq!(tape.value(s).data(), &[1.0, 2.0, 0.5]);
        let logs = tape.value(l).data();
        assert!(logs[0] == 0.0 && (logs[1] - 4f32.ln()).abs() < 1e-7);
    }

    #[test]
    fn sigmoid_does_not_overflow_at_the_extremes() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::from_vec(vec![2], vec![-200.0, 200.0]));
        let y = tape.sigmoid(v);
        assert_eq!(tape.value(y).data(), &[0.0, 1.0]);
    }

    #[test]
    fn relu_derivative_at_zero_is_zero() {
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::from_vec(vec![3], vec![-1.0, 0.0, 1.0]));
        let y = tape.relu(x);
        let loss = tape.sum(y);
        let grads = tape.backward(loss);
        assert_eq!(grads.get(x).unwrap().data(), &[0.0, 0.0, 1.0]);
    }

    #[test]
    fn relu_keeps_nan_and_passes_its_gradient_as_pytorch() {
        // torch.relu(nan) is nan, torch.relu(-0.0) is -0.0 (only values below 0 are
        // replaced), torch.relu(-2.0) is +0.0, and threshold_backward passes the gradient
        // where the output is not <= 0.
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::from_vec(vec![3], vec![f32::NAN, -0.0, -2.0]));
        let y = tape.relu(x);
        let out = tape.value(y).data().to_vec();
        assert!(out[0].is_nan(), "{out:?}");
        assert_eq!(
            out[1..].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            [(-0.0f32).to_bits(), 0]
        );
        let grads = tape.backward_with(
            y,
            Backward::seeded(Tensor::from_vec(vec![3], vec![2.0, 3.0, 4.0])),
        );
        assert_eq!(grads.get(x).unwrap().data(), &[2.0, 0.0, 0.0]);
    }

    #[test]
    fn gradcheck_every_unary_op() {
        // Away from relu's kink, and positive where log/sqrt need it.
        let x = Tensor::from_vec(vec![2, 3], vec![-1.3, -0.4, 0.3, 0.8, 1.7, -2.1]);
        let positive = Tensor::from_vec(vec![2, 3], vec![0.3, 0.9, 1.4, 2.2, 3.1, 0.6]);
        let ops: [(&str, UnaryFn, &Tensor); 6] = [
            ("relu", Tape::relu, &x),
            ("sigmoid", Tape::sigmoid, &x),
            ("tanh", Tape::tanh, &x),
            ("exp", Tape::exp, &x),
            ("log", Tape::log, &positive),
            ("sqrt", Tape::sqrt, &positive),
        ];
        for (name, op, input) in ops {
            gradcheck(std::slice::from_ref(input), |t, v| op(t, v[0]))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
