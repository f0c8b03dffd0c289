//! Train PyTorch's MNIST example convolutional net (two 3x3 convolutions, max-pooling,
//! dropout, two `Linear`s) with its settings: SGD lr 0.05 momentum 0.9, batch 64.
//!
//! `cargo run --release --example mnist_cnn`   (`--help` lists the flags)
//!
//! Exit status: 0 done, 2 bad arguments or data (refused before training), 3 training
//! diverged, 130 stopped by Ctrl-C, 141 stdout's reader went away (`| head`); the last two
//! after the current epoch's checkpoint is written, if one was being written.
//!
//! The training loop is [`run`]; the net is built in `model.rs`, the flags are declared and
//! parsed in `cli.rs` and hold their values in `args.rs`, the data and its limits are in
//! `data.rs`, the settings a checkpoint records in `settings.rs`, and the memory a run needs
//! is estimated in `memory.rs`. What every MNIST example shares is in `examples/common/`:
//! the flags every run has and their checks, the checks before training, checkpoints, what
//! is printed after each epoch and at the end, Ctrl-C, the exit status.
#[path = "../common/mod.rs"]
mod common;

mod args;
mod cli;
mod data;
mod memory;
mod model;
#[cfg(test)]
mod model_tests;
mod settings;

use args::Args;
use common::cli::Cli;
use common::epochs::Epochs;
use common::outcome::{exit_code, input, Ended, Failure};
use common::preflight;
use memory::EVAL_BATCH;
use std::process::ExitCode;
use tapegrad::prelude::*;
use tapegrad::train::evaluate_in_batches;

fn main() -> ExitCode {
    exit_code(run(&Args::parse()))
}

fn run(args: &Args) -> Result<Ended, Failure> {
    let mut trainer = preflight::trainer(&args.run, args.optimizer())?;
    // Built before the data is read: the net does not depend on it, and a net that cannot be
    // allocated is refused without reading 60000 images first.
    let mut model = model::mnist_cnn(args.run.seed, args.run.bn).map_err(input)?;
    let mnist = data::load(args).map_err(Failure::Input)?;
    preflight::check_batches(&args.run, mnist.train.len()).map_err(Failure::Input)?;
    memory::check(args, &model, mnist.train.len()).map_err(Failure::Input)?;
    let optimizer = trainer.optimizer_mut().as_mut();
    let mut epochs = Epochs::start(&args.run, settings::settings(args), &mut model, optimizer)?;

    let mut batches = epochs.batches(&mnist.train);
    let pixels = mnist.train.pixels_per_image();
    while let Some(mut epoch) = epochs.next(&mut batches) {
        while let Some(batch) = batches.next_batch() {
            // The images enter flat, [n, 784], and the net's first layer views them as
            // [n, 1, 28, 28]. Forward, loss, backward and optimizer step; the loss is checked
            // before the update.
            let step = trainer.step(&mut model, |tape, model| {
                let x = tape.constant_from_slice(&[batch.len(), pixels], batch.images);
                let logits = model.forward(tape, x, Mode::Train);
                let loss = tape.cross_entropy(logits, batch.labels);
                (loss, count_correct(tape.value(logits), batch.labels))
            });
            if let Some(ended) = epoch.add(step, batch.len())? {
                return Ok(ended);
            }
        }
        let train = epoch.finish();
        // In batches of EVAL_BATCH: one of `evaluate`'s 1000 would hold 550 MB of activations.
        let test = evaluate_in_batches(&mut model, &mnist.test, Mode::Eval, EVAL_BATCH);
        if let Some(ended) = epochs.end(train, test, &model, trainer.optimizer().as_ref())? {
            return Ok(ended);
        }
    }
    let evaluate = |model: &mut _| evaluate_in_batches(model, &mnist.test, Mode::Eval, EVAL_BATCH);
    epochs.finish(&mut model, evaluate)
}
