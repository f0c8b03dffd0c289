//! `--resume` and `--save`: a run continues from a checkpoint only with the same settings,
//! and saves the model, the optimizer state and where it stands after every epoch.

use crate::args::{Act, Args, Opt};
use serde::Serialize;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use tapegrad::optim::{AdamConfig, OptimizerSpec, WeightDecay};
use tapegrad::prelude::*;

/// What a resumed run must share with the saved one: the flags that shape the model, the
/// optimizer and the batches, as the values they resolve to (so `--lr 0.1` equals the SGD
/// default left out). `--epochs` is not among them, so a run can be extended; nor are the
/// flags that only choose where things go or how fast they run (`--save`, `--export`,
/// `--resume`, `--json`, `--threads`, `--data`).
#[derive(Serialize)]
struct Settings<'a> {
    hidden: &'a [u32],
    activation: Act,
    bn: bool,
    dropout: f32,
    optimizer: Opt,
    lr: f64,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    batch_size: u32,
    seed: u64,
}

/// The run's settings as the checkpoint records them (resuming with others is refused).
pub fn settings(args: &Args) -> String {
    let spec = args.optimizer();
    let default_decay = match (args.optimizer, AdamConfig::adamw().weight_decay) {
        (Opt::Adamw, Some(WeightDecay::Decoupled(w) | WeightDecay::L2(w))) => w,
        _ => 0.0,
    };
    let settings = Settings {
        hidden: &args.hidden,
        activation: args.activation,
        bn: args.bn,
        dropout: args.dropout,
        optimizer: args.optimizer,
        lr: spec.lr.unwrap_or(OptimizerSpec::default_lr(spec.kind)),
        momentum: args.momentum,
        nesterov: args.nesterov,
        weight_decay: args.weight_decay.unwrap_or(default_decay),
        batch_size: args.batch_size,
        seed: args.seed,
    };
    serde_json::to_string(&settings).expect("settings serialise")
}

/// Restores `model` and `optimizer` from `--resume` if given, and returns the epochs and
/// steps already done (zero for a fresh run).
pub fn resume(
    args: &Args,
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
) -> Result<(usize, u64), CheckpointError> {
    let Some(path) = &args.resume else {
        return Ok((0, 0));
    };
    let progress = Checkpoint::load(path)?.resume(model, optimizer, &settings(args))?;
    Ok((progress.epochs_done, progress.steps_done))
}

/// Writes a training checkpoint to `path` after `epochs_done` epochs and `steps_done` steps.
pub fn save(
    path: &Path,
    args: &Args,
    model: &Sequential,
    optimizer: &dyn Optimizer,
    epochs_done: usize,
    steps_done: u64,
) -> Result<(), CheckpointError> {
    let progress = Progress {
        epochs_done,
        steps_done,
        schedule: None,
        rng: None,
        settings: settings(args),
    };
    Checkpoint::of_model(model)
        .with_optimizer(model, optimizer)
        .with_progress(progress)
        .save(path)
}

/// Writes with `write` to `path`; if that fails although the destination passed the check
/// before training (the folder was removed, the disk filled up), writes to a file in the
/// system's temporary folder instead, so that a finished run's weights are never lost, and
/// says where in the error.
pub fn write_or_rescue<E: Display>(
    path: &Path,
    write: impl Fn(&Path) -> Result<(), E>,
) -> Result<(), String> {
    let Err(error) = write(path) else {
        return Ok(());
    };
    let rescue = rescue_path(path);
    match write(&rescue) {
        Ok(()) => Err(format!(
            "{error}; the weights were written to {} instead",
            rescue.display()
        )),
        Err(again) => Err(format!(
            "{error}; writing them to {} failed too: {again}",
            rescue.display()
        )),
    }
}

/// `NAME.rescued-PID` in the system's temporary folder, for `write_or_rescue`.
fn rescue_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "mnist_mlp".into(), |n| n.to_string_lossy());
    std::env::temp_dir().join(format!("{name}.rescued-{}", std::process::id()))
}
