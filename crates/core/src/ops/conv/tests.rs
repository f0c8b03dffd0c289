//! `conv2d` against a direct convolution in f64 written from the definition, `fast.rs`
//! against `plain.rs` bit for bit, the bits on any thread count and backend, gradcheck in
//! every configuration, and the misuse panics.

use super::fast::Fast;
use super::geometry::Geometry;
use super::lowered::{Lowering, Schedule};
use super::plain::Plain;
use super::{Conv2d, Conv2dConfig};
use crate::{gradcheck, Backward, Tape, Tensor, Var};
use tapegrad_kernels::assert_same_on_any_threads;

/// Deterministic values of unit scale.
fn wave(shape: &[usize], phase: f32) -> Tensor {
    let n = shape.iter().product();
    let data = (0..n).map(|i| (i as f32 * 0.73 + phase).sin()).collect();
    Tensor::from_vec(shape.to_vec(), data)
}

/// One convolution to test: input and weight shapes, settings, with or without a bias.
struct Case {
    name: &'static str,
    x: [usize; 4],
    weight: [usize; 4],
    config: Conv2dConfig,
    bias: bool,
}

fn cases() -> Vec<Case> {
    let c = Conv2dConfig::default();
    let case = |name, x, weight, config, bias| Case {
        name,
        x,
        weight,
        config,
        bias,
    };
    vec![
        case("3x3", [2, 3, 7, 6], [4, 3, 3, 3], c, true),
        case(
            "stride 2, padding 1",
            [3, 2, 9, 8],
            [4, 2, 3, 3],
            c.stride(2).padding(1),
            true,
        ),
        case(
            "non-square",
            [2, 2, 6, 7],
            [3, 2, 2, 4],
            c.stride((2, 1)).padding((1, 2)),
            true,
        ),
        case(
            "dilation 2",
            [2, 2, 8, 8],
            [3, 2, 3, 3],
            c.dilation(2).padding(2),
            true,
        ),
        case("1x1", [3, 4, 5, 5], [6, 4, 1, 1], c, true),
        case(
            "1x1 stride 2",
            [2, 3, 5, 5],
            [2, 3, 1, 1],
            c.stride(2),
            true,
        ),
        case(
            "groups 2",
            [2, 4, 6, 6],
            [6, 2, 3, 3],
            c.groups(2).padding(1),
            true,
        ),
        case(
            "depthwise",
            [2, 3, 6, 5],
            [6, 1, 3, 3],
            c.groups(3).padding(1),
            true,
        ),
        case(
            "no bias",
            [2, 3, 5, 6],
            [2, 3, 3, 2],
            c.stride((1, 2)),
            false,
        ),
        case(
            "uneven chunks",
            [17, 2, 4, 4],
            [3, 2, 3, 3],
            c.padding(1),
            true,
        ),
        case(
            "padding past the kernel",
            [1, 1, 3, 3],
            [2, 1, 2, 2],
            c.padding(3),
            true,
        ),
    ]
}

/// `y`, `dx`, `dw`, `db` by the definition, in f64: `y[n, o, p, q] = b[o] + sum over the
/// group's channels c and taps (i, j) of w[o, c, i, j] x[n, c, p sh + i dh - ph, q sw + j dw - pw]`.
#[allow(clippy::needless_range_loop)] // the indices are the definition's
fn direct(case: &Case, x: &Tensor, w: &Tensor, b: Option<&Tensor>, dy: &Tensor) -> [Vec<f64>; 4] {
    let g = Geometry::new(x.shape(), w.shape(), b.map(Tensor::shape), &case.config);
    let (cig, cog) = (g.c_in / g.groups, g.c_out_group());
    let (mut y, mut dx) = (vec![0.0; dy.numel()], vec![0.0; x.numel()]);
    let (mut dw, mut db) = (vec![0.0; w.numel()], vec![0.0; g.c_out]);
    for n in 0..g.n {
        for o in 0..g.c_out {
            for p in 0..g.oh {
                for q in 0..g.ow {
                    let yi = ((n * g.c_out + o) * g.oh + p) * g.ow + q;
                    let dyv = dy.data()[yi] as f64;
                    y[yi] = b.map_or(0.0, |b| b.data()[o] as f64);
                    db[o] += dyv;
                    for c in 0..cig {
                        let ci = o / cog * cig + c;
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                let (r, s) = (p * g.sh + i * g.dh, q * g.sw + j * g.dw);
                                if r < g.ph || s < g.pw || r - g.ph >= g.h || s - g.pw >= g.w {
                                    continue;
                                }
                                let xi = ((n * g.c_in + ci) * g.h + r - g.ph) * g.w + s - g.pw;
                                let wi = ((o * cig + c) * g.kh + i) * g.kw + j;
                                y[yi] += w.data()[wi] as f64 * x.data()[xi] as f64;
                                dx[xi] += w.data()[wi] as f64 * dyv;
                                dw[wi] += x.data()[xi] as f64 * dyv;
                            }
                        }
                    }
                }
            }
        }
    }
    [y, dx, dw, db]
}

/// The output and the gradients of `x`, the weight and the bias through the op with
/// `lowering` and `schedule`, the output's gradient being `dy`.
fn run<L: Lowering + Send + 'static>(
    case: &Case,
    lowering: L,
    schedule: Schedule,
    input_needs_grad: bool,
) -> Vec<Option<Tensor>> {
    let (x, w, b) = inputs(case);
    let mut tape = Tape::new();
    let xv = match input_needs_grad {
        true => tape.variable(x),
        false => tape.constant(x),
    };
    let (wv, bv) = (tape.variable(w), tape.variable(b));
    let op = Conv2d {
        config: case.config,
        lowering,
        schedule,
    };
    let vars: Vec<Var> = [xv, wv, bv]
        .into_iter()
        .take(2 + case.bias as usize)
        .collect();
    let y = tape.apply(op, &vars);
    let out = tape.value(y).clone();
    let dy = wave(out.shape(), 0.4);
    let grads = tape.backward_with(y, Backward::seeded(dy));
    let mut all = vec![Some(out)];
    all.extend(vars.iter().map(|&v| grads.get(v).cloned()));
    all
}

/// The case's input, weight and bias.
fn inputs(case: &Case) -> (Tensor, Tensor, Tensor) {
    (
        wave(&case.x, 0.1),
        wave(&case.weight, 1.3),
        wave(&[case.weight[0]], 2.0),
    )
}

#[test]
fn every_case_matches_the_definition() {
    for case in cases() {
        let (x, w, b) = inputs(&case);
        let got = run(&case, Fast, Schedule::Parallel, true);
        let dy = wave(got[0].as_ref().unwrap().shape(), 0.4);
        let bias = case.bias.then_some(&b);
        let expected = direct(&case, &x, &w, bias, &dy);
        for (k, what) in ["y", "dx", "dw", "db"]
            .iter()
            .enumerate()
            .take(3 + case.bias as usize)
        {
            let got = got[k].as_ref().unwrap().data();
            assert_eq!(got.len(), expected[k].len(), "{}: {what}", case.name);
            for (i, (&a, &e)) in got.iter().zip(&expected[k]).enumerate() {
                assert!(
                    (a as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()),
                    "{}: {what}[{i}] is {a}, expected {e}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn fast_gives_the_bits_of_plain() {
    for case in cases() {
        for input_needs_grad in [true, false] {
            let fast = run(&case, Fast, Schedule::Parallel, input_needs_grad);
            let plain = run(&case, Plain, Schedule::Serial, input_needs_grad);
            assert_eq!(
                fast, plain,
                "{}, input needs grad: {input_needs_grad}",
                case.name
            );
            assert_eq!(fast[1].is_some(), input_needs_grad, "{}", case.name);
        }
    }
}

#[test]
fn the_bits_do_not_depend_on_the_threads_or_the_backend() {
    let case = Case {
        name: "19 images",
        x: [19, 5, 12, 11],
        weight: [16, 5, 3, 3],
        config: Conv2dConfig::default().padding(1),
        bias: true,
    };
    assert_same_on_any_threads(|| run(&case, Fast, Schedule::Parallel, true));
}

#[test]
fn gradcheck_every_case() {
    for case in cases().into_iter().filter(|c| c.x[0] < 10) {
        let (x, w, b) = inputs(&case);
        let config = case.config;
        let report = if case.bias {
            gradcheck(&[x, w, b], |t, v| t.conv2d(v[0], v[1], Some(v[2]), config))
        } else {
            gradcheck(&[x, w], |t, v| t.conv2d(v[0], v[1], None, config))
        };
        report.unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
}

#[test]
fn an_empty_batch_gives_an_empty_output_and_zero_weight_gradients() {
    let mut tape = Tape::new();
    let x = tape.variable(Tensor::zeros(vec![0, 2, 5, 5]));
    let (w, b) = (
        tape.variable(wave(&[3, 2, 3, 3], 0.0)),
        tape.variable(wave(&[3], 0.0)),
    );
    let y = tape.conv2d(x, w, Some(b), Conv2dConfig::default());
    assert_eq!(tape.shape(y), &[0, 3, 3, 3]);
    let grads = tape.backward_with(y, Tensor::zeros(vec![0, 3, 3, 3]));
    assert_eq!(grads.get(w).unwrap(), &Tensor::zeros(vec![3, 2, 3, 3]));
    assert_eq!(grads.get(b).unwrap().data(), &[0.0; 3]);
    assert_eq!(grads.get(x).unwrap().shape(), &[0, 2, 5, 5]);
}

/// Applies `conv2d` to zeros of these shapes.
fn conv_of(x: &[usize], w: &[usize], bias: Option<&[usize]>, config: Conv2dConfig) {
    let mut tape = Tape::new();
    let (xv, wv) = (
        tape.constant(Tensor::zeros(x)),
        tape.constant(Tensor::zeros(w)),
    );
    let bv = bias.map(|b| tape.constant(Tensor::zeros(b)));
    tape.conv2d(xv, wv, bv, config);
}

#[test]
#[should_panic(
    expected = "conv2d: input [2, 3, 5], weight [4, 3, 3, 3]: expected input [N, C_in, H, W]"
)]
fn a_3d_input_panics() {
    conv_of(&[2, 3, 5], &[4, 3, 3, 3], None, Conv2dConfig::default());
}

#[test]
#[should_panic(expected = "2 groups need C_in = 2 x weight's second dimension")]
fn channels_that_do_not_fit_the_groups_panic() {
    conv_of(
        &[1, 4, 5, 5],
        &[3, 2, 3, 3],
        None,
        Conv2dConfig::default().groups(2),
    );
}

#[test]
#[should_panic(expected = "the kernel (3x3, dilation 2x2) is larger than the padded input (4x5)")]
fn a_kernel_larger_than_the_input_panics() {
    conv_of(
        &[1, 1, 4, 5],
        &[1, 1, 3, 3],
        None,
        Conv2dConfig::default().dilation(2),
    );
}

#[test]
#[should_panic(
    expected = "conv2d: input [1, 3, 5, 5], weight [4, 3, 3, 3], bias [3]: the bias must be [C_out]"
)]
fn a_wrong_bias_panics() {
    conv_of(
        &[1, 3, 5, 5],
        &[4, 3, 3, 3],
        Some(&[3]),
        Conv2dConfig::default(),
    );
}

#[test]
#[should_panic(
    expected = "conv2d: input [1, 1, 0, 5], weight [1, 1, 1, 1]: the kernel, the channels and the images must be non-empty"
)]
fn an_empty_image_panics() {
    conv_of(
        &[1, 1, 0, 5],
        &[1, 1, 1, 1],
        None,
        Conv2dConfig::default().padding(1),
    );
}
