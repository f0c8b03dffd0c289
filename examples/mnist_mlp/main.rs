//! Train an MLP on MNIST, with PyTorch's defaults throughout.
//!
//! `cargo run --release --example mnist_mlp -- --epochs 1 --bn`   (`--help` lists the flags)
//!
//! Exit status: 0 done, 2 bad arguments or data, 3 training diverged.
mod args;

use args::Args;
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::{io::IsTerminal, process::ExitCode};
use tapegrad::data::{BatchConfig, Mnist};
use tapegrad::prelude::*;
use tapegrad::train::{current_rss_bytes, evaluate, peak_rss_bytes, train_epoch, EpochError};

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

/// A progress bar over one epoch's batches, drawn only where someone watches it.
fn progress_bar(batches: usize, visible: bool, message: String) -> ProgressBar {
    let target = if visible {
        ProgressDrawTarget::stdout()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(batches as u64), target);
    bar.set_style(
        ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} eta {eta}")
            .expect("template"),
    );
    bar.set_message(message);
    bar
}

fn run(args: &Args) -> Result<(), Failure> {
    args.validate().map_err(Failure::Input)?;
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .map_err(input)?;
    }
    let mut optimizer = args.optimizer().build().map_err(input)?;
    let mnist = Mnist::load(args.data.as_deref()).map_err(input)?;

    let mut model = args.model(mnist.train.pixels_per_image());

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
        let message = format!("{}/{}", epoch + 1, args.epochs);
        let bar = progress_bar(batches.batches_per_epoch(), show_bar, message);
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
