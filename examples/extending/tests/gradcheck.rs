//! Each op's backward against central finite differences (`tapegrad::core::gradcheck`), and
//! the fused LayerNorm against the same computation composed of core ops.

use tapegrad::core::{gradcheck, Tape, Tensor, Var};
use tapegrad_extending_example::{layer_norm, leaky_relu};

/// Deterministic values of unit scale, none within 0.05 of 0 (LeakyReLU's kink: a
/// finite difference straddling it would measure neither slope).
fn values(shape: &[usize], phase: f32) -> Tensor {
    let n = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let v = (i as f32 * 0.7 + phase).sin() * 1.5;
            if v.abs() < 0.05 {
                0.3
            } else {
                v
            }
        })
        .collect();
    Tensor::from_vec(shape.to_vec(), data)
}

#[test]
fn leaky_relu_backward_matches_finite_differences() {
    for slope in [0.01, 0.2, -0.5] {
        let report = gradcheck(&[values(&[4, 5], 0.1)], |tape, v| {
            leaky_relu(tape, v[0], slope)
        })
        .unwrap_or_else(|e| panic!("negative_slope {slope}: {e}"));
        assert_eq!(report.elements, 20);
    }
}

#[test]
fn layer_norm_backward_matches_finite_differences_for_x_weight_and_bias() {
    for rows in [1, 3] {
        let inputs = [
            values(&[rows, 6], 0.0),
            values(&[6], 1.0),
            values(&[6], 2.0),
        ];
        let report = gradcheck(&inputs, |tape, v| layer_norm(tape, v[0], v[1], v[2], 1e-5))
            .unwrap_or_else(|e| panic!("{rows} rows: {e}"));
        assert_eq!(report.elements, rows * 6 + 12);
    }
}

#[test]
fn gradients_reach_parameters_upstream_of_the_fused_op() {
    // x -> linear(w) -> layer_norm -> leaky_relu: w's gradient passes through both backwards.
    let inputs = [
        values(&[3, 4], 0.5),
        values(&[5, 4], 1.5),
        values(&[5], 2.5),
        values(&[5], 3.5),
    ];
    gradcheck(&inputs, |tape, v| {
        let h = tape.linear(v[0], v[1], None);
        let h = layer_norm(tape, h, v[2], v[3], 1e-5);
        leaky_relu(tape, h, 0.1)
    })
    .unwrap();
}

/// LayerNorm from eleven core ops. Means over a row are products with a `[d, 1]` column of
/// `1/d`, and per-row values are spread back over the row by a product with a `[1, d]` row
/// of ones (core ops broadcast a row over rows, not a column over columns).
fn layer_norm_composed(tape: &mut Tape, x: Var, weight: Var, bias: Var, eps: f32) -> Var {
    let d = tape.shape(x)[1];
    let mean_col = tape.constant(Tensor::full(vec![d, 1], 1.0 / d as f32));
    let spread = tape.constant(Tensor::full(vec![1, d], 1.0));
    let mean = tape.matmul(x, mean_col);
    let mean = tape.matmul(mean, spread);
    let centered = tape.sub(x, mean);
    let squares = tape.mul(centered, centered);
    let var = tape.matmul(squares, mean_col);
    let var = tape.add_scalar(var, eps);
    let std = tape.sqrt(var);
    let std = tape.matmul(std, spread);
    let x_hat = tape.div(centered, std);
    let scaled = tape.mul(x_hat, weight);
    tape.add(scaled, bias)
}

#[test]
fn fused_layer_norm_matches_the_composed_one_and_records_one_op() {
    let (x, w, b) = (values(&[5, 7], 0.3), values(&[7], 1.3), values(&[7], 2.3));
    let dy = values(&[5, 7], 4.0);
    let run = |composed: bool| {
        let mut tape = Tape::new();
        let v: Vec<Var> = [&x, &w, &b]
            .iter()
            .map(|t| tape.variable((*t).clone()))
            .collect();
        let before = tape.num_recorded_ops();
        let y = if composed {
            layer_norm_composed(&mut tape, v[0], v[1], v[2], 1e-5)
        } else {
            layer_norm(&mut tape, v[0], v[1], v[2], 1e-5)
        };
        let ops = tape.num_recorded_ops() - before;
        let out = tape.value(y).data().to_vec();
        let grads = tape.backward_with(y, dy.clone());
        let grads: Vec<Vec<f32>> = v
            .iter()
            .map(|&v| grads.get(v).unwrap().data().to_vec())
            .collect();
        (ops, out, grads)
    };
    let (fused_ops, fused_y, fused_grads) = run(false);
    let (composed_ops, composed_y, composed_grads) = run(true);
    assert_eq!((fused_ops, composed_ops), (1, 11));
    let close = |what: &str, a: &[f32], b: &[f32]| {
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 + 1e-4 * b.abs(),
                "{what}[{i}]: fused {a}, composed {b}"
            );
        }
    };
    close("y", &fused_y, &composed_y);
    for (name, (f, c)) in ["dx", "dweight", "dbias"]
        .iter()
        .zip(fused_grads.iter().zip(&composed_grads))
    {
        close(name, f, c);
    }
}

#[test]
fn inference_records_nothing_and_saves_nothing() {
    let mut tape = Tape::new();
    let y = tape.no_grad(|tape| {
        let x = tape.variable(values(&[2, 3], 0.0));
        let (w, b) = (
            tape.variable(Tensor::full(vec![3], 1.0)),
            tape.variable(Tensor::zeros(vec![3])),
        );
        let y = layer_norm(tape, x, w, b, 1e-5);
        leaky_relu(tape, y, 0.01)
    });
    assert_eq!(tape.num_recorded_ops(), 0);
    assert_eq!(tape.shape(y), &[2, 3]);
}

#[test]
#[should_panic(expected = "layer_norm: input [2, 5], weight [4] and bias [4] do not fit")]
fn a_weight_of_the_wrong_length_panics_with_the_shapes() {
    let mut tape = Tape::new();
    let x = tape.constant(Tensor::zeros(vec![2, 5]));
    let (w, b) = (
        tape.constant(Tensor::zeros(vec![4])),
        tape.constant(Tensor::zeros(vec![4])),
    );
    layer_norm(&mut tape, x, w, b, 1e-5);
}
