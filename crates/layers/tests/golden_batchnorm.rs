//! `BatchNorm1d` against PyTorch's float64 values (`golden/batchnorm1d.json`), every case:
//! batch statistics, `x_hat`, the training output and the gradients of input, gamma and
//! beta, the running statistics after each of three training passes, and the eval output.

use serde_json::Value;
use tapegrad_core::{Tape, Tensor};
use tapegrad_layers::{BatchNorm1d, BatchNormConfig, BatchStats, Mode, Module};
use tapegrad_testutil::{assert_close, load, tensor, tensor_of, tol, GoldenCase};

fn t(case: &Value, key: &str) -> Tensor {
    let g = tensor(case, key);
    Tensor::from_vec(g.shape.clone(), g.to_f32())
}

fn run_case(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let (rtol, atol) = if name == "large_mean_1e3_8x4" {
        (tol::LARGE_MEAN_RTOL, tol::LARGE_MEAN_ATOL)
    } else {
        (tol::RTOL, tol::ATOL)
    };
    let check = |what: &str, actual: &[f32], key: &str| {
        assert_close(
            &format!("{name}: {what}"),
            actual,
            &tensor(case, key).data,
            rtol,
            atol,
        )
    };
    let c = case["C"].as_u64().unwrap() as usize;

    // The batch statistics, biased and unbiased.
    let stats = BatchStats::of(&t(case, "x"));
    let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<_>>();
    check("batch_mean", &f32s(&stats.mean), "batch_mean");
    check("batch_var_biased", &f32s(&stats.var), "batch_var_biased");
    let unbiased: Vec<f32> = (0..c).map(|j| stats.unbiased_var(j) as f32).collect();
    check("batch_var_unbiased", &unbiased, "batch_var_unbiased");

    // x_hat: the layer without affine parameters.
    let mut plain = BatchNorm1d::with_config(
        c,
        BatchNormConfig {
            affine: false,
            ..Default::default()
        },
    );
    let mut tape = Tape::new();
    let x = tape.constant(t(case, "x"));
    let x_hat = plain.forward(&mut tape, x, Mode::Train);
    check("x_hat", tape.value(x_hat).data(), "x_hat");

    // Training pass 1 on x, differentiated with the upstream gradient dy.
    let mut bn = BatchNorm1d::new(c);
    bn.weight_mut()
        .unwrap()
        .value_mut()
        .data_mut()
        .copy_from_slice(&t(case, "gamma").into_vec());
    bn.bias_mut()
        .unwrap()
        .value_mut()
        .data_mut()
        .copy_from_slice(&t(case, "beta").into_vec());
    let mut tape = Tape::new();
    let x = tape.variable(t(case, "x"));
    let y = bn.forward(&mut tape, x, Mode::Train);
    check("y", tape.value(y).data(), "y");
    let grads = tape.backward_with(y, t(case, "dy"));
    check("dx", grads.get(x).unwrap().data(), "dx");
    check(
        "dgamma",
        grads.param(bn.weight().unwrap()).unwrap().data(),
        "dgamma",
    );
    check(
        "dbeta",
        grads.param(bn.bias().unwrap()).unwrap().data(),
        "dbeta",
    );
    assert!(
        grads.get(x).unwrap().data().iter().all(|v| v.is_finite()),
        "{name}: dx finite"
    );

    // Passes 2 and 3, and the running statistics after each pass.
    let after = case["running_after_each_pass"].as_array().unwrap();
    for (pass, batch) in ["x", "x_batch2", "x_batch3"].iter().enumerate() {
        if pass > 0 {
            let mut tape = Tape::new();
            let xb = tape.constant(t(case, batch));
            bn.forward(&mut tape, xb, Mode::Train);
        }
        let r = bn.running_stats().unwrap();
        let expected = &after[pass];
        let what = |s: &str| format!("{name}: {s} after pass {}", pass + 1);
        assert_close(
            &what("running_mean"),
            r.mean.data(),
            &tensor_of(&expected["running_mean"]).data,
            rtol,
            atol,
        );
        assert_close(
            &what("running_var"),
            r.var.data(),
            &tensor_of(&expected["running_var"]).data,
            rtol,
            atol,
        );
        assert_eq!(r.num_batches_tracked, pass as i64 + 1);
    }
    let r = bn.running_stats().unwrap();
    check("running_mean_final", r.mean.data(), "running_mean_final");
    check("running_var_final", r.var.data(), "running_var_final");

    // Eval on x with the running statistics.
    let mut tape = Tape::new();
    let x = tape.constant(t(case, "x"));
    let y = bn.forward(&mut tape, x, Mode::Eval);
    check("y_eval", tape.value(y).data(), "y_eval_on_x_after_3_passes");
}

#[test]
fn every_pytorch_case_matches() {
    let golden = load("batchnorm1d.json");
    assert_eq!(golden["eps"].as_f64(), Some(1e-5));
    assert_eq!(golden["momentum"].as_f64(), Some(0.1));
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for case in cases {
        run_case(case);
    }
}

#[test]
fn the_exactly_constant_column_gives_beta_and_a_finite_dx() {
    let golden = GoldenCase::load("batchnorm1d.json", "near_constant_6x3");
    let case = golden.json();
    let mut bn = BatchNorm1d::new(3);
    bn.bias_mut()
        .unwrap()
        .value_mut()
        .data_mut()
        .copy_from_slice(&t(case, "beta").into_vec());
    let mut tape = Tape::new();
    let x = tape.variable(t(case, "x"));
    let y = bn.forward(&mut tape, x, Mode::Train);
    let beta1 = t(case, "beta").data()[1];
    assert!(
        (0..6).all(|r| tape.value(y).row(r)[1] == beta1),
        "column 1 is exactly beta"
    );
    let grads = tape.backward_with(y, t(case, "dy"));
    assert!(grads.get(x).unwrap().data().iter().all(|v| v.is_finite()));
}
