//! Every case of `golden/optim.json`: 20 steps of each optimizer against PyTorch (float64).

use serde_json::Value;
use tapegrad_core::{Gradients, Param, Tensor};
use tapegrad_optim::{
    Adam, AdamConfig, Momentum, Optimizer, OptimizerExt, Sgd, SgdConfig, WeightDecay,
};
use tapegrad_testutil::{assert_close, load, tensor_of, tol};

/// The optimizer a case's `hyper` describes (PyTorch defaults for what it does not list).
fn optimizer_for(hyper: &Value) -> Box<dyn Optimizer> {
    let known = [
        "optimizer",
        "lr",
        "momentum",
        "dampening",
        "nesterov",
        "weight_decay",
        "weight_decay_kind",
        "betas",
        "eps",
        "amsgrad",
    ];
    for key in hyper.as_object().expect("hyper is an object").keys() {
        assert!(
            known.contains(&key.as_str()),
            "unknown hyperparameter `{key}`"
        );
    }
    let f64_of = |key: &str| hyper.get(key).map(|v| v.as_f64().expect("a number"));
    let lr = f64_of("lr").expect("every case sets lr");
    let weight_decay = f64_of("weight_decay").map(|wd| {
        match hyper["weight_decay_kind"]
            .as_str()
            .expect("weight_decay_kind")
        {
            "l2" => WeightDecay::L2(wd),
            "decoupled" => WeightDecay::Decoupled(wd),
            other => panic!("unknown weight_decay_kind {other}"),
        }
    });
    match hyper["optimizer"].as_str().expect("optimizer name") {
        "sgd" => {
            let momentum = f64_of("momentum").map(|mu| {
                if hyper.get("nesterov").and_then(Value::as_bool) == Some(true) {
                    Momentum::Nesterov(mu)
                } else {
                    Momentum::Classic(mu)
                }
            });
            let config = SgdConfig {
                lr,
                momentum,
                dampening: f64_of("dampening").unwrap_or(0.0),
                weight_decay,
            };
            Box::new(Sgd::new(config).unwrap())
        }
        name @ ("adam" | "adamw") => {
            let defaults = if name == "adam" {
                AdamConfig::adam()
            } else {
                AdamConfig::adamw()
            };
            let betas = hyper.get("betas").map(|b| {
                let b = b.as_array().expect("betas is a pair");
                (b[0].as_f64().unwrap(), b[1].as_f64().unwrap())
            });
            let config = AdamConfig {
                lr,
                betas: betas.unwrap_or(defaults.betas),
                eps: f64_of("eps").unwrap_or(defaults.eps),
                weight_decay: weight_decay.or(defaults.weight_decay),
                amsgrad: hyper
                    .get("amsgrad")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            };
            Box::new(Adam::new(config).unwrap())
        }
        other => panic!("unknown optimizer {other}"),
    }
}

#[test]
fn every_optim_case_matches_pytorch_over_all_steps() {
    let golden = load("optim.json");
    let p0 = tensor_of(&golden["p0"]).to_f32();
    let grads: Vec<Vec<f32>> = golden["grads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| tensor_of(g).to_f32())
        .collect();
    let cases = golden["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    // Fail loudly if a variant disappears from the golden file.
    for expected in [
        "sgd_plain",
        "sgd_momentum",
        "sgd_momentum_dampening",
        "sgd_nesterov",
        "sgd_momentum_wd_l2",
        "adam",
        "adam_lr0.05_wd_l2",
        "adam_amsgrad",
        "adamw",
        "adamw_lr0.05_wd0.1",
    ] {
        assert!(
            names.contains(&expected),
            "golden case {expected} is missing"
        );
    }

    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut optimizer = optimizer_for(&case["hyper"]);
        let expected = case["p_after_each_step"].as_array().unwrap();
        assert_eq!(
            expected.len(),
            grads.len(),
            "{name}: one reference per step"
        );
        let mut p = Param::new(Tensor::from_vec(vec![p0.len()], p0.clone()));
        for (t, (grad, want)) in grads.iter().zip(expected).enumerate() {
            let grad = Tensor::from_vec(vec![grad.len()], grad.clone());
            let grads = Gradients::from_params([(p.id(), grad)]);
            optimizer.step([&mut p], &grads).unwrap();
            assert_close(
                &format!("{name} after step {}", t + 1),
                p.value().data(),
                &tensor_of(want).data,
                tol::OPTIM_RTOL,
                tol::OPTIM_ATOL,
            );
        }
    }
}
