//! The MLPs of `golden/mlp_ce.json` built from layers (`mlp` builder, weights loaded by
//! their PyTorch names), against PyTorch's loss and every gradient.

use tapegrad_core::{Tape, Tensor};
use tapegrad_layers::{Mlp, Mode, Module, ModuleExt};
use tapegrad_testutil::{GoldenCase, GoldenTensor};

fn t(g: GoldenTensor) -> Tensor {
    let data = g.to_f32();
    Tensor::from_vec(g.shape, data)
}

fn run(case_name: &str, batch_norm: bool) {
    let case = GoldenCase::load("mlp_ce.json", case_name);

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
        *param.value_mut() = t(case.tensor(key));
    }

    let mut tape = Tape::new();
    let x = tape.variable(t(case.tensor("x")));
    let logits = model.forward(&mut tape, x, Mode::Train);
    let loss = tape.cross_entropy(logits, &case.labels());
    case.check("logits", tape.value(logits).data(), "logits");
    case.check_scalar("loss", tape.value(loss).item(), "loss");

    let grads = tape.backward(loss);
    case.check("dx", grads.get(x).unwrap().data(), "dx");
    for (name, param) in model.named_params() {
        let key = golden_key(&name).unwrap();
        let grad = grads
            .param(param)
            .unwrap_or_else(|| panic!("{name} got no gradient"));
        case.check(&format!("d{key} ({name})"), grad.data(), &format!("d{key}"));
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
