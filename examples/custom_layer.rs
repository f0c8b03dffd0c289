//! Layers written outside tapegrad's crates, on its public API only (docs/EXTENDING.md builds
//! them): LayerNorm, a fused op with a hand-written backward, and LeakyReLU. Checks both
//! against finite differences, then trains the same MLP on MNIST with LayerNorm and with
//! BatchNorm at a small and a large batch size, and prints their test accuracies.
//!
//! `cargo run --release --example custom_layer`   (`-- --help` lists the flags)
//!
//! Exit status: 0 done, 1 a gradient check failed, 2 bad arguments or data, 3 training diverged.
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use std::process::ExitCode;
use tapegrad::core::{gradcheck, GradcheckReport, Tensor};
use tapegrad::data::{BatchConfig, Mnist};
use tapegrad::layers::{seeded_rng, BatchNorm1d, Linear, Sequential};
use tapegrad::optim::Momentum;
use tapegrad::prelude::*;
use tapegrad::train::{evaluate, train_epoch, EvalStats};
use tapegrad_extending_example::{layer_norm, leaky_relu, LayerNorm, LeakyRelu};

/// The flags' values.
struct Args {
    /// `--hidden`: the hidden layers' widths.
    hidden: Vec<u32>,
    /// `--batch-sizes`: one pair of runs (LayerNorm, BatchNorm) for each.
    batch_sizes: Vec<u32>,
    /// `--lrs`: the learning rate of each batch size's runs.
    lrs: Vec<f64>,
    /// `--epochs`: epochs of each run.
    epochs: u32,
    /// `--seed`: the initialisation's and the shuffling's.
    seed: u64,
}

impl Args {
    /// The process's flags; on a bad one clap prints what and why and exits 2. Declared with
    /// clap's builder, not its derive macro: cargo unifies clap's features across tapegrad's
    /// workspace, so a `derive` here would put clap_derive and heck into the build of every
    /// example, `mnist_mlp` included.
    fn parse() -> Self {
        let list = |arg: Arg| arg.action(ArgAction::Append).value_delimiter(',');
        let matches = Command::new("custom_layer")
            .about(
                "LayerNorm and LeakyReLU written outside tapegrad: gradcheck, then MNIST \
                 against BatchNorm",
            )
            .args([
                list(option("hidden", "HIDDEN", "256,128"))
                    .help("Hidden layer widths, comma-separated")
                    .value_parser(value_parser!(u32).range(1..)),
                list(option("batch-sizes", "BATCH_SIZES", "4,128"))
                    .help(
                        "Batch sizes to compare, comma-separated (each at least 2: BatchNorm \
                         needs two rows)",
                    )
                    .value_parser(value_parser!(u32).range(2..)),
                list(option("lrs", "LRS", "0.01,0.1"))
                    .help("SGD learning rate for each batch size, comma-separated (momentum 0.9)")
                    .value_parser(value_parser!(f64)),
                option("epochs", "EPOCHS", "1")
                    .help("Epochs of training for each run")
                    .value_parser(value_parser!(u32).range(1..)),
                option("seed", "SEED", "0")
                    .help("Seed of the initialisation and the shuffling (the same for every run)")
                    .value_parser(value_parser!(u64)),
            ])
            .get_matches();
        Args {
            hidden: values(&matches, "hidden"),
            batch_sizes: values(&matches, "batch-sizes"),
            lrs: values(&matches, "lrs"),
            epochs: *matches.get_one("epochs").expect("--epochs has a default"),
            seed: *matches.get_one("seed").expect("--seed has a default"),
        }
    }
}

/// `--NAME <VALUE>` with its default, as clap's derive spells a field's flag.
fn option(name: &'static str, value_name: &'static str, default: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value_name)
        .default_value(default)
}

/// The values of the list flag `id`.
fn values<T: Copy + Send + Sync + 'static>(matches: &ArgMatches, id: &str) -> Vec<T> {
    matches
        .get_many(id)
        .into_iter()
        .flatten()
        .copied()
        .collect()
}

/// The normalisation after each hidden Linear.
#[derive(Clone, Copy, Debug)]
enum Norm {
    Layer,
    Batch,
}

/// `Linear -> norm -> LeakyReLU` per hidden width, then the output `Linear`; the weights
/// are the same for both norms (the same seed, drawn in the same order).
fn mlp(widths: &[usize], norm: Norm, seed: u64) -> Sequential {
    let mut rng = seeded_rng(seed);
    let mut model = Sequential::new();
    for (i, pair) in widths.windows(2).enumerate() {
        model.push(Linear::new(pair[0], pair[1], &mut rng));
        if i + 2 < widths.len() {
            match norm {
                Norm::Layer => model.push(LayerNorm::new(pair[1])),
                Norm::Batch => model.push(BatchNorm1d::new(pair[1])),
            };
            model.push(LeakyRelu::default());
        }
    }
    model
}

/// Deterministic inputs of unit scale, alternating in sign and at least 0.1 away from
/// LeakyReLU's kink at 0 (a finite difference across it would measure neither slope).
fn inputs(shape: &[usize], phase: f32) -> Tensor {
    let n = shape.iter().product();
    let magnitude = |i: usize| 0.1 + (i as f32 * 0.37 + phase).fract();
    let data = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                magnitude(i)
            } else {
                -magnitude(i)
            }
        })
        .collect();
    Tensor::from_vec(shape.to_vec(), data)
}

/// Both new ops against central finite differences (LayerNorm with respect to its input,
/// gain and bias, on a batch of several rows and on one row).
fn check_gradients() -> Result<Vec<(&'static str, GradcheckReport)>, String> {
    let relu = gradcheck(&[inputs(&[8, 5], 0.0)], |t, v| leaky_relu(t, v[0], 0.01));
    let mut reports = vec![("leaky_relu", relu.map_err(|e| e.to_string())?)];
    for (name, rows) in [("layer_norm, 8 rows", 8), ("layer_norm, 1 row", 1)] {
        let args = [
            inputs(&[rows, 6], 1.0),
            inputs(&[6], 2.0),
            inputs(&[6], 3.0),
        ];
        let report = gradcheck(&args, |t, v| layer_norm(t, v[0], v[1], v[2], 1e-5));
        reports.push((name, report.map_err(|e| format!("{name}: {e}"))?));
    }
    Ok(reports)
}

/// How much the training-mode output for the first 8 test images changes when they are
/// run in a batch of their own instead of among the first 128 (largest `|difference|`).
/// Training mode moves BatchNorm's running statistics: call it after evaluating.
fn batch_dependence(model: &mut Sequential, mnist: &Mnist) -> f32 {
    let pixels = mnist.test.pixels_per_image();
    let mut batches = mnist.test.batches(BatchConfig::sequential(128));
    let batch = batches.next_batch().expect("the test split has 128 images");
    let mut logits = |rows: usize| {
        let mut tape = Tape::new();
        let y = tape.no_grad(|tape| {
            let x = tape.constant_from_slice(&[rows, pixels], &batch.images[..rows * pixels]);
            model.forward(tape, x, Mode::Train)
        });
        tape.value(y).data()[..8 * 10].to_vec()
    };
    let (alone, among) = (logits(8), logits(128));
    alone
        .iter()
        .zip(&among)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
}

/// What one training run measured.
struct Run {
    test: EvalStats,
    train_seconds: f64,
    batch_dependence: f32,
}

/// Trains a fresh MLP with `norm` for `args.epochs` epochs at `batch_size`, then tests it.
fn train_and_test(
    mnist: &Mnist,
    widths: &[usize],
    norm: Norm,
    batch_size: usize,
    lr: f64,
    args: &Args,
) -> Result<Run, String> {
    let mut model = mlp(widths, norm, args.seed);
    let config = SgdConfig {
        lr,
        momentum: Some(Momentum::Classic(0.9)),
        ..Default::default()
    };
    let mut sgd = Sgd::new(config).map_err(|e| format!("--lrs {lr}: {e}"))?;
    let mut batches = mnist
        .train
        .batches(BatchConfig::shuffled(batch_size, args.seed).drop_last(true));
    let mut tape = Tape::new();
    let mut train_seconds = 0.0;
    for epoch in 0..args.epochs as usize {
        let stats = train_epoch(&mut tape, &mut model, &mut sgd, &mut batches, epoch, |_| {})
            .map_err(|e| format!("{norm:?}Norm at batch {batch_size}: {e}"))?;
        train_seconds += stats.seconds;
    }
    let test = evaluate(&mut model, &mnist.test, Mode::Eval);
    Ok(Run {
        test,
        train_seconds,
        batch_dependence: batch_dependence(&mut model, mnist),
    })
}

fn run(args: &Args) -> Result<(), (u8, String)> {
    if args.lrs.len() != args.batch_sizes.len() {
        return Err((
            2,
            format!(
                "{} learning rates for {} batch sizes",
                args.lrs.len(),
                args.batch_sizes.len()
            ),
        ));
    }
    for (name, r) in check_gradients().map_err(|e| (1, format!("gradcheck failed: {e}")))? {
        println!(
            "gradcheck {name:<18} ok: {} elements, max |error| {:.1e}",
            r.elements, r.max_abs_error
        );
    }
    let mnist = Mnist::load(None).map_err(|e| (2, e.to_string()))?;
    let mut widths = vec![mnist.train.pixels_per_image()];
    widths.extend(args.hidden.iter().map(|&w| w as usize));
    widths.push(10);
    println!(
        "\nMLP {widths:?}, LeakyReLU, SGD momentum 0.9, {} epoch(s), seed {}",
        args.epochs, args.seed
    );
    println!("batch      lr  norm       test acc  test loss  train s  batch dependence");
    for (&batch_size, &lr) in args.batch_sizes.iter().zip(&args.lrs) {
        for norm in [Norm::Layer, Norm::Batch] {
            let run = train_and_test(&mnist, &widths, norm, batch_size as usize, lr, args)
                .map_err(|e| (3, e))?;
            println!(
                "{batch_size:>5}  {lr:>6}  {:<9}  {:>8.4}  {:>9.4}  {:>7.1}  {:>16.1e}",
                format!("{norm:?}Norm"),
                run.test.accuracy,
                run.test.loss,
                run.train_seconds,
                run.batch_dependence
            );
        }
    }
    println!("\nbatch dependence: the largest change of a training-mode logit of the first 8 test images");
    println!("when they form a batch of their own instead of sitting among the first 128.");
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((status, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(status)
        }
    }
}
