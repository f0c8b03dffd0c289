//! Checkpoints: the model's named parameters, buffers and random state, optionally the
//! optimizer state and the training progress, in a versioned, checksummed file written
//! atomically, so training can stop and resume bit-identically.
//!
//! ```
//! use tapegrad::checkpoint::Checkpoint;
//! use tapegrad::layers::{Mlp, ModuleExt};
//!
//! let dir = std::env::temp_dir().join(format!("tapegrad-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("model.ckpt");
//! let model = Mlp::new(&[4, 8, 3]).seed(1).build();
//! Checkpoint::of_model(&model).save(&path).unwrap();
//!
//! let mut other = Mlp::new(&[4, 8, 3]).seed(2).build();
//! Checkpoint::load(&path).unwrap().restore_model(&mut other).unwrap();
//! assert_eq!(model.named_params()[0].1.value(), other.named_params()[0].1.value());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod error;
// Public only for the property tests that frame damaged payloads; not part of the API.
#[doc(hidden)]
pub mod frame;
mod model_state;

pub use error::CheckpointError;
pub use model_state::{BufferValue, ModelState, NamedTensor};

use crate::settings::{compare_settings, SettingsRules};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tapegrad_core::ParamId;
use tapegrad_layers::{Module, ModuleExt, Rng};
use tapegrad_optim::{OptimError, Optimizer, OptimizerState, Schedule};

/// Where a training run stands, so that a resumed run continues exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs fully completed.
    pub epochs_done: usize,
    /// Optimizer steps taken so far.
    pub steps_done: u64,
    /// The learning-rate schedule, if any (its position is `epochs_done`).
    pub schedule: Option<Schedule>,
    /// The training loop's own random generator, if it has one.
    pub rng: Option<Rng>,
    /// The run's settings as free text (a CLI writes its arguments here as JSON, to refuse
    /// resuming with different ones).
    pub settings: String,
}

/// The content of a checkpoint file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Parameters, buffers and random state of the model.
    pub model: ModelState,
    /// The optimizer's state (momentum buffers, Adam moments, step counts), each parameter's
    /// by its PyTorch-style name.
    pub optimizer: Option<OptimizerState<String>>,
    /// Epoch, step, schedule and loop RNG.
    pub progress: Option<Progress>,
    /// The file this checkpoint was read from (for error messages), not saved.
    #[serde(skip)]
    origin: PathBuf,
}

impl Checkpoint {
    /// A checkpoint of the model alone.
    pub fn of_model<M: Module + ?Sized>(model: &M) -> Self {
        Checkpoint {
            model: ModelState::capture(model),
            optimizer: None,
            progress: None,
            origin: PathBuf::from("<in memory>"),
        }
    }

    /// Adds the state `optimizer` keeps for the parameters of `model`, each by its name (the
    /// optimizer knows parameters by [`ParamId`], which means nothing to another process).
    /// The state of a parameter that is not `model`'s is not saved.
    pub fn with_optimizer<M, O>(mut self, model: &M, optimizer: &O) -> Self
    where
        M: Module + ?Sized,
        O: Optimizer + ?Sized,
    {
        let names: HashMap<ParamId, String> = (model.named_params().into_iter())
            .map(|(name, param)| (param.id(), name))
            .collect();
        let named = (optimizer.state())
            .map_keys(|id| Ok::<_, std::convert::Infallible>(names.get(&id).cloned()));
        let Ok(named) = named;
        self.optimizer = Some(drop_unnamed(named));
        self
    }

    /// Adds the training progress.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Writes the checkpoint to `path` atomically ([`crate::io::write_atomic`]: temporary
    /// file, sync, rename): a crash during the save leaves the previous file intact, a
    /// symlink is written through, and a device, fifo or folder is refused.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        frame::write_atomic(path, &self.encode(path)?)
    }

    /// The bytes [`Checkpoint::save`] writes (header and payload), for storage other than a
    /// file; [`Checkpoint::from_bytes`] reads them back.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        self.encode(Path::new("<in memory>"))
            .map(|payload| frame::framed(&payload))
    }

    /// The payload; `path` only labels the error.
    fn encode(&self, path: &Path) -> Result<Vec<u8>, CheckpointError> {
        bincode::serde::encode_to_vec(self, bincode::config::standard()).map_err(|e| {
            CheckpointError::Codec {
                path: path.to_path_buf(),
                action: "encode",
                message: e.to_string(),
            }
        })
    }

    /// Reads and verifies a checkpoint: magic number, format version, length and SHA-256
    /// are checked before anything is decoded, and every tensor's data against its shape
    /// after.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let payload = frame::read_verified(path)?;
        Self::decode(&payload, path)
    }

    /// [`Checkpoint::load`] of a file held in memory (header and payload, as
    /// [`Checkpoint::save`] writes them); `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self, CheckpointError> {
        Self::decode(frame::verify(bytes, origin)?, origin)
    }

    fn decode(payload: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let codec = |message: String| CheckpointError::Codec {
            path: path.to_path_buf(),
            action: "decode",
            message,
        };
        let (mut checkpoint, used) = decode_limited(payload).map_err(|e| match e {
            bincode::error::DecodeError::LimitExceeded => {
                codec("a length in the payload claims more data than the file holds".into())
            }
            other => codec(other.to_string()),
        })?;
        if used != payload.len() {
            return Err(codec(format!(
                "{} trailing bytes after the payload",
                payload.len() - used
            )));
        }
        checkpoint.model.check_consistent(path)?;
        checkpoint.origin = path.to_path_buf();
        Ok(checkpoint)
    }

    /// Writes the saved parameters, buffers and random state into `model`, after checking
    /// every name and shape; on an error the model is unchanged and the error names the
    /// first tensor that differs.
    pub fn restore_model<M: Module + ?Sized>(&self, model: &mut M) -> Result<(), CheckpointError> {
        self.model.apply_to(model, &self.origin)
    }

    /// Restores a training run into `model` and `optimizer` and returns where it stood,
    /// after checking that the checkpoint holds progress and optimizer state and was made
    /// with the same `settings`: JSON objects are compared setting by setting with numbers
    /// by value, other text exactly (see [`Checkpoint::resume_with`] to let some settings
    /// differ).
    pub fn resume<M: Module + ?Sized>(
        &self,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
        settings: &str,
    ) -> Result<Progress, CheckpointError> {
        self.resume_with(model, optimizer, settings, &SettingsRules::new())
    }

    /// [`Checkpoint::resume`] with `rules` saying which settings may grow (`epochs`), which
    /// do not matter (output paths, threads) and what unset ones stand for; the error names
    /// every other setting that differs, with its saved and requested value.
    pub fn resume_with<M: Module + ?Sized>(
        &self,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
        settings: &str,
        rules: &SettingsRules,
    ) -> Result<Progress, CheckpointError> {
        let missing = |name: &str| CheckpointError::Mismatch {
            path: self.origin.clone(),
            what: "section",
            name: name.to_string(),
            problem: "is missing: this is a weights-only checkpoint, not a training one".into(),
        };
        let progress = self.progress.clone().ok_or_else(|| missing("progress"))?;
        let state = self.optimizer.clone().ok_or_else(|| missing("optimizer"))?;
        compare_settings(&progress.settings, settings, rules).map_err(|source| {
            CheckpointError::SettingsMismatch {
                path: self.origin.clone(),
                source,
            }
        })?;
        let state = self.optimizer_state_for(model, state)?;
        let names: HashMap<ParamId, String> = (model.named_params().into_iter())
            .map(|(name, param)| (param.id(), name))
            .collect();
        optimizer.load_state(state).map_err(|e| {
            let (name, problem) = match &e {
                OptimError::InvalidState { param, reason } => (
                    names.get(param).cloned().unwrap_or_default(),
                    format!("has an invalid optimizer state: {reason}"),
                ),
                _ => (
                    "optimizer".into(),
                    format!("does not fit this optimizer: {e}"),
                ),
            };
            CheckpointError::Mismatch {
                path: self.origin.clone(),
                what: "optimizer state",
                name,
                problem,
            }
        })?;
        self.restore_model(model)?;
        Ok(progress)
    }

    /// The saved optimizer state with each parameter's name replaced by the id of `model`'s
    /// parameter of that name, after checking that every name is a parameter of the model
    /// and that its state has the parameter's number of values.
    fn optimizer_state_for<M: Module + ?Sized>(
        &self,
        model: &M,
        state: OptimizerState<String>,
    ) -> Result<OptimizerState, CheckpointError> {
        let params: HashMap<String, (ParamId, usize)> = (model.named_params().into_iter())
            .map(|(name, param)| (name, (param.id(), param.value().numel())))
            .collect();
        let mismatch = |name: &str, problem: String| CheckpointError::Mismatch {
            path: self.origin.clone(),
            what: "optimizer state",
            name: name.to_string(),
            problem,
        };
        for (name, len) in state.param_lens() {
            match params.get(name) {
                None => {
                    return Err(mismatch(name, "is not a parameter of the model".into()));
                }
                Some(&(_, numel)) if numel != len => {
                    return Err(mismatch(
                        name,
                        format!("has {len} values in the file but the parameter has {numel}"),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(state
            .map_keys(|name| params.get(&name).map(|&(id, _)| id).ok_or(()))
            .expect("every name was checked"))
    }

    /// The file this checkpoint was loaded from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }
}

/// bincode 2 reserves a string's claimed length before reading it, so one corrupt length
/// prefix could ask for terabytes. Its only guard is a limit, fixed at compile time, on the
/// bytes a decode may claim, where every value read claims its decoded size: at most 16
/// times the bytes it consumed (a one-byte varint `u128`). So the payload is decoded under
/// the smallest of a ladder of limits that is at least 16 times its length: a valid payload
/// always fits, and a lying length can reserve at most 64 times the payload's size.
fn decode_limited(payload: &[u8]) -> Result<(Checkpoint, usize), bincode::error::DecodeError> {
    fn under<const LIMIT: usize>(
        payload: &[u8],
    ) -> Result<(Checkpoint, usize), bincode::error::DecodeError> {
        let config = bincode::config::standard().with_limit::<LIMIT>();
        bincode::serde::decode_from_slice(payload, config)
    }
    let needed = payload.len().saturating_mul(16);
    match needed {
        n if n <= 1 << 20 => under::<{ 1 << 20 }>(payload),
        n if n <= 1 << 22 => under::<{ 1 << 22 }>(payload),
        n if n <= 1 << 24 => under::<{ 1 << 24 }>(payload),
        n if n <= 1 << 26 => under::<{ 1 << 26 }>(payload),
        n if n <= 1 << 28 => under::<{ 1 << 28 }>(payload),
        n if n <= 1 << 30 => under::<{ 1 << 30 }>(payload),
        n if n <= 1 << 32 => under::<{ 1 << 32 }>(payload),
        n if n <= 1 << 34 => under::<{ 1 << 34 }>(payload),
        n if n <= 1 << 36 => under::<{ 1 << 36 }>(payload),
        _ => under::<{ usize::MAX }>(payload),
    }
}

/// The state of the parameters that have a name, the others left out.
fn drop_unnamed(state: OptimizerState<Option<String>>) -> OptimizerState<String> {
    fn keep<S>(params: Vec<(Option<String>, S)>) -> Vec<(String, S)> {
        (params.into_iter())
            .filter_map(|(name, state)| Some((name?, state)))
            .collect()
    }
    match state {
        OptimizerState::Sgd(s) => OptimizerState::Sgd(tapegrad_optim::SgdState {
            config: s.config,
            params: keep(s.params),
        }),
        OptimizerState::Adam(s) => OptimizerState::Adam(tapegrad_optim::AdamState {
            config: s.config,
            params: keep(s.params),
        }),
    }
}
