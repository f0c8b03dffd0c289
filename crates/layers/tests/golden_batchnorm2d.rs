//! `BatchNorm2d`, and `BatchNorm1d` on `[N, C, L]`, against PyTorch's float64 values
//! (`golden/batchnorm2d.json`): the batch statistics, the training output and the gradients,
//! the running statistics after each of three training passes and the eval output, with the
//! default settings and with momentum `None`, affine off and tracking off.

use serde_json::Value;
use tapegrad_core::{Tape, Tensor};
use tapegrad_layers::{BatchNorm, BatchNormConfig, BatchStats, Mode, Module};
use tapegrad_testutil::{assert_close, load, tensor, tensor_of, tol};

fn t(case: &Value, key: &str) -> Tensor {
    let g = tensor(case, key);
    Tensor::from_vec(g.shape.clone(), g.to_f32())
}

/// The layer's settings as the case's `settings` gives them (PyTorch's keyword arguments).
fn config(settings: &Value) -> BatchNormConfig {
    BatchNormConfig {
        eps: settings["eps"].as_f64().unwrap() as f32,
        momentum: settings["momentum"].as_f64().map(|m| m as f32),
        affine: settings["affine"].as_bool().unwrap(),
        track_running_stats: settings["track_running_stats"].as_bool().unwrap(),
    }
}

/// The case's gamma and beta, as the layer's weight and bias.
fn set_affine<const D: usize>(bn: &mut BatchNorm<D>, case: &Value) {
    let (gamma, beta) = (t(case, "gamma"), t(case, "beta"));
    *bn.weight_mut().unwrap().value_mut() = gamma;
    *bn.bias_mut().unwrap().value_mut() = beta;
}

fn run_case<const D: usize>(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let (rtol, atol) = if name.starts_with("large_mean") {
        (tol::LARGE_MEAN_RTOL, tol::LARGE_MEAN_ATOL)
    } else {
        (tol::RTOL, tol::ATOL)
    };
    let check = |what: &str, actual: &[f32], expected: &Value| {
        let expected = tensor_of(expected).data;
        assert_close(&format!("{name}: {what}"), actual, &expected, rtol, atol)
    };
    let x = t(case, "x");
    let c = x.shape()[1];

    let stats = BatchStats::of(&x);
    let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<_>>();
    check("batch_mean", &f32s(&stats.mean), &case["batch_mean"]);
    check("batch_var", &f32s(&stats.var), &case["batch_var_biased"]);
    let unbiased: Vec<f32> = (0..c).map(|j| stats.unbiased_var(j) as f32).collect();
    check("unbiased var", &unbiased, &case["batch_var_unbiased"]);

    let config = config(&case["settings"]);
    let mut bn = BatchNorm::<D>::with_config(c, config);
    if config.affine {
        set_affine(&mut bn, case);
    }
    let mut tape = Tape::new();
    let xv = tape.variable(x.clone());
    let y = bn.forward(&mut tape, xv, Mode::Train);
    check("y", tape.value(y).data(), &case["y"]);
    let grads = tape.backward_with(y, t(case, "dy"));
    check("dx", grads.get(xv).unwrap().data(), &case["dx"]);
    if config.affine {
        let dgamma = grads.param(bn.weight().unwrap()).unwrap();
        check("dgamma", dgamma.data(), &case["dgamma"]);
        let dbeta = grads.param(bn.bias().unwrap()).unwrap();
        check("dbeta", dbeta.data(), &case["dbeta"]);
    }

    let after = case["running_after_each_pass"].as_array().unwrap();
    assert_eq!(after.is_empty(), bn.running_stats().is_none(), "{name}");
    for (pass, batch) in ["x", "x_batch2", "x_batch3"].iter().enumerate() {
        if pass > 0 {
            let mut tape = Tape::new();
            let xb = tape.constant(t(case, batch));
            bn.forward(&mut tape, xb, Mode::Train);
        }
        if let (Some(r), Some(expected)) = (bn.running_stats(), after.get(pass)) {
            let pass = pass + 1;
            check(
                &format!("running_mean {pass}"),
                r.mean.data(),
                &expected["running_mean"],
            );
            check(
                &format!("running_var {pass}"),
                r.var.data(),
                &expected["running_var"],
            );
            let tracked = expected["num_batches_tracked"].as_i64();
            assert_eq!(Some(r.num_batches_tracked), tracked, "{name} pass {pass}");
        }
    }

    let mut tape = Tape::new();
    let xc = tape.constant(x);
    let y = bn.forward(&mut tape, xc, Mode::Eval);
    check(
        "y_eval",
        tape.value(y).data(),
        &case["y_eval_on_x_after_3_passes"],
    );
}

#[test]
fn every_pytorch_case_matches() {
    let golden = load("batchnorm2d.json");
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 11);
    for case in cases {
        match case["module"].as_str().unwrap() {
            "BatchNorm2d" => run_case::<2>(case),
            "BatchNorm1d" => run_case::<1>(case),
            other => panic!("unknown module {other}"),
        }
    }
}

/// The exactly constant channel normalises to 0: the output is beta there, to the bit, and
/// its gradient is finite.
#[test]
fn the_constant_channel_gives_beta() {
    let golden = load("batchnorm2d.json");
    let case = (golden["cases"].as_array().unwrap().iter())
        .find(|case| case["name"] == "near_constant_2x3x3x3")
        .unwrap();
    let mut bn = BatchNorm::<2>::new(3);
    set_affine(&mut bn, case);
    let beta = t(case, "beta").into_vec();
    let mut tape = Tape::new();
    let x = tape.variable(t(case, "x"));
    let y_var = bn.forward(&mut tape, x, Mode::Train);
    let y = tape.value(y_var).data().to_vec();
    // Channel 1 of each image: values 9..18 and 36..45 of [2, 3, 3, 3].
    assert!((9..18).chain(36..45).all(|i| y[i] == beta[1]), "{y:?}");
    let grads = tape.backward_with(y_var, t(case, "dy"));
    assert!(grads.get(x).unwrap().data().iter().all(|v| v.is_finite()));
}
