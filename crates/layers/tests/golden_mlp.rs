//! The MLPs of `golden/mlp_ce.json` built from layers (`mlp` builder, weights loaded by
//! their PyTorch names), against PyTorch's loss and every gradient.

use serde_json::Value;
use tapegrad_core::{Tape, Tensor};
use tapegrad_layers::{Mlp, Mode, Module, ModuleExt};
use tapegrad_testutil::{assert_close, load, tensor, tol};

fn t(case: &Value, key: &str) -> Tensor {
    let g = tensor(case, key);
    Tensor::from_vec(g.shape.clone(), g.to_f32())
}

fn run(case_name: &str, batch_norm: bool) {
    let golden = load("mlp_ce.json");
    let case = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == case_name)
        .unwrap_or_else(|| panic!("case {case_name}"));
    let labels: Vec<usize> = case["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() as usize)
        .collect();

    // x -> Linear(4,5) [-> BatchNorm1d(5)] -> ReLU -> Linear(5,3), named as in PyTorch.
    let mut model = Mlp::new(&[4, 5, 3]).batch_norm(batch_norm).build();
    let out = if batch_norm { 3 } else { 2 };
    let mut by_name = vec![
        ("0.weight".to_string(), "W1"),
        ("0.bias".to_string(), "b1"),
        (format!("{out}.weight"), "W2"),
        (format!("{out}.bias"), "b2"),
    ];
    if batch_norm {
        by_name.extend([
            ("1.weight".to_string(), "gamma"),
            ("1.bias".to_string(), "beta"),
        ]);
    }
    let golden_key = |name: &str| by_name.iter().find(|(n, _)| n == name).map(|(_, k)| *k);
    let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
    for (name, param) in names.iter().zip(model.params_mut()) {
        let key = golden_key(name).unwrap_or_else(|| panic!("unexpected parameter {name}"));
        *param.value_mut() = t(case, key);
    }

    let mut tape = Tape::new();
    let x = tape.variable(t(case, "x"));
    let logits = model.forward(&mut tape, x, Mode::Train);
    let loss = tape.cross_entropy(logits, &labels);
    let what = |s: &str| format!("{case_name}: {s}");
    assert_close(
        &what("logits"),
        tape.value(logits).data(),
        &tensor(case, "logits").data,
        tol::RTOL,
        tol::ATOL,
    );
    let expected_loss = case["loss"].as_f64().unwrap();
    assert_close(
        &what("loss"),
        &[tape.value(loss).item()],
        &[expected_loss],
        tol::RTOL,
        tol::ATOL,
    );

    let grads = tape.backward(loss);
    assert_close(
        &what("dx"),
        grads.get(x).unwrap().data(),
        &tensor(case, "dx").data,
        tol::RTOL,
        tol::ATOL,
    );
    for (name, param) in model.named_params() {
        let key = golden_key(&name).unwrap();
        let grad = grads
            .param(param)
            .unwrap_or_else(|| panic!("{name} got no gradient"));
        assert_close(
            &what(&format!("d{key} ({name})")),
            grad.data(),
            &tensor(case, &format!("d{key}")).data,
            tol::RTOL,
            tol::ATOL,
        );
    }
}

#[test]
fn linear_relu_linear_cross_entropy_matches_pytorch() {
    run("linear_relu_linear_ce", false);
}

#[test]
fn linear_batchnorm_relu_linear_cross_entropy_matches_pytorch() {
    run("linear_bn_relu_linear_ce", true);
}
