//! `sum` and `mean`, over everything or along one axis (the axis is removed, as PyTorch's
//! default `keepdim=False`).

use crate::{BackwardCtx, ForwardCtx, Op, Tape, Tensor, Var};
use tapegrad_kernels::sum_all;

struct Reduce {
    /// `None`: every element; `Some(k)`: along axis `k`.
    axis: Option<usize>,
    mean: bool,
}

impl Reduce {
    fn name_of(mean: bool) -> &'static str {
        if mean {
            "mean"
        } else {
            "sum"
        }
    }

    /// `(outer, n, inner)`: the input viewed as `[outer, n, inner]` with `n` reduced.
    fn split(&self, shape: &[usize]) -> (usize, usize, usize) {
        match self.axis {
            None => (1, shape.iter().product(), 1),
            Some(axis) => {
                assert!(
                    axis < shape.len(),
                    "{}: axis {axis} is out of range for shape {shape:?}",
                    Self::name_of(self.mean)
                );
                (
                    shape[..axis].iter().product(),
                    shape[axis],
                    shape[axis + 1..].iter().product(),
                )
            }
        }
    }

    fn out_shape(&self, shape: &[usize]) -> Vec<usize> {
        match self.axis {
            None => Vec::new(),
            Some(axis) => {
                let mut s = shape.to_vec();
                s.remove(axis);
                s
            }
        }
    }

    fn scale(&self, n: usize) -> f32 {
        if self.mean {
            1.0 / n as f32
        } else {
            1.0
        }
    }
}

impl Op for Reduce {
    fn name(&self) -> &'static str {
        Self::name_of(self.mean)
    }

    fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
        let x = ctx.input(0);
        let (outer, n, inner) = self.split(x.shape());
        let mut y = ctx.buffer(&self.out_shape(x.shape()));
        if self.axis.is_none() {
            let total = sum_all(x.data());
            y.data_mut()[0] = if self.mean { total / n as f64 } else { total } as f32;
            return y;
        }
        // Accumulated in f64 along the axis, in index order (so the same bits on any thread
        // count), as the full `sum` is: in f32 a running sum stops at 2^24 = 16,777,216 when
        // adding ones, and 1e7 values of 0.1 came out 8.8% high. PyTorch's float32 sum is
        // pairwise, accurate to a few ulp; the f64 sum rounded once is at least as close.
        let data = x.data();
        let mut acc = vec![0f64; inner];
        for o in 0..outer {
            acc.fill(0.0);
            for j in 0..n {
                let row = &data[(o * n + j) * inner..(o * n + j + 1) * inner];
                acc.iter_mut().zip(row).for_each(|(a, &x)| *a += x as f64);
            }
            let out = &mut y.data_mut()[o * inner..(o + 1) * inner];
            // The mean divides the f64 sum by n (PyTorch: sum / n), rounding once.
            let div = if self.mean { n as f64 } else { 1.0 };
            out.iter_mut()
                .zip(&acc)
                .for_each(|(y, &a)| *y = (a / div) as f32);
        }
        y
    }

    fn backward(&self, ctx: &mut BackwardCtx<'_>) {
        let (x, g) = (ctx.input(0), ctx.grad_output());
        let (outer, n, inner) = self.split(x.shape());
        let scale = self.scale(n);
        let mut dx = ctx.buffer(x.shape());
        // Every input element receives the gradient of the output it was summed into.
        for o in 0..outer {
            let grad = &g.data()[o * inner..(o + 1) * inner];
            for j in 0..n {
                let row = &mut dx.data_mut()[(o * n + j) * inner..(o * n + j + 1) * inner];
                row.iter_mut().zip(grad).for_each(|(d, &g)| *d = g * scale);
            }
        }
        ctx.set_grad(0, dx);
    }
}

impl Tape {
    /// The sum of every element (a scalar), accumulated in f64.
    pub fn sum(&mut self, x: Var) -> Var {
        self.apply(
            Reduce {
                axis: None,
                mean: false,
            },
            &[x],
        )
    }

    /// The mean of every element (a scalar), accumulated in f64.
    pub fn mean(&mut self, x: Var) -> Var {
        self.apply(
            Reduce {
                axis: None,
                mean: true,
            },
            &[x],
        )
    }

    /// The sum along `axis`, which is removed from the shape (`[n, c]` summed along 0 is `[c]`),
    /// accumulated in f64.
    pub fn sum_axis(&mut self, x: Var, axis: usize) -> Var {
        let op = Reduce {
            axis: Some(axis),
            mean: false,
        };
        self.apply(op, &[x])
    }

    /// The mean along `axis`, which is removed from the shape, accumulated in f64.
    pub fn mean_axis(&mut self, x: Var, axis: usize) -> Var {
        let op = Reduce {
            axis: Some(axis),
            mean: true,
        };
        self.apply(op, &[x])
    }
}

#[cfg(test)]
mod tests {
    use crate::{gradcheck, Tape, Tensor};

    fn x() -> Tensor {
        Tensor::from_vec(vec![2, 3], vec![1., 2., 3., 4., 5., 6.])
    }

    #[test]
    fn forward_by_hand() {
        let mut tape = Tape::new();
        let v = tape.constant(x());
        let cases = [
            (tape.sum(v), vec![], vec![21.]),
            (tape.mean(v), vec![], vec![3.5]),
            (tape.sum_axis(v, 0), vec![3], vec![5., 7., 9.]),
            (tape.sum_axis(v, 1), vec![2], vec![6., 15.]),
            (tape.mean_axis(v, 0), vec![3], vec![2.5, 3.5, 4.5]),
            (tape.mean_axis(v, 1), vec![2], vec![2., 5.]),
        ];
        for (var, shape, data) in cases {
            assert_eq!(tape.shape(var), shape.as_slice());
            assert_eq!(tape.value(var).data(), data.as_slice());
        }
    }

    #[test]
    fn middle_axis_of_a_3d_tensor() {
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::from_vec(
            vec![2, 2, 2],
            (1..=8).map(|i| i as f32).collect(),
        ));
        let s = tape.sum_axis(v, 1);
        assert_eq!(tape.shape(s), &[2, 2]);
        assert_eq!(tape.value(s).data(), &[4., 6., 12., 14.]);
        let t = Tensor::from_vec(
            vec![2, 3, 2],
            (0..12).map(|i| (i as f32 * 0.3).cos()).collect(),
        );
        gradcheck(&[t], |tape, v| tape.mean_axis(v[0], 1)).unwrap();
    }

    #[test]
    fn gradcheck_every_reduction() {
        gradcheck(&[x()], |t, v| t.sum(v[0])).unwrap();
        gradcheck(&[x()], |t, v| t.mean(v[0])).unwrap();
        for axis in 0..2 {
            gradcheck(&[x()], |t, v| t.sum_axis(v[0], axis)).unwrap();
            gradcheck(&[x()], |t, v| t.mean_axis(v[0], axis)).unwrap();
        }
    }

    #[test]
    fn long_axis_sums_and_means_are_exact_as_pytorch() {
        // PyTorch (float32): torch.ones(2**24 + 4096, 1).sum(0) is 16781312 and the mean 1;
        // accumulating in f32 stopped at 16777216 (a mean of 0.99975586).
        let n = (1 << 24) + 4096;
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::full(vec![n, 1], 1.0));
        let (s, m) = (tape.sum_axis(v, 0), tape.mean_axis(v, 0));
        assert_eq!(tape.value(s).data(), &[n as f32]);
        assert_eq!(tape.value(m).data(), &[1.0]);
        // 1e7 values of 0.1 (f32) along the last axis: the f32 running sum gave 1087937
        // (8.8% high); PyTorch's pairwise float32 sum gives 999999.5625 and its mean
        // 0.09999996. The exact sum of these f32 values, 1000000.0149, rounds to 1e6, which
        // the f64 sum gives (more exact than PyTorch's float32, documented in AUTOGRAD.md).
        let mut tape = Tape::new();
        let v = tape.constant(Tensor::full(vec![1, 10_000_000], 0.1));
        let (s, m) = (tape.sum_axis(v, 1), tape.mean_axis(v, 1));
        assert_eq!(tape.value(s).data(), &[(0.1f32 as f64 * 1e7) as f32]);
        assert_eq!(tape.value(m).data(), &[0.1]);
    }

    #[test]
    #[should_panic(expected = "sum: axis 2 is out of range for shape [2, 3]")]
    fn axis_out_of_range_panics() {
        let mut tape = Tape::new();
        let v = tape.constant(x());
        tape.sum_axis(v, 2);
    }
}
