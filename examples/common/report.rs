//! What the run prints: a progress bar while an epoch trains, one line per epoch, and the
//! JSON summary of `--json`.
//!
//! Printing never stops training or saving: `println!` would panic when stdout is closed
//! (`mnist_mlp | head -1`) or full (`> /dev/full`), before that epoch's checkpoint is
//! written. Here a write error is remembered instead: a closed reader (broken pipe) ends the
//! run after the current save (exit 141, as a shell reports a process stopped by SIGPIPE);
//! any other error is reported once on stderr and the run goes on.

use super::run_flags::RunFlags;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Display;
use std::io::{ErrorKind, IsTerminal, Write};
use tapegrad::prelude::*;
use tapegrad::train::{current_rss_bytes, peak_rss_bytes, EpochStats};

/// Where the run's lines go: stdout, as long as someone reads it.
#[derive(Default)]
pub struct Stdout {
    reader_gone: bool,
    warned: bool,
}

impl Stdout {
    /// Writes `line` and a newline, flushed; an error is remembered, not raised.
    pub fn line(&mut self, line: impl Display) {
        if self.reader_gone {
            return;
        }
        let mut out = std::io::stdout().lock();
        let written = writeln!(out, "{line}").and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::BrokenPipe => self.reader_gone = true,
            Err(e) if !self.warned => {
                self.warned = true;
                error(format_args!("stdout: {e}; training and saving go on"));
            }
            Err(_) => {}
        }
    }

    /// Whether stdout's reader has closed it: the run should end after its current save.
    pub fn reader_gone(&self) -> bool {
        self.reader_gone
    }
}

/// Writes `message` on stderr; a failure to do so is ignored (`eprintln!` would panic, and
/// there is nowhere left to report it).
pub fn error(message: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// A progress bar over one epoch's batches, drawn only where someone watches it (indicatif
/// ignores its own write errors, so a terminal that goes away does not stop the run).
pub fn progress_bar(flags: &RunFlags, batches: usize, epoch: usize) -> ProgressBar {
    let visible = std::io::stdout().is_terminal() && !flags.json;
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
    bar.set_message(format!("{}/{}", epoch + 1, flags.epochs));
    bar
}

/// The line printed after each epoch, with the resident memory (a long run shows it flat,
/// docs/RELIABILITY.md).
pub fn print_epoch(
    out: &mut Stdout,
    flags: &RunFlags,
    epoch: usize,
    train: &EpochStats,
    test: &EvalStats,
) {
    let rss_mib = current_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64;
    out.line(format_args!(
        "epoch {:>2}/{}  train loss {:.4}  train acc {:.4}  test loss {:.4}  test acc {:.4}  {:.2} s  rss {rss_mib:.0} MiB",
        epoch + 1, flags.epochs, train.loss, train.accuracy, test.loss, test.accuracy, train.seconds
    ));
}

/// The one-line JSON summary of `--json`: the last epoch's figures (`train` is `None` when
/// no epoch ran) and the run's settings.
pub fn print_json(
    out: &mut Stdout,
    flags: &RunFlags,
    train: Option<EpochStats>,
    test: EvalStats,
    epochs_run: usize,
    train_seconds: f64,
    params: usize,
) {
    let summary = serde_json::json!({
        "test_accuracy": test.accuracy, "test_loss": test.loss, "train_loss": train.map(|t| t.loss),
        "train_accuracy": train.map(|t| t.accuracy), "epochs": flags.epochs, "epochs_run": epochs_run,
        "train_seconds": train_seconds, "seconds_per_epoch": train_seconds / epochs_run.max(1) as f64,
        "peak_rss_bytes": peak_rss_bytes(), "params": params, "bn": flags.bn,
        "seed": flags.seed, "batch_size": flags.batch_size, "threads": rayon::current_num_threads(),
    });
    out.line(summary);
}
