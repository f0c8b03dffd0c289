//! `--resume` and `--save`: a run continues from a checkpoint only with the same settings,
//! and saves the model, the optimizer state and where it stands after every epoch.

use crate::args::Args;
use std::path::Path;
use tapegrad::prelude::*;

/// The run's settings as the checkpoint records them (resuming with others is refused).
pub fn settings(args: &Args) -> String {
    serde_json::to_string(args).expect("arguments serialise")
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
