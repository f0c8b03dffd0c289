//! The layers' built-in ops at the edges, the `layer_cases` of `golden/edge_cases.json`
//! (regenerate with `/opt/torchvenv/bin/python crates/testutil/golden/generate.py`): BatchNorm
//! in training over features holding NaN, +inf, values near 1e20 and 1e-20 and a constant, and
//! Dropout at p = 0, forward and backward, against PyTorch.

#[path = "../../core/tests/edge_runner/mod.rs"]
mod edge_runner;

use tapegrad_core::{Tape, Var};
use tapegrad_layers::{batch_norm_train, Dropout, Mode, Module};
use tapegrad_testutil::edge::{f64_of, Value};
use tapegrad_testutil::load;

/// Applies the case's op on the tape to `v` (one handle per input).
fn apply(case: &Value, tape: &mut Tape, v: &[Var]) -> Var {
    match case["op"].as_str().expect("op") {
        "batch_norm_train" => {
            let eps = f64_of(&case["eps"]) as f32;
            batch_norm_train(tape, v[0], Some((v[1], v[2])), eps)
        }
        "dropout_p0" => Dropout::new(0.0, 0).forward(tape, v[0], Mode::Train),
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn every_layer_edge_case_matches_pytorch() {
    let golden = load("edge_cases.json");
    let cases = golden["layer_cases"].as_array().expect("layer_cases");
    let ops_seen = edge_runner::run_all(cases, apply);
    // Every op the layers add to the tape has edge cases (the ReLU-fused BatchNorm runs the
    // same arithmetic and is tested to the bit against BatchNorm then relu).
    for op in ["batch_norm_train", "dropout_p0"] {
        assert!(ops_seen.contains(op), "no edge case for {op}");
    }
}
