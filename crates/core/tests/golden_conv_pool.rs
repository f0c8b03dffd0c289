//! `conv2d`, `max_pool2d`, `avg_pool2d` and `adaptive_avg_pool2d` against PyTorch's float64
//! values (`golden/conv_pool.json`): every case's output and the gradients of the input, the
//! weight and the bias, at the README's tolerances.

use serde_json::Value;
use tapegrad_core::{Backward, Conv2dConfig, Pool2dConfig, Size2, Tape, Tensor, Var};
use tapegrad_testutil::{load, tensor_of, GoldenCase};

/// A tensor of the case, in f32.
fn t(case: &GoldenCase, key: &str) -> Tensor {
    let g = case.tensor(key);
    Tensor::from_vec(g.shape.clone(), g.to_f32())
}

/// The `[h, w]` pair under `key` of the case's settings, if given.
fn pair(settings: &Value, key: &str) -> Option<Size2> {
    let hw = settings[key].as_array()?;
    Some((hw[0].as_u64()? as usize, hw[1].as_u64()? as usize).into())
}

/// Applies the case's op to `x` (and its weight and bias, for a convolution), with its
/// settings.
fn apply(case: &GoldenCase, tape: &mut Tape, x: Var, params: &[Var]) -> Var {
    let s = &case.json()["settings"];
    match case.json()["op"].as_str().unwrap() {
        "conv2d" => {
            let config = Conv2dConfig::default()
                .stride(pair(s, "stride").unwrap_or(1.into()))
                .padding(pair(s, "padding").unwrap_or(0.into()))
                .dilation(pair(s, "dilation").unwrap_or(1.into()))
                .groups(s["groups"].as_u64().unwrap_or(1) as usize);
            tape.conv2d(x, params[0], params.get(1).copied(), config)
        }
        "max_pool2d" | "avg_pool2d" => {
            let kernel = pair(s, "kernel_size").expect("a kernel size");
            // No stride given: PyTorch's default, the kernel's size.
            let config = Pool2dConfig::new(kernel)
                .stride(pair(s, "stride").unwrap_or(kernel))
                .padding(pair(s, "padding").unwrap_or(0.into()));
            match case.json()["op"].as_str() {
                Some("max_pool2d") => tape.max_pool2d(x, config),
                _ => tape.avg_pool2d(x, config),
            }
        }
        "adaptive_avg_pool2d" => tape.adaptive_avg_pool2d(x, pair(s, "output_size").unwrap()),
        other => panic!("unknown op {other}"),
    }
}

fn run_case(name: &str) {
    let case = GoldenCase::load("conv_pool.json", name);
    let mut tape = Tape::new();
    let x = tape.variable(t(&case, "x"));
    let params: Vec<Var> = ["weight", "bias"]
        .iter()
        .filter(|k| !case.json()[**k].is_null())
        .map(|k| tape.variable(t(&case, k)))
        .collect();
    let y = apply(&case, &mut tape, x, &params);
    case.check("y", tape.value(y).data(), "y");
    let grads = tape.backward_with(y, Backward::seeded(t(&case, "dy")));
    case.check("dx", grads.get(x).unwrap().data(), "dx");
    for (&v, key) in params.iter().zip(["dweight", "dbias"]) {
        case.check(key, grads.get(v).unwrap().data(), key);
    }
}

#[test]
fn every_case_matches_pytorch() {
    let golden = load("conv_pool.json");
    let cases = golden["cases"].as_array().expect("cases");
    let mut ops: Vec<&str> = cases.iter().map(|c| c["op"].as_str().unwrap()).collect();
    for case in cases {
        // Every tensor of the case is well formed.
        for key in ["x", "y", "dy", "dx"] {
            tensor_of(&case[key]);
        }
        run_case(case["name"].as_str().unwrap());
    }
    assert_eq!(cases.len(), 18);
    ops.dedup();
    assert_eq!(
        ops,
        ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]
    );
}
