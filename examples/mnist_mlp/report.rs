//! What the run prints: a progress bar while an epoch trains, one line per epoch, and the
//! JSON summary of `--json`.

use crate::args::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;
use tapegrad::prelude::*;
use tapegrad::train::{current_rss_bytes, peak_rss_bytes, EpochStats};

/// A progress bar over one epoch's batches, drawn only where someone watches it.
pub fn progress_bar(args: &Args, batches: usize, epoch: usize) -> ProgressBar {
    let visible = std::io::stdout().is_terminal() && !args.json;
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
    bar.set_message(format!("{}/{}", epoch + 1, args.epochs));
    bar
}

/// The training loss and accuracy of an epoch, each step's measured before its update.
pub struct EpochMeter {
    started: Instant,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    steps: usize,
}

impl EpochMeter {
    /// A meter whose clock starts now.
    pub fn start() -> Self {
        EpochMeter {
            started: Instant::now(),
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            steps: 0,
        }
    }

    /// Counts one step over a batch of `samples`, `correct` of them classified correctly.
    pub fn add(&mut self, loss: f32, correct: usize, samples: usize) {
        self.loss_sum += loss as f64 * samples as f64;
        self.correct += correct;
        self.seen += samples;
        self.steps += 1;
    }

    /// The steps counted so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The epoch's figures.
    pub fn finish(&self) -> EpochStats {
        let seen = self.seen.max(1) as f64;
        EpochStats {
            loss: self.loss_sum / seen,
            accuracy: self.correct as f64 / seen,
            steps: self.steps,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// The line printed after each epoch, with the resident memory (a long run shows it flat,
/// docs/RELIABILITY.md).
pub fn print_epoch(args: &Args, epoch: usize, train: &EpochStats, test: &EvalStats) {
    let rss_mib = current_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64;
    println!(
        "epoch {:>2}/{}  train loss {:.4}  train acc {:.4}  test loss {:.4}  test acc {:.4}  {:.2} s  rss {rss_mib:.0} MiB",
        epoch + 1, args.epochs, train.loss, train.accuracy, test.loss, test.accuracy, train.seconds
    );
}

/// The one-line JSON summary of `--json`: the last epoch's figures (`train` is `None` when
/// no epoch ran) and the run's settings.
pub fn print_json(
    args: &Args,
    train: Option<EpochStats>,
    test: EvalStats,
    epochs_run: usize,
    train_seconds: f64,
    params: usize,
) {
    let summary = serde_json::json!({
        "test_accuracy": test.accuracy, "test_loss": test.loss, "train_loss": train.map(|t| t.loss),
        "train_accuracy": train.map(|t| t.accuracy), "epochs": args.epochs, "epochs_run": epochs_run,
        "train_seconds": train_seconds, "seconds_per_epoch": train_seconds / epochs_run.max(1) as f64,
        "peak_rss_bytes": peak_rss_bytes(), "params": params, "bn": args.bn,
        "seed": args.seed, "batch_size": args.batch_size, "threads": rayon::current_num_threads(),
    });
    println!("{summary}");
}
