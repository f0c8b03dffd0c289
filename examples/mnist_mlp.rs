//! Train an MLP on MNIST, with PyTorch's defaults throughout.
//!
//! `cargo run --release --example mnist_mlp -- --epochs 1 --bn`   (`--help` lists the flags)
//!
//! Exit status: 0 done, 2 bad arguments or data, 3 training diverged.
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::{io::IsTerminal, path::Path, path::PathBuf, process::ExitCode};
use tapegrad::data::{BatchConfig, Mnist};
use tapegrad::layers::{Activation, Mlp};
use tapegrad::optim::{OptimizerKind, OptimizerSpec};
use tapegrad::prelude::*;
use tapegrad::train::{current_rss_bytes, evaluate, peak_rss_bytes, train_epoch, EpochError};

/// Every flag; the ones that shape the run are saved in checkpoints so that `--resume`
/// refuses a run with different ones.
#[derive(Parser, Serialize)]
// Negative numbers parse as values, so `--lr -0.1` is refused by the flag's own rule
// instead of as an unknown `-0` flag.
#[command(
    about = "Train a multi-layer perceptron on MNIST with tapegrad",
    allow_negative_numbers = true
)]
struct Args {
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,256", value_parser = clap::value_parser!(u32).range(1..))]
    hidden: Vec<u32>,
    /// Activation of the hidden layers.
    #[arg(long, value_enum, default_value_t = Act::Relu)]
    activation: Act,
    /// BatchNorm1d after each hidden Linear.
    #[arg(long)]
    bn: bool,
    /// Dropout probability after each hidden activation, in [0, 1).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    dropout: f32,
    /// The optimizer.
    #[arg(long, value_enum, default_value_t = Opt::Sgd)]
    optimizer: Opt,
    /// Learning rate [default: 0.1 for sgd, 0.001 for adam and adamw].
    #[arg(long, value_parser = non_negative)]
    lr: Option<f64>,
    /// SGD momentum (0 for none).
    #[arg(long, default_value_t = 0.9, value_parser = non_negative)]
    momentum: f64,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    nesterov: bool,
    /// Weight decay: L2 for sgd and adam, decoupled for adamw [default: 0, 0.01 for adamw].
    #[arg(long, value_parser = non_negative)]
    weight_decay: Option<f64>,
    /// Samples per batch.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Epochs in total (a resumed run continues up to this many).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// Seed of the initialisation, the shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads [default: all cores]; results are bit-identical for any count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(skip)]
    threads: Option<u32>,
    /// Folder with the MNIST files [default: $MNIST_DIR, else datasets/mnist, downloaded if missing].
    #[arg(long)]
    #[serde(skip)]
    data: Option<PathBuf>,
    /// Write a full checkpoint here after each epoch (atomically).
    #[arg(long)]
    #[serde(skip)]
    save: Option<PathBuf>,
    /// Continue the run saved in this checkpoint, up to --epochs in total.
    #[arg(long)]
    #[serde(skip)]
    resume: Option<PathBuf>,
    /// Write the final weights as safetensors with PyTorch's names.
    #[arg(long)]
    #[serde(skip)]
    export: Option<PathBuf>,
    /// Print one JSON object as the last line of stdout (and no progress bar).
    #[arg(long)]
    #[serde(skip)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum, Serialize)]
enum Act {
    Relu,
    Sigmoid,
    Tanh,
}
#[derive(Clone, Copy, ValueEnum, Serialize)]
enum Opt {
    Sgd,
    Adam,
    Adamw,
}

fn probability(s: &str) -> Result<f32, String> {
    let p: f32 = s.parse().map_err(|e| format!("{e}"))?;
    (0.0..1.0)
        .contains(&p)
        .then_some(p)
        .ok_or(format!("must be in [0, 1), got {p}"))
}

fn non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    (v >= 0.0 && v.is_finite())
        .then_some(v)
        .ok_or(format!("must be a finite number >= 0, got {v}"))
}

/// Why the run stopped: bad input (exit 2) or divergence (exit 3).
enum Failure {
    Input(String),
    Diverged(String),
}

fn input(e: impl ToString) -> Failure {
    Failure::Input(e.to_string())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Diverged(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}

/// A `--save` or `--export` path whose folder is missing would only fail after training.
fn writable(flag: &str, path: &Path) -> Result<(), Failure> {
    let folder_exists = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.is_dir(),
        None => true, // the current folder
    };
    if folder_exists && !path.is_dir() {
        Ok(())
    } else {
        Err(Failure::Input(format!(
            "{flag} {}: not a file in an existing folder",
            path.display()
        )))
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    for (flag, path) in [("--save", &args.save), ("--export", &args.export)] {
        path.as_deref().map_or(Ok(()), |p| writable(flag, p))?;
    }
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .map_err(input)?;
    }
    let kind = match args.optimizer {
        Opt::Sgd => OptimizerKind::Sgd,
        Opt::Adam => OptimizerKind::Adam,
        Opt::Adamw => OptimizerKind::AdamW,
    };
    let spec = OptimizerSpec {
        kind,
        lr: args.lr,
        momentum: args.momentum,
        nesterov: args.nesterov,
        weight_decay: args.weight_decay,
    };
    let mut optimizer = spec.build().map_err(input)?;
    let mnist = Mnist::load(args.data.as_deref()).map_err(input)?;

    let mut widths = vec![mnist.train.pixels_per_image()];
    widths.extend(args.hidden.iter().map(|&w| w as usize));
    widths.push(10);
    let activation = match args.activation {
        Act::Relu => Activation::Relu,
        Act::Sigmoid => Activation::Sigmoid,
        Act::Tanh => Activation::Tanh,
    };
    let mut model = Mlp::new(&widths)
        .activation(activation)
        .batch_norm(args.bn)
        .dropout(args.dropout)
        .seed(args.seed)
        .build();

    let settings = serde_json::to_string(args).expect("arguments serialise");
    let (first_epoch, mut steps_done) = match &args.resume {
        Some(path) => {
            let progress = Checkpoint::load(path)
                .and_then(|c| c.resume(&mut model, optimizer.as_mut(), &settings))
                .map_err(input)?;
            (progress.epochs_done, progress.steps_done)
        }
        None => (0, 0),
    };

    // A last batch of one would make BatchNorm fail in training, so BN runs drop it.
    let mut batches = mnist
        .train
        .batches(BatchConfig::shuffled(args.batch_size as usize, args.seed).drop_last(args.bn));
    let show_bar = std::io::stdout().is_terminal() && !args.json;
    let mut tape = Tape::new();
    let (mut last, mut train_seconds) = (None, 0.0);
    for epoch in first_epoch..args.epochs as usize {
        let target = if show_bar {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(batches.batches_per_epoch() as u64), target);
        bar.set_style(
            ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} eta {eta}")
                .expect("template"),
        );
        bar.set_message(format!("{}/{}", epoch + 1, args.epochs));
        let train = train_epoch(
            &mut tape,
            &mut model,
            optimizer.as_mut(),
            &mut batches,
            epoch,
            |_| bar.inc(1),
        )
        .map_err(|e| match e {
            EpochError::Diverged(d) => Failure::Diverged(d.to_string()),
            other => input(other),
        })?;
        bar.finish_and_clear();
        let test = evaluate(&mut model, &mnist.test, Mode::Eval);
        train_seconds += train.seconds;
        steps_done += train.steps as u64;
        // Resident memory after each epoch: a long run shows it flat (docs/RELIABILITY.md).
        let rss_mib = current_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64;
        println!(
            "epoch {:>2}/{}  train loss {:.4}  train acc {:.4}  test loss {:.4}  test acc {:.4}  {:.2} s  rss {rss_mib:.0} MiB",
            epoch + 1, args.epochs, train.loss, train.accuracy, test.loss, test.accuracy, train.seconds
        );
        if let Some(path) = &args.save {
            let progress = Progress {
                epochs_done: epoch + 1,
                steps_done,
                schedule: None,
                rng: None,
                settings: settings.clone(),
            };
            Checkpoint::of_model(&model)
                .with_optimizer(optimizer.state())
                .with_progress(progress)
                .save(path)
                .map_err(input)?;
        }
        last = Some((train, test));
    }
    if let Some(path) = &args.export {
        export_safetensors(&model, path).map_err(input)?;
    }
    if first_epoch >= args.epochs as usize {
        eprintln!(
            "the checkpoint has already trained {first_epoch} of --epochs {}: nothing to do",
            args.epochs
        );
    }
    if args.json {
        let test = last.map_or_else(
            || evaluate(&mut model, &mnist.test, Mode::Eval),
            |(_, test)| test,
        );
        let train = last.map(|(train, _)| train);
        let epochs_run = args.epochs as usize - first_epoch.min(args.epochs as usize);
        let summary = serde_json::json!({
            "test_accuracy": test.accuracy, "test_loss": test.loss, "train_loss": train.map(|t| t.loss),
            "train_accuracy": train.map(|t| t.accuracy), "epochs": args.epochs, "epochs_run": epochs_run,
            "train_seconds": train_seconds, "seconds_per_epoch": train_seconds / epochs_run.max(1) as f64,
            "peak_rss_bytes": peak_rss_bytes(), "params": model.param_count(), "bn": args.bn,
            "seed": args.seed, "batch_size": args.batch_size, "threads": rayon::current_num_threads(),
        });
        println!("{summary}");
    }
    Ok(())
}
