//! Optimizer edge cases: non-finite values through the update rules, as PyTorch 2.x handles
//! them, and the `optimizer_cases` of `golden/edge_cases.json` (regenerate with
//! `/opt/torchvenv/bin/python crates/testutil/golden/edge_cases.py`).

mod common;

use common::optimizer_for;
use tapegrad_core::{Gradients, Param, Tensor};
use tapegrad_optim::{Adam, AdamConfig, Optimizer, OptimizerExt, OptimizerState};
use tapegrad_testutil::edge::{check, edge_tensor};
use tapegrad_testutil::load;

/// One step of `optimizer` on `param` with gradient `grad`.
fn step_once(optimizer: &mut dyn Optimizer, param: &mut Param, grad: &[f32]) {
    let grad = Tensor::from_vec(param.shape().to_vec(), grad.to_vec());
    let grads = Gradients::from_params([(param.id(), grad)]);
    optimizer.step([param], &grads).unwrap();
}

/// SGD (momentum, Nesterov, L2 decay), Adam, AdamW and amsgrad over gradients with NaN,
/// inf, 1e20, 1e-20 and subnormals: the parameter after each step against PyTorch's
/// float64 run (tapegrad computes each element in f64), NaN and inf in the same places.
#[test]
fn every_optimizer_edge_case_matches_pytorch() {
    let golden = load("edge_cases.json");
    let cases = golden["optimizer_cases"]
        .as_array()
        .expect("optimizer_cases");
    assert!(cases.len() >= 5, "{} optimizer cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let reference = case["reference"].as_str().expect("reference");
        let (rtol, atol) = (
            case["rtol"].as_f64().unwrap(),
            case["atol"].as_f64().unwrap(),
        );
        let mut opt = optimizer_for(&case["hyper"]);
        let p0 = edge_tensor(&case["p0"]).f32;
        let mut p = Param::new(Tensor::from_vec(vec![p0.len()], p0));
        let grads = case["grads"].as_array().expect("grads");
        let after = case["p_after_each_step"].as_array().expect("steps");
        for (step, (g, want)) in grads.iter().zip(after).enumerate() {
            let g = edge_tensor(g).f32;
            step_once(opt.as_mut(), &mut p, &g);
            let want = edge_tensor(want);
            check(
                &format!("{name}: step {step}"),
                p.value().data(),
                &want,
                reference,
                rtol,
                atol,
            );
        }
    }
}

/// amsgrad's running maximum of `v` is `torch.maximum`, which propagates NaN: after a NaN
/// gradient PyTorch's `max_exp_avg_sq` is NaN. `f64::max` dropped the NaN and kept the old
/// maximum (0.001 here).
#[test]
fn amsgrad_running_maximum_keeps_a_nan_as_torch_maximum() {
    let mut adam = Adam::new(AdamConfig {
        amsgrad: true,
        ..AdamConfig::adam()
    })
    .unwrap();
    let mut w = Param::new(Tensor::from_vec(vec![2], vec![1.0, 2.0]));
    step_once(&mut adam, &mut w, &[1.0, 1.0]);
    step_once(&mut adam, &mut w, &[f32::NAN, 1.0]);
    let OptimizerState::Adam(state) = adam.state() else {
        panic!("not an Adam state");
    };
    let max = state.params[0].1.max_exp_avg_sq.as_ref().unwrap();
    assert!(max[0].is_nan(), "max_exp_avg_sq {max:?}");
    assert!(max[1].is_finite(), "max_exp_avg_sq {max:?}");
    let w = w.value().data();
    assert!(w[0].is_nan() && w[1].is_finite(), "{w:?}");
}
