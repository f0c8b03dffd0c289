//! Train an MLP on MNIST, with PyTorch's defaults throughout.
//!
//! `cargo run --release --example mnist_mlp -- --epochs 1 --bn`   (`--help` lists the flags)
//!
//! Exit status: 0 done, 2 bad arguments or data (refused before training), 3 training
//! diverged, 130 stopped by Ctrl-C, 141 stdout's reader went away (`| head`); the last two
//! after the current epoch's checkpoint is written, if one was being written.
//!
//! The training loop is [`run`]; the flags are declared and parsed in `cli.rs` and checked in
//! `args.rs`, what can only be checked once the data is known (threads, batches, memory) in
//! `preflight.rs`, checkpoints are read and written in `checkpointing.rs`, what is printed is
//! in `report.rs`, and Ctrl-C is caught in `interrupt.rs`.
mod args;
mod checkpointing;
mod cli;
mod interrupt;
mod preflight;
mod report;

use args::Args;
use std::process::ExitCode;
use tapegrad::prelude::*;
use tapegrad::train::{EpochError, EpochMeter};

/// How a run that did not fail ended.
enum Ended {
    /// Every epoch ran (exit 0).
    Done,
    /// Ctrl-C, after the current step and save (exit 130).
    Interrupted,
    /// Stdout was closed by its reader, after the current save (exit 141).
    ReaderGone,
}

/// Why the run stopped: bad input (exit 2) or divergence (exit 3).
enum Failure {
    Input(String),
    Diverged(String),
}

fn input(e: impl ToString) -> Failure {
    Failure::Input(e.to_string())
}

/// An epoch's error as the run's failure: a divergence exits 3, anything else 2.
fn failure(error: EpochError) -> Failure {
    match error {
        EpochError::Diverged(diverged) => Failure::Diverged(diverged.to_string()),
        other => input(other),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut out = report::Stdout::default();
    match run(&args, &mut out) {
        Ok(Ended::Done) => ExitCode::SUCCESS,
        Ok(Ended::Interrupted) => {
            report::error("interrupted: stopped after the current step; a --save checkpoint holds the last finished epoch");
            ExitCode::from(130)
        }
        Ok(Ended::ReaderGone) => ExitCode::from(141),
        Err(Failure::Input(message)) => {
            report::error(format_args!("error: {message}"));
            ExitCode::from(2)
        }
        Err(Failure::Diverged(message)) => {
            report::error(format_args!("error: {message}"));
            ExitCode::from(3)
        }
    }
}

fn run(args: &Args, out: &mut report::Stdout) -> Result<Ended, Failure> {
    args.validate().map_err(Failure::Input)?;
    preflight::start_threads(args).map_err(Failure::Input)?;
    let mut trainer = Trainer::new(args.optimizer().build().map_err(input)?);
    let mnist = Mnist::load(args.data.as_deref()).map_err(input)?;
    let pixels = mnist.train.pixels_per_image();
    preflight::check_batches(args, mnist.train.len()).map_err(Failure::Input)?;
    preflight::check_memory(args, pixels, mnist.train.len()).map_err(Failure::Input)?;
    interrupt::install();
    // check_memory refuses what would not fit in the available memory; this catches what it
    // cannot see, such as an address-space limit (`ulimit -v`).
    let mut model = args
        .model(pixels)
        .map_err(|e| input(format!("--hidden {}: {e}", args.hidden_list())))?;
    let (first_epoch, mut steps_done) =
        checkpointing::resume(args, &mut model, trainer.optimizer_mut().as_mut()).map_err(input)?;

    // A last batch of one would make BatchNorm fail in training, so BN runs drop it.
    let config = BatchConfig::shuffled(args.batch_size as usize, args.seed).drop_last(args.bn);
    let mut batches = mnist.train.batches(config);
    let (mut last, mut train_seconds) = (None, 0.0);
    for epoch in first_epoch..args.epochs as usize {
        let bar = report::progress_bar(args, batches.batches_per_epoch(), epoch);
        let mut meter = EpochMeter::start();
        batches.set_epoch(epoch);
        while let Some(batch) = batches.next_batch() {
            // Forward, loss, backward and optimizer step; the loss is checked before the update.
            let step = trainer.step(&mut model, |tape, model| {
                let x = tape.constant_from_slice(&[batch.len(), pixels], batch.images);
                let logits = model.forward(tape, x, Mode::Train);
                let loss = tape.cross_entropy(logits, batch.labels);
                (loss, count_correct(tape.value(logits), batch.labels))
            });
            let step = step.map_err(|e| failure(e.in_epoch(epoch, meter.steps() + 1)))?;
            meter.add(step.loss, step.output, batch.len());
            bar.inc(1);
            if interrupt::requested() {
                bar.finish_and_clear();
                return Ok(Ended::Interrupted);
            }
        }
        bar.finish_and_clear();
        let train = meter.finish();
        let test = evaluate(&mut model, &mnist.test, Mode::Eval);
        train_seconds += train.seconds;
        steps_done += train.steps as u64;
        report::print_epoch(out, args, epoch, &train, &test);
        if let Some(path) = &args.save {
            let optimizer = trainer.optimizer().as_ref();
            checkpointing::write_or_rescue(path, |path| {
                checkpointing::save(path, args, &model, optimizer, epoch + 1, steps_done)
            })
            .map_err(Failure::Input)?;
        }
        if interrupt::requested() {
            return Ok(Ended::Interrupted);
        }
        if out.reader_gone() {
            return Ok(Ended::ReaderGone);
        }
        last = Some((train, test));
    }
    if let Some(path) = &args.export {
        checkpointing::write_or_rescue(path, |path| export_safetensors(&model, path))
            .map_err(Failure::Input)?;
    }
    if first_epoch >= args.epochs as usize {
        report::error(format_args!(
            "the checkpoint has already trained {first_epoch} of --epochs {}: nothing to do",
            args.epochs
        ));
    }
    if args.json {
        let test = last.map_or_else(|| evaluate(&mut model, &mnist.test, Mode::Eval), |l| l.1);
        let epochs_run = args.epochs as usize - first_epoch.min(args.epochs as usize);
        let params = model.param_count();
        report::print_json(
            out,
            args,
            last.map(|l| l.0),
            test,
            epochs_run,
            train_seconds,
            params,
        );
    }
    Ok(Ended::Done)
}
