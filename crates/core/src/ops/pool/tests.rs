//! The three poolings against their definitions in f64 (windows computed here from PyTorch's
//! formulas, not from `windows.rs`), ties, padding and NaN as PyTorch, gradcheck, the bits on
//! any thread count and backend, and the misuse panics.

use super::Pool2dConfig;
use crate::ops::size2::Size2;
use crate::{gradcheck, Backward, Tape, Tensor, Var};
use tapegrad_kernels::assert_same_on_any_threads;

/// Which pooling a case runs.
#[derive(Clone, Copy, Debug)]
enum Pooling {
    Max(Pool2dConfig),
    Avg(Pool2dConfig),
    Adaptive(Size2),
}

impl Pooling {
    fn apply(self, tape: &mut Tape, x: Var) -> Var {
        match self {
            Pooling::Max(c) => tape.max_pool2d(x, c),
            Pooling::Avg(c) => tape.avg_pool2d(x, c),
            Pooling::Adaptive(size) => tape.adaptive_avg_pool2d(x, size),
        }
    }

    /// Output `o`'s window along an axis of `input`, clipped to it, by PyTorch's formulas:
    /// `[o s - p, o s - p + k)` sliding, `[floor(o n / m), ceil((o + 1) n / m))` adaptive.
    fn window(self, o: usize, input: usize, axis: usize) -> Vec<usize> {
        let pick = |s: Size2| [s.h, s.w][axis];
        let (start, end) = match self {
            Pooling::Max(c) | Pooling::Avg(c) => {
                let start = (o * pick(c.stride)) as isize - pick(c.padding) as isize;
                (start, start + pick(c.kernel) as isize)
            }
            Pooling::Adaptive(size) => {
                let m = pick(size);
                (
                    (o * input / m) as isize,
                    ((o + 1) * input).div_ceil(m) as isize,
                )
            }
        };
        (start.max(0) as usize..(end as usize).min(input)).collect()
    }

    /// Outputs along an axis of `input` (PyTorch's `ceil_mode=False`).
    fn outputs(self, input: usize, axis: usize) -> usize {
        let pick = |s: Size2| [s.h, s.w][axis];
        match self {
            Pooling::Max(c) | Pooling::Avg(c) => {
                (input + 2 * pick(c.padding) - pick(c.kernel)) / pick(c.stride) + 1
            }
            Pooling::Adaptive(size) => pick(size),
        }
    }
}

/// `y` and `dx` of `pooling` by the definition in f64, for `x: [planes.., h, w]` and the
/// output's gradient `dy`: the maximum (the first of ties) or the average (divided by the
/// whole kernel for `avg_pool2d`, by the window for the adaptive one) of each window.
fn reference(pooling: Pooling, x: &Tensor, dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let (h, w) = (
        x.shape()[x.shape().len() - 2],
        x.shape()[x.shape().len() - 1],
    );
    let (oh, ow) = (pooling.outputs(h, 0), pooling.outputs(w, 1));
    let planes = x.numel() / (h * w);
    let (mut y, mut dx) = (Vec::new(), vec![0.0; x.numel()]);
    for p in 0..planes {
        for (i, j) in (0..oh).flat_map(|i| (0..ow).map(move |j| (i, j))) {
            let g = dy[y.len()] as f64;
            let taps: Vec<usize> = (pooling.window(i, h, 0).into_iter())
                .flat_map(|r| {
                    pooling
                        .window(j, w, 1)
                        .into_iter()
                        .map(move |c| p * h * w + r * w + c)
                })
                .collect();
            let v = |t: &usize| x.data()[*t] as f64;
            match pooling {
                Pooling::Max(_) => {
                    let best =
                        taps.iter()
                            .copied()
                            .fold(taps[0], |b, t| if v(&t) > v(&b) { t } else { b });
                    y.push(v(&best));
                    dx[best] += g;
                }
                _ => {
                    let divisor = match pooling {
                        Pooling::Avg(c) => (c.kernel.h * c.kernel.w) as f64,
                        _ => taps.len() as f64,
                    };
                    y.push(taps.iter().map(v).sum::<f64>() / divisor);
                    taps.iter().for_each(|&t| dx[t] += g / divisor);
                }
            }
        }
    }
    (y, dx)
}

/// Distinct values in a shuffled order, at least 0.1 apart (no ties, and a finite
/// difference of step 1e-2 never reorders them).
fn distinct(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| ((i * 7919) % n) as f32 * 0.1 - n as f32 * 0.05)
        .collect();
    Tensor::from_vec(shape.to_vec(), data)
}

fn poolings() -> Vec<(&'static str, Pooling)> {
    let max = |c| Pooling::Max(c);
    let avg = |c| Pooling::Avg(c);
    vec![
        ("max 2", max(Pool2dConfig::new(2))),
        (
            "max 3, stride 2, padding 1",
            max(Pool2dConfig::new(3).stride(2).padding(1)),
        ),
        (
            "max 2x3, stride 1 (overlapping)",
            max(Pool2dConfig::new((2, 3)).stride(1)),
        ),
        (
            "max 2x4, padding (1, 2)",
            max(Pool2dConfig::new((2, 4)).padding((1, 2))),
        ),
        ("avg 2", avg(Pool2dConfig::new(2))),
        (
            "avg 3, stride 2, padding 1",
            avg(Pool2dConfig::new(3).stride(2).padding(1)),
        ),
        (
            "avg 3x2, stride (1, 2), padding (1, 0)",
            avg(Pool2dConfig::new((3, 2)).stride((1, 2)).padding((1, 0))),
        ),
        ("adaptive 1x1", Pooling::Adaptive(1.into())),
        ("adaptive 3x2", Pooling::Adaptive((3, 2).into())),
        (
            "adaptive 4x6 (windows overlap)",
            Pooling::Adaptive((4, 6).into()),
        ),
    ]
}

/// The output and the input's gradient of `pooling` on `x`, seeded with `dy`.
fn run(pooling: Pooling, x: &Tensor, seed: impl Fn(&[usize]) -> Tensor) -> (Tensor, Tensor) {
    let mut tape = Tape::new();
    let v = tape.variable(x.clone());
    let y = pooling.apply(&mut tape, v);
    let out = tape.value(y).clone();
    let grads = tape.backward_with(y, Backward::seeded(seed(out.shape())));
    (out, grads.get(v).unwrap().clone())
}

fn seed(shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(
        shape.to_vec(),
        (0..n).map(|i| (i as f32 * 0.37).cos()).collect(),
    )
}

#[test]
fn every_pooling_matches_its_definition() {
    for (name, pooling) in poolings() {
        for shape in [[2, 3, 5, 7], [1, 2, 6, 6]] {
            let x = distinct(&shape);
            let (y, dx) = run(pooling, &x, seed);
            let (ry, rdx) = reference(pooling, &x, seed(y.shape()).data());
            for (what, got, want) in [("y", y.data(), &ry), ("dx", dx.data(), &rdx)] {
                assert_eq!(got.len(), want.len(), "{name} {shape:?}: {what}");
                for (i, (&a, &e)) in got.iter().zip(want).enumerate() {
                    let ok = (a as f64 - e).abs() <= 1e-5 * (1.0 + e.abs());
                    assert!(ok, "{name} {shape:?}: {what}[{i}] is {a}, expected {e}");
                }
            }
        }
    }
}

#[test]
fn ties_send_the_gradient_to_the_first_maximum_even_across_overlapping_windows() {
    // Every element equal: each window's gradient goes to its first (top-left) element.
    let x = Tensor::full(vec![1, 1, 3, 3], 2.0);
    let (y, dx) = run(Pooling::Max(Pool2dConfig::new(2).stride(1)), &x, |s| {
        Tensor::full(s, 1.0)
    });
    assert_eq!(y.data(), &[2.0; 4]);
    assert_eq!(dx.data(), &[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn padding_is_minus_infinity_for_the_maximum_and_zeros_for_the_average() {
    // All negative: a padded maximum is still an input, and the average divides by the
    // whole kernel (count_include_pad).
    let x = Tensor::full(vec![1, 1, 2, 2], -4.0);
    let config = Pool2dConfig::new(2).stride(1).padding(1);
    let (max, _) = run(Pooling::Max(config), &x, seed);
    assert_eq!(max.data(), &[-4.0; 9]);
    let (avg, _) = run(Pooling::Avg(config), &x, seed);
    assert_eq!(
        avg.data(),
        &[-1.0, -2.0, -1.0, -2.0, -4.0, -2.0, -1.0, -2.0, -1.0]
    );
}

#[test]
fn a_nan_wins_its_window_as_in_pytorch() {
    // PyTorch replaces the maximum with any NaN it meets, so the last NaN of a window wins.
    let x = Tensor::from_vec(vec![1, 1, 2, 2], vec![f32::NAN, 3.0, f32::NAN, 1.0]);
    let (y, dx) = run(Pooling::Max(Pool2dConfig::new(2)), &x, |s| {
        Tensor::full(s, 1.0)
    });
    assert!(y.data()[0].is_nan());
    assert_eq!(dx.data(), &[0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn gradcheck_every_pooling() {
    for (name, pooling) in poolings() {
        gradcheck(&[distinct(&[2, 2, 5, 6])], |t, v| pooling.apply(t, v[0]))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_bits_do_not_depend_on_the_threads_or_the_backend() {
    // 640 planes of 8x8: several chunks of 512 planes.
    let x = Tensor::from_vec(
        vec![8, 80, 8, 8],
        (0..40960).map(|i| (i as f32 * 0.61).sin()).collect(),
    );
    let all = || {
        poolings()
            .into_iter()
            .map(|(_, p)| run(p, &x, seed))
            .collect::<Vec<_>>()
    };
    assert_same_on_any_threads(all);
}

#[test]
fn a_3d_input_is_one_image() {
    let x = distinct(&[3, 4, 4]);
    let (y, _) = run(Pooling::Max(Pool2dConfig::new(2)), &x, seed);
    assert_eq!(y.shape(), &[3, 2, 2]);
    let (batched, _) = run(
        Pooling::Max(Pool2dConfig::new(2)),
        &x.clone().reshaped(vec![1, 3, 4, 4]),
        seed,
    );
    assert_eq!(y.data(), batched.data());
}

/// Applies `pooling` to zeros of `shape`.
fn pool_of(pooling: Pooling, shape: &[usize]) {
    let mut tape = Tape::new();
    let x = tape.constant(Tensor::zeros(shape));
    pooling.apply(&mut tape, x);
}

#[test]
#[should_panic(
    expected = "max_pool2d: input [1, 1, 4, 4]: padding 2x2 must be at most half the kernel 3x3"
)]
fn a_padding_over_half_the_kernel_panics() {
    pool_of(Pooling::Max(Pool2dConfig::new(3).padding(2)), &[1, 1, 4, 4]);
}

#[test]
#[should_panic(
    expected = "avg_pool2d: input [1, 1, 2, 5]: the kernel 3x3 is larger than the padded input 2x5"
)]
fn a_kernel_larger_than_the_input_panics() {
    pool_of(Pooling::Avg(Pool2dConfig::new(3)), &[1, 1, 2, 5]);
}

#[test]
#[should_panic(expected = "adaptive_avg_pool2d: input [4, 4]: expected [N, C, H, W] or [C, H, W]")]
fn a_matrix_is_not_an_image() {
    pool_of(Pooling::Adaptive(1.into()), &[4, 4]);
}

#[test]
#[should_panic(
    expected = "adaptive_avg_pool2d: input [1, 1, 4, 4]: the output size 0x2 must be positive"
)]
fn an_empty_adaptive_output_panics() {
    pool_of(Pooling::Adaptive((0, 2).into()), &[1, 1, 4, 4]);
}
