//! Shared by the optimizer tests that read PyTorch's cases: the optimizer a case describes.

use serde_json::Value;
use tapegrad_optim::{Adam, AdamConfig, Momentum, Optimizer, Sgd, SgdConfig, WeightDecay};

/// The optimizer a case's `hyper` describes (PyTorch defaults for what it does not list).
pub fn optimizer_for(hyper: &Value) -> Box<dyn Optimizer> {
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
