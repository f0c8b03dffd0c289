//! `--resume` and `--save`: a run continues from a checkpoint only with the same settings
//! (each example says which, as JSON), and saves the model, the optimizer state and where it
//! stands after every epoch; `--export` and `--save` write through [`write_or_rescue`].
//! [`Epochs`](super::epochs::Epochs) calls them.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use tapegrad::prelude::*;

/// Restores `model` and `optimizer` from the checkpoint at `resume` if given, after checking
/// that it was written with `settings`, and returns the epochs and steps already done (zero
/// for a fresh run).
pub fn resume(
    resume: Option<&Path>,
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    settings: &str,
) -> Result<(usize, u64), CheckpointError> {
    let Some(path) = resume else {
        return Ok((0, 0));
    };
    let progress = Checkpoint::load(path)?.resume(model, optimizer, settings)?;
    Ok((progress.epochs_done, progress.steps_done))
}

/// Writes a training checkpoint to `path` after `epochs_done` epochs and `steps_done` steps
/// of a run with `settings`.
pub fn save(
    path: &Path,
    model: &Sequential,
    optimizer: &dyn Optimizer,
    (epochs_done, steps_done): (usize, u64),
    settings: &str,
) -> Result<(), CheckpointError> {
    let progress = Progress {
        epochs_done,
        steps_done,
        schedule: None,
        rng: None,
        settings: settings.to_string(),
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
        .map_or_else(|| "weights".into(), |n| n.to_string_lossy());
    std::env::temp_dir().join(format!("{name}.rescued-{}", std::process::id()))
}
