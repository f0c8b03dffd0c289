//! Train an MLP on MNIST, with PyTorch's defaults throughout.
//!
//! `cargo run --release --example mnist_mlp -- --epochs 1 --bn`   (`--help` lists the flags)
//!
//! Exit status: 0 done, 2 bad arguments or data (refused before training), 3 training
//! diverged, 130 stopped by Ctrl-C, 141 stdout's reader went away (`| head`); the last two
//! after the current epoch's checkpoint is written, if one was being written.
//!
//! The training loop is [`run`]; the flags are declared and parsed in `cli.rs` and hold
//! their values in `args.rs`, the settings a checkpoint records are in `settings.rs` and the
//! memory the model needs is estimated in `memory.rs`. What every MNIST example shares is in
//! `examples/common/`: the flags every run has and their checks, the checks before training,
//! checkpoints, what is printed after each epoch and at the end, Ctrl-C, the exit status.
#[path = "../common/mod.rs"]
mod common;

mod args;
mod cli;
mod memory;
mod settings;

use args::Args;
use common::cli::Cli;
use common::epochs::Epochs;
use common::outcome::{exit_code, input, Ended, Failure};
use common::preflight;
use std::process::ExitCode;
use tapegrad::prelude::*;

fn main() -> ExitCode {
    exit_code(run(&Args::parse()))
}

fn run(args: &Args) -> Result<Ended, Failure> {
    let mut trainer = preflight::trainer(&args.run, args.optimizer())?;
    let mnist = Mnist::load(args.run.data.as_deref()).map_err(input)?;
    let pixels = mnist.train.pixels_per_image();
    preflight::check_batches(&args.run, mnist.train.len()).map_err(Failure::Input)?;
    memory::check(args, pixels, mnist.train.len()).map_err(Failure::Input)?;
    // memory::check refuses what would not fit in the available memory; this catches what it
    // cannot see, such as an address-space limit (`ulimit -v`).
    let mut model = args
        .model(pixels)
        .map_err(|e| input(format!("--hidden {}: {e}", args.hidden_list())))?;
    let optimizer = trainer.optimizer_mut().as_mut();
    let mut epochs = Epochs::start(&args.run, settings::settings(args), &mut model, optimizer)?;

    let mut batches = epochs.batches(&mnist.train);
    while let Some(mut epoch) = epochs.next(&mut batches) {
        while let Some(batch) = batches.next_batch() {
            // Forward, loss, backward and optimizer step; the loss is checked before the update.
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
        let test = evaluate(&mut model, &mnist.test, Mode::Eval);
        if let Some(ended) = epochs.end(train, test, &model, trainer.optimizer().as_ref())? {
            return Ok(ended);
        }
    }
    epochs.finish(&mut model, |model| evaluate(model, &mnist.test, Mode::Eval))
}
