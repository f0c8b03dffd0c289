//! The tapegrad side of `benches/compare/run.py`: the same workloads as `torch_workloads.py`,
//! with the same semantics, one per process, printing one JSON line.
//!
//! ```text
//! cargo bench -q --bench workloads -- WORKLOAD [--data DIR] [--repeat K] [--op-times]
//! cargo bench -q --bench workloads -- --list
//! ```
//!
//! - `mlp[_bn]_epoch_b{32,128,512}`: one shuffled epoch of the `784-512-256-10` ReLU MLP
//!   (`Linear-BatchNorm1d-ReLU` per hidden layer with `_bn`, and then the last partial batch is
//!   dropped), SGD momentum 0.9, lr 0.1 (0.025 at batch 32, where 0.1 diverges), after 5
//!   warm-up steps on batches of another shuffle;
//! - `sigmoid3x100[_bn]_b60_1000steps`: Ioffe & Szegedy's `784-100-100-100-10` sigmoid net,
//!   plain SGD lr 0.5, one epoch of batch 60 (exactly 1000 steps);
//! - `cnn_epoch`: one shuffled epoch of PyTorch's MNIST example net (two 3x3 convolutions,
//!   max-pooling, dropout, two `Linear`s; `examples/mnist_cnn/model.rs`, the example's own
//!   builder), SGD lr 0.05 momentum 0.9, batch 64, after 5 warm-up steps; `cnn_bn_epoch`: the
//!   same with `BatchNorm2d` after each convolution and `BatchNorm1d` after the first
//!   `Linear`, each before its ReLU (and the last partial batch dropped);
//! - `bn_fwd_bwd_{N}x{C}`: `BatchNorm1d(C)` train-mode forward on `x: [N, C]` and backward of
//!   `dy`, giving the gradients of `x`, gamma and beta; median microseconds per iteration;
//! - `conv2d_fwd_bwd_{c1_32,c32_64}`: the two convolutions of PyTorch's MNIST example net at
//!   batch 64 (`1 -> 32` on 28x28 and `32 -> 64` on 26x26, 3x3, with bias), forward and the
//!   backward of `dy` (the input's gradient for the second only, as in the net); median
//!   microseconds per iteration;
//! - `bn_cost_b128`: the MLPs of `mlp_epoch_b128` and `mlp_bn_epoch_b128` trained in turns,
//!   step by step, on the same batches (the last partial one dropped), for one epoch each;
//!   `bn_cost` is the time with BatchNorm over the time without, measured within the same
//!   seconds (median over `--repeat` epochs);
//! - `cnn_bn_cost_b64`: the same for the nets of `cnn_epoch` and `cnn_bn_epoch`;
//! - `peak_rss_mnist_train`: peak RSS of loading the train split and one `mlp_epoch_b128`;
//! - `bn_fusion_{N}x{C}` (tapegrad only; `run.py` runs it on this side alone): the fused
//!   BatchNorm against the same computation composed from core ops, timed in alternating
//!   blocks; `fusion_speedup` is the composed time over the fused one (`run.py`'s bound:
//!   at least 4).
//!
//! `--op-times` (training workloads and `bn_cost_b128`) also times every op of the timed epochs
//! (`Tape::time_ops`): the JSON gets `op_times` (per kind of op, forward and backward
//! seconds) and the table goes to stderr. The share of an op in an epoch is then measured
//! within the same seconds, whatever the machine's speed that minute.
//!
//! Only the train split is loaded, as on the PyTorch side. `cargo bench` appends `--bench`
//! to the arguments of a `harness = false` target; it is ignored.

#[path = "../../examples/mnist_cnn/model.rs"]
mod cnn_model;
#[path = "../common/mod.rs"]
mod common;

use common::batch_norm_step;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tapegrad::core::{Conv2dConfig, Gradients, OpTimes, Param, Tape, Tensor, Var};
use tapegrad::data::{find_mnist_file, read_idx, BatchConfig, MnistLocation, Split};
use tapegrad::layers::{Activation, BatchNorm1d, Mlp, Mode, Module, Sequential};
use tapegrad::optim::{Momentum, Sgd, SgdConfig};
use tapegrad::train::{peak_rss_bytes, train_epoch, train_step};

const SEED: u64 = 0;
/// Warm-up steps before the timed epoch: enough to fault in every buffer.
const WARMUP_STEPS: usize = 5;
const BN_SHAPES: [(usize, usize); 5] = [
    (60, 100),
    (128, 512),
    (256, 1024),
    (1024, 1024),
    (4096, 256),
];

/// The model of a training workload.
enum Net {
    /// An MLP of these widths and this activation.
    Mlp(&'static [usize], Activation),
    /// PyTorch's MNIST example net.
    Cnn,
}

/// One training workload: the model, the optimizer and the batch size.
struct TrainSpec {
    net: Net,
    batch_norm: bool,
    batch: usize,
    lr: f64,
    momentum: f64,
}

const MLP: &[usize] = &[784, 512, 256, 10];
const SIGMOID_NET: &[usize] = &[784, 100, 100, 100, 10];

fn train_spec(name: &str) -> Option<TrainSpec> {
    let (batch_norm, rest) = match name.strip_prefix("mlp_bn_epoch_b") {
        Some(rest) => (true, rest),
        None => (false, name.strip_prefix("mlp_epoch_b").unwrap_or("")),
    };
    if let Ok(batch @ (32 | 128 | 512)) = rest.parse::<usize>() {
        return Some(TrainSpec {
            net: Net::Mlp(MLP, Activation::Relu),
            batch_norm,
            batch,
            // 0.1 from batch 128 up, scaled linearly below: at batch 32, lr 0.1 with momentum
            // 0.9 diverges (in both frameworks), as `mlp_lr` in torch_workloads.py says.
            lr: 0.1 * (batch as f64 / 128.0).min(1.0),
            momentum: 0.9,
        });
    }
    if let Some(batch_norm) = [("cnn_epoch", false), ("cnn_bn_epoch", true)]
        .into_iter()
        .find_map(|(cnn, bn)| (name == cnn).then_some(bn))
    {
        // The settings of PyTorch's MNIST example, as `mnist_cnn` has them.
        return Some(TrainSpec {
            net: Net::Cnn,
            batch_norm,
            batch: 64,
            lr: 0.05,
            momentum: 0.9,
        });
    }
    let batch_norm = match name {
        "sigmoid3x100_b60_1000steps" => false,
        "sigmoid3x100_bn_b60_1000steps" => true,
        _ => return None,
    };
    Some(TrainSpec {
        net: Net::Mlp(SIGMOID_NET, Activation::Sigmoid),
        batch_norm,
        batch: 60,
        lr: 0.5,
        momentum: 0.0,
    })
}

fn workload_names() -> Vec<String> {
    let mut names = Vec::new();
    for bn in ["", "_bn"] {
        for b in [32, 128, 512] {
            names.push(format!("mlp{bn}_epoch_b{b}"));
        }
    }
    for bn in ["", "_bn"] {
        names.push(format!("sigmoid3x100{bn}_b60_1000steps"));
    }
    names.push("cnn_epoch".into());
    names.push("cnn_bn_epoch".into());
    for (n, c) in BN_SHAPES {
        names.push(format!("bn_fwd_bwd_{n}x{c}"));
    }
    for (suffix, ..) in CONV_SHAPES {
        names.push(format!("conv2d_fwd_bwd_{suffix}"));
    }
    names.push("bn_cost_b128".into());
    names.push("cnn_bn_cost_b64".into());
    names.push("peak_rss_mnist_train".into());
    for (n, c) in BN_SHAPES {
        names.push(format!("bn_fusion_{n}x{c}"));
    }
    names
}

/// The MNIST train split only (the PyTorch side loads no test set either).
fn load_train(data: Option<&Path>) -> Split {
    let dir = MnistLocation::resolve(data).dir;
    let read = |name: &str| {
        let path = find_mnist_file(&dir, name).unwrap_or_else(|| {
            fail(&format!(
                "no {name}[.gz] in {} (use --data DIR or MNIST_DIR)",
                dir.display()
            ))
        });
        let array = read_idx(&path).unwrap_or_else(|e| fail(&e.to_string()));
        (path, array)
    };
    let (images_path, images) = read("train-images-idx3-ubyte");
    let (labels_path, labels) = read("train-labels-idx1-ubyte");
    Split::from_idx(images, labels, &images_path, &labels_path)
        .unwrap_or_else(|e| fail(&e.to_string()))
}

/// A training workload's model and optimizer.
fn model_and_optimizer(spec: &TrainSpec) -> (Sequential, Sgd) {
    let model = match spec.net {
        Net::Mlp(widths, activation) => Mlp::new(widths)
            .activation(activation)
            .batch_norm(spec.batch_norm)
            .seed(SEED)
            .build(),
        Net::Cnn => {
            cnn_model::mnist_cnn(SEED, spec.batch_norm).unwrap_or_else(|e| fail(&e.to_string()))
        }
    };
    let momentum = (spec.momentum > 0.0).then_some(Momentum::Classic(spec.momentum));
    let sgd = Sgd::new(SgdConfig {
        lr: spec.lr,
        momentum,
        ..SgdConfig::default()
    })
    .unwrap_or_else(|e| fail(&e.to_string()));
    (model, sgd)
}

/// The times of `Tape::time_ops` as JSON, one object per kind of op.
fn op_times_json(times: &OpTimes) -> Value {
    let ops: Vec<Value> = (times.ops().iter())
        .map(|t| {
            json!({
                "name": t.name,
                "forward_calls": t.forward_calls, "forward_s": t.forward.as_secs_f64(),
                "backward_calls": t.backward_calls, "backward_s": t.backward.as_secs_f64(),
            })
        })
        .collect();
    json!(ops)
}

/// Times `repeat` shuffled epochs (one model, trained on), after the warm-up steps.
fn train_workload(spec: &TrainSpec, data: Option<&Path>, repeat: usize, op_times: bool) -> Value {
    let train = load_train(data);
    let (mut model, mut sgd) = model_and_optimizer(spec);
    let mut tape = Tape::new();
    // A tiny last batch would give BatchNorm noisy statistics: BN runs drop it, as PyTorch's.
    let config = |seed| BatchConfig::shuffled(spec.batch, seed).drop_last(spec.batch_norm);

    let mut warm = train.batches(config(SEED + 1));
    for _ in 0..WARMUP_STEPS {
        let batch = warm.next_batch().expect("a warm-up batch");
        train_step(&mut tape, &mut model, &mut sgd, batch.images, batch.labels)
            .unwrap_or_else(|e| fail(&e.to_string()));
    }

    let mut batches = train.batches(config(SEED));
    tape.time_ops(op_times);
    let (mut samples, mut last_loss, mut steps) = (Vec::new(), f32::NAN, 0);
    for epoch in 0..repeat {
        let stats = train_epoch(&mut tape, &mut model, &mut sgd, &mut batches, epoch, |s| {
            last_loss = s.loss;
        })
        .unwrap_or_else(|e| fail(&e.to_string()));
        samples.push(stats.seconds);
        steps = stats.steps;
    }
    let mut result = json!({
        "seconds": median(&samples), "samples": samples, "last_loss": last_loss,
        "optimizer": "SGD", "batch": spec.batch, "drop_last": spec.batch_norm, "steps": steps,
    });
    if let Some(times) = tape.take_op_times() {
        eprintln!("{times}\nepochs: {:.3} s", samples.iter().sum::<f64>());
        result["op_times"] = op_times_json(&times);
    }
    result
}

/// `bn_cost_b{batch}` (the MLP) and `cnn_bn_cost_b64` (the CNN): the net without and with
/// BatchNorm, each with its own tape and optimizer, trained in turns on the same batches,
/// which of the two goes first alternating from step to step, so that a slow spell of the
/// host falls on both alike. Per repeat one epoch (a fresh shuffle) of each; only the
/// training steps are timed. `workloads`: the two nets' training workloads.
fn bn_cost_workload(
    workloads: [String; 2],
    data: Option<&Path>,
    repeat: usize,
    op_times: bool,
) -> Value {
    let train = load_train(data);
    let specs = workloads.map(|n| train_spec(&n).expect("a known training workload"));
    let batch = specs[0].batch;
    let mut runs: Vec<(Sequential, Sgd, Tape)> = (specs.iter())
        .map(|spec| {
            let (model, sgd) = model_and_optimizer(spec);
            (model, sgd, Tape::new())
        })
        .collect();
    // Both drop the last partial batch, so that they see the same batches.
    let config = |seed| BatchConfig::shuffled(batch, seed).drop_last(true);
    // The seconds of one training step of `run`.
    let step = |(model, sgd, tape): &mut (Sequential, Sgd, Tape),
                images: &[f32],
                labels: &[usize]| {
        seconds(|| {
            train_step(tape, model, sgd, images, labels).unwrap_or_else(|e| fail(&e.to_string()));
        })
    };
    let mut warm = train.batches(config(SEED + 1));
    for _ in 0..WARMUP_STEPS {
        let b = warm.next_batch().expect("a warm-up batch");
        runs.iter_mut()
            .for_each(|run| _ = step(run, b.images, b.labels));
    }
    runs.iter_mut().for_each(|run| run.2.time_ops(op_times));
    let (mut without, mut with, mut steps) = (Vec::new(), Vec::new(), 0);
    for r in 0..repeat {
        let mut seconds = [0.0; 2];
        let mut batches = train.batches(config(SEED + 2 + r as u64));
        steps = 0;
        while let Some(b) = batches.next_batch() {
            for turn in 0..2 {
                let i = (steps + turn) % 2;
                seconds[i] += step(&mut runs[i], b.images, b.labels);
            }
            steps += 1;
        }
        without.push(seconds[0]);
        with.push(seconds[1]);
    }
    let ratios: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w / o).collect();
    let mut result = json!({
        "bn_cost": median(&ratios), "samples": ratios, "seconds_without": without,
        "seconds_with": with, "batch": batch, "drop_last": true, "steps": steps,
    });
    if op_times {
        let [plain, bn] = [0, 1].map(|i| {
            let times = runs[i].2.take_op_times().expect("timing");
            eprintln!("{} BatchNorm:\n{times}\n", ["without", "with"][i]);
            op_times_json(&times)
        });
        result["op_times"] = json!({ "without": plain, "with": bn });
    }
    result
}

/// `BatchNorm1d(c)` in training mode: forward on `x: [n, c]`, then the backward of `dy`
/// giving the gradients of `x`, gamma and beta. `x` is a leaf that needs a gradient (a
/// [`Param`], like PyTorch's `x.requires_grad_()`).
fn bn_workload(n: usize, c: usize, repeat: usize) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let x = Param::new(normal(&[n, c], &mut rng));
    let dy = normal(&[n, c], &mut rng);
    let mut bn = BatchNorm1d::new(c);
    let forward = |tape: &mut Tape| {
        let xv = tape.param(&x);
        bn.forward(tape, xv, Mode::Train)
    };
    fwd_bwd_workload(repeat, &dy, forward, |grads| grads.param(&x).is_some())
}

/// The two convolutions of PyTorch's MNIST example net at batch 64: `(name suffix, c_in,
/// c_out, input side)`, a 3x3 kernel, stride 1, no padding.
const CONV_SHAPES: [(&str, usize, usize, usize); 2] =
    [("c1_32", 1, 32, 28), ("c32_64", 32, 64, 26)];
const CONV_BATCH: usize = 64;

/// `conv2d_fwd_bwd_{suffix}`: one `conv2d` with bias, forward, then the backward of `dy` giving
/// the gradients of the weight and the bias, and of the input for the second convolution
/// only (the first one's input is the data batch, which needs none, as in the net).
fn conv_workload(suffix: &str, repeat: usize) -> Value {
    let &(_, c_in, c_out, side) = CONV_SHAPES
        .iter()
        .find(|s| s.0 == suffix)
        .unwrap_or_else(|| fail(&format!("no convolution {suffix:?}")));
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let x = normal(&[CONV_BATCH, c_in, side, side], &mut rng);
    let x = if c_in > 1 { Ok(Param::new(x)) } else { Err(x) };
    let weight = Param::new(normal(&[c_out, c_in, 3, 3], &mut rng));
    let bias = Param::new(normal(&[c_out], &mut rng));
    let dy = normal(&[CONV_BATCH, c_out, side - 2, side - 2], &mut rng);
    let forward = |tape: &mut Tape| {
        let xv = match &x {
            Ok(param) => tape.param(param),
            Err(batch) => tape.constant_from_slice(batch.shape(), batch.data()),
        };
        let (w, b) = (tape.param(&weight), tape.param(&bias));
        tape.conv2d(xv, w, Some(b), Conv2dConfig::default())
    };
    let wanted = |grads: &Gradients| [&weight, &bias].iter().all(|p| grads.param(p).is_some());
    fwd_bwd_workload(repeat, &dy, forward, wanted)
}

/// Times `forward` on a reset tape and the backward of `dy` through its output, one
/// iteration at a time: a 200 ms warm-up block, then `repeat` blocks of at least 1 s and 30
/// iterations; the median over the blocks of each block's median, in microseconds
/// (per-iteration medians are robust to the other jobs on a shared machine). `wanted` says
/// whether the gradients asked for came out. The seed is the tape's to consume: its copy is
/// made before the clock starts.
fn fwd_bwd_workload(
    repeat: usize,
    dy: &Tensor,
    mut forward: impl FnMut(&mut Tape) -> Var,
    wanted: impl Fn(&Gradients) -> bool,
) -> Value {
    let mut tape = Tape::new();
    let mut iteration = |dy: Tensor| {
        tape.reset();
        let y = forward(&mut tape);
        let grads = tape.backward_with(y, dy);
        assert!(wanted(&grads), "a gradient is missing");
        tape.recycle(grads);
    };
    let mut block = |budget: Duration| {
        let (mut times, end) = (Vec::new(), Instant::now() + budget);
        while times.len() < 30 || Instant::now() < end {
            let seed = dy.clone();
            times.push(seconds(|| iteration(seed)));
        }
        times
    };
    block(Duration::from_millis(200));
    let blocks: Vec<Vec<f64>> = (0..repeat).map(|_| block(Duration::from_secs(1))).collect();
    let samples: Vec<f64> = blocks.iter().map(|b| median(b) * 1e6).collect();
    json!({
        "us_per_iter": median(&samples), "samples": samples,
        "iterations": blocks.iter().map(Vec::len).sum::<usize>(),
    })
}

/// Block pairs per `--repeat` of `bn_fusion_*`.
const FUSION_PAIRS: usize = 40;

/// `bn_fusion_{n}x{c}`: [`batch_norm_step`] fused and composed, in alternating blocks of
/// about 10 ms of fused iterations (the composed block the same number of iterations), the
/// first of a pair alternating too. Criterion measures the two for seconds each, one after
/// the other, and the host's speed can change between them (single runs at 60x100 gave
/// 2.9x to 5.5x); here each pair of blocks is measured within milliseconds.
/// `fusion_speedup` is the median over the pairs of the composed block's median iteration
/// over the fused block's.
fn bn_fusion_workload(n: usize, c: usize, repeat: usize) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let x = Param::new(normal(&[n, c], &mut rng));
    let (gamma, beta) = (
        Param::new(normal(&[c], &mut rng)),
        Param::new(normal(&[c], &mut rng)),
    );
    let dy = normal(&[n, c], &mut rng);
    let mut tapes = [Tape::new(), Tape::new()];
    // The median seconds of one iteration over a block of `iterations`.
    let mut block = |fused: bool, iterations: usize| {
        let tape = &mut tapes[usize::from(fused)];
        let times: Vec<f64> = (0..iterations)
            .map(|_| {
                let seed = dy.clone();
                seconds(|| batch_norm_step(tape, fused, &x, (&gamma, &beta), seed))
            })
            .collect();
        median(&times)
    };
    // Warm both up, and size the blocks from the fused op's time.
    let warm = block(true, 50);
    block(false, 50);
    let iterations = ((0.01 / warm) as usize).clamp(5, 10_000);
    let (mut fused, mut composed, mut speedups) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..FUSION_PAIRS * repeat {
        let (f, k) = if pair % 2 == 0 {
            let f = block(true, iterations);
            (f, block(false, iterations))
        } else {
            let k = block(false, iterations);
            (block(true, iterations), k)
        };
        fused.push(f);
        composed.push(k);
        speedups.push(k / f);
    }
    let (lowest, highest) = (
        speedups.iter().copied().fold(f64::INFINITY, f64::min),
        speedups.iter().copied().fold(0.0, f64::max),
    );
    json!({
        "fusion_speedup": median(&speedups), "speedup_range": [lowest, highest],
        "fused_us": median(&fused) * 1e6, "composed_us": median(&composed) * 1e6,
        "pairs": speedups.len(), "iterations_per_block": iterations,
    })
}

/// Peak RSS of loading MNIST's train split and training one `mlp_epoch_b128` epoch.
fn peak_rss_workload(data: Option<&Path>) -> Value {
    let spec = train_spec("mlp_epoch_b128").expect("a known workload");
    let result = train_workload(&spec, data, 1, false);
    json!({
        "peak_rss_bytes": peak_rss_bytes().unwrap_or_else(|| fail("no peak RSS on this platform")),
        "epoch_seconds": result["seconds"],
    })
}

/// Standard normal samples, seeded.
fn normal(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor {
    let numel = shape.iter().product();
    let data = (0..numel).map(|_| rng.sample(StandardNormal)).collect();
    Tensor::from_vec(shape.to_vec(), data)
}

/// `(n, c)` from `"{n}x{c}"`, or exit with an error.
fn parse_shape(shape: &str) -> (usize, usize) {
    shape
        .split_once('x')
        .and_then(|(n, c)| Some((n.parse().ok()?, c.parse().ok()?)))
        .unwrap_or_else(|| fail(&format!("not a shape NxC: {shape:?}")))
}

/// The wall time of `f`, in seconds.
fn seconds(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

struct Args {
    workload: String,
    data: Option<PathBuf>,
    repeat: usize,
    op_times: bool,
}

fn parse_args() -> Args {
    let usage = "usage: workloads WORKLOAD [--data DIR] [--repeat K] [--op-times] | --list";
    let (mut workload, mut data, mut repeat, mut op_times) = (None, None, 1, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {} // appended by `cargo bench`
            "--list" => {
                println!("{}", workload_names().join("\n"));
                std::process::exit(0);
            }
            "--op-times" => op_times = true,
            "--data" => data = Some(PathBuf::from(args.next().unwrap_or_else(|| fail(usage)))),
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|k| k.parse().ok())
                    .filter(|&k| k >= 1)
                    .unwrap_or_else(|| fail("--repeat takes an integer >= 1"))
            }
            name if !name.starts_with('-') && workload.is_none() => workload = Some(arg),
            other => fail(&format!("unexpected argument {other:?}; {usage}")),
        }
    }
    let workload = workload.unwrap_or_else(|| fail(usage));
    if !workload_names().contains(&workload) {
        fail(&format!("unknown workload {workload:?}; see --list"));
    }
    if op_times && train_spec(&workload).is_none() && !workload.contains("bn_cost_b") {
        fail("--op-times applies to the training workloads (mlp*, sigmoid3x100*, cnn*, bn_cost*)");
    }
    Args {
        workload,
        data,
        repeat,
        op_times,
    }
}

fn main() {
    let args = parse_args();
    let data = args.data.as_deref();
    let name = args.workload.as_str();
    let measured = if let Some(spec) = train_spec(name) {
        train_workload(&spec, data, args.repeat, args.op_times)
    } else if let Some(batch) = name.strip_prefix("bn_cost_b") {
        let pair = ["", "_bn"].map(|bn| format!("mlp{bn}_epoch_b{batch}"));
        bn_cost_workload(pair, data, args.repeat, args.op_times)
    } else if name == "cnn_bn_cost_b64" {
        let pair = ["cnn_epoch", "cnn_bn_epoch"].map(String::from);
        bn_cost_workload(pair, data, args.repeat, args.op_times)
    } else if name == "peak_rss_mnist_train" {
        peak_rss_workload(data)
    } else if let Some(suffix) = name.strip_prefix("conv2d_fwd_bwd_") {
        conv_workload(suffix, args.repeat)
    } else if let Some(shape) = name.strip_prefix("bn_fusion_") {
        let (n, c) = parse_shape(shape);
        bn_fusion_workload(n, c, args.repeat)
    } else {
        let shape = name.strip_prefix("bn_fwd_bwd_");
        let (n, c) =
            parse_shape(shape.unwrap_or_else(|| fail(&format!("unknown workload {name:?}"))));
        bn_workload(n, c, args.repeat)
    };
    let mut result = json!({ "framework": "tapegrad", "workload": name });
    result
        .as_object_mut()
        .expect("an object")
        .extend(measured.as_object().expect("an object").clone());
    result["threads"] = json!(rayon::current_num_threads());
    println!("{result}");
}
