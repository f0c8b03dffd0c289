//! Every case of `golden/optim.json`: 20 steps of each optimizer against PyTorch (float64).

mod common;

use common::optimizer_for;
use tapegrad_core::{Gradients, Param, Tensor};
use tapegrad_optim::OptimizerExt;
use tapegrad_testutil::{assert_close, load, tensor_of, tol};

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
