//! Every op case of `golden/edge_cases.json` (regenerate with
//! `/opt/torchvenv/bin/python crates/testutil/golden/edge_cases.py`): infinities, NaN,
//! subnormals, 1e20 and 1e-20 scales, large and tied logits, zero-sized dimensions and
//! long reductions, forward and backward, against PyTorch 2.x. Each case states its
//! reference (float32 bit for bit, float32 within a tolerance, or float64 where tapegrad
//! is more exact) and why.

mod edge_runner;

use tapegrad_core::{Conv2dConfig, Pool2dConfig, Size2, Tape, Var};
use tapegrad_testutil::edge::{f64_of, Value};
use tapegrad_testutil::load;

/// Applies the case's op on the tape to `v` (one handle per input).
fn apply(case: &Value, tape: &mut Tape, v: &[Var]) -> Var {
    let op = case["op"].as_str().expect("op");
    let axis = || case["axis"].as_u64().expect("axis") as usize;
    let scalar = || f64_of(&case["scalar"]) as f32;
    // An `[h, w]` pair of the case (kernel, stride, padding, output size).
    let pair = |key: &str| -> Size2 {
        let hw = case[key].as_array().expect("an [h, w] pair");
        (
            hw[0].as_u64().unwrap() as usize,
            hw[1].as_u64().unwrap() as usize,
        )
            .into()
    };
    let pooling = || {
        Pool2dConfig::new(pair("kernel"))
            .stride(pair("stride"))
            .padding(pair("padding"))
    };
    match op {
        "add" => tape.add(v[0], v[1]),
        "sub" => tape.sub(v[0], v[1]),
        "mul" => tape.mul(v[0], v[1]),
        "div" => tape.div(v[0], v[1]),
        "add_scalar" => tape.add_scalar(v[0], scalar()),
        "mul_scalar" => tape.mul_scalar(v[0], scalar()),
        "reshape" => {
            let shape: Vec<usize> = case["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            tape.reshape(v[0], &shape)
        }
        "relu" => tape.relu(v[0]),
        "sigmoid" => tape.sigmoid(v[0]),
        "tanh" => tape.tanh(v[0]),
        "exp" => tape.exp(v[0]),
        "log" => tape.log(v[0]),
        "sqrt" => tape.sqrt(v[0]),
        "sum" => tape.sum(v[0]),
        "mean" => tape.mean(v[0]),
        "sum_axis" => tape.sum_axis(v[0], axis()),
        "mean_axis" => tape.mean_axis(v[0], axis()),
        "log_softmax" => tape.log_softmax(v[0]),
        "cross_entropy" => {
            let labels: Vec<usize> = case["labels"]
                .as_array()
                .expect("labels")
                .iter()
                .map(|l| l.as_u64().unwrap() as usize)
                .collect();
            tape.cross_entropy(v[0], &labels)
        }
        "matmul" => tape.matmul(v[0], v[1]),
        "matmul_t" => {
            let flag = |key: &str| case[key].as_bool().expect("a transpose flag");
            tape.matmul_t(v[0], flag("trans_a"), v[1], flag("trans_b"))
        }
        "linear" => tape.linear(v[0], v[1], v.get(2).copied()),
        "linear_relu" => tape.linear_relu(v[0], v[1], v.get(2).copied()),
        "conv2d" => tape.conv2d(v[0], v[1], v.get(2).copied(), Conv2dConfig::default()),
        "max_pool2d" => tape.max_pool2d(v[0], pooling()),
        "avg_pool2d" => tape.avg_pool2d(v[0], pooling()),
        "adaptive_avg_pool2d" => tape.adaptive_avg_pool2d(v[0], pair("output_size")),
        "flatten" => tape.flatten(v[0], case["start_dim"].as_u64().unwrap() as usize),
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn every_edge_case_matches_pytorch() {
    let golden = load("edge_cases.json");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let ops_seen = edge_runner::run_all(cases, apply);
    // Every built-in op of the Tape has edge cases.
    for op in [
        "add",
        "sub",
        "mul",
        "div",
        "add_scalar",
        "mul_scalar",
        "reshape",
        "relu",
        "sigmoid",
        "tanh",
        "exp",
        "log",
        "sqrt",
        "sum",
        "mean",
        "sum_axis",
        "mean_axis",
        "log_softmax",
        "cross_entropy",
        "matmul",
        "matmul_t",
        "linear",
        "linear_relu",
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
        "adaptive_avg_pool2d",
        "flatten",
    ] {
        assert!(ops_seen.contains(op), "no edge case for {op}");
    }
}
