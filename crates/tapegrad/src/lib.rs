//! # tapegrad
//!
//! A small, fast, honest deep-learning framework: `f32` tensors with a tape-based autograd,
//! PyTorch-equivalent layers (with a fused BatchNorm), optimizers, MNIST loading, and
//! checkpoints that resume bit-identically.
//!
//! This crate is the one users depend on: it re-exports the workspace's crates
//! ([`core`], [`layers`], [`optim`], [`data`]; the threads and loops of `tapegrad-kernels`
//! stay behind them) and gathers what a training script needs in [`prelude`].
//!
//! ```
//! use tapegrad::prelude::*;
//!
//! let mut model = Mlp::new(&[4, 16, 3]).batch_norm(true).seed(0).build();
//! let mut trainer = Trainer::new(Sgd::new(SgdConfig { lr: 0.1, ..Default::default() }).unwrap());
//! let images = vec![0.5f32; 8 * 4];
//! let labels = [0, 1, 2, 0, 1, 2, 0, 1];
//! let step = trainer
//!     .step(&mut model, |tape, model| {
//!         let x = tape.constant_from_slice(&[8, 4], &images);
//!         let logits = model.forward(tape, x, Mode::Train);
//!         tape.cross_entropy(logits, &labels)
//!     })
//!     .unwrap();
//! assert!(step.loss.is_finite());
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
pub mod io;
mod safetensors_io;
pub mod settings;
pub mod train;

pub use safetensors_io::{export_safetensors, import_safetensors};

/// The README's Rust code blocks, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
pub use tapegrad_core as core;
pub use tapegrad_data as data;
pub use tapegrad_layers as layers;
pub use tapegrad_optim as optim;

/// What a training script needs, in one `use`.
pub mod prelude {
    pub use crate::checkpoint::{Checkpoint, CheckpointError, Progress};
    pub use crate::train::{
        check_finite, count_correct, evaluate, evaluate_in_batches, train_epoch, train_step,
        Diverged, EpochMeter, EvalStats, Evaluator, Step, StepError, Trainer,
    };
    pub use crate::{export_safetensors, import_safetensors};
    pub use tapegrad_core::{
        gradcheck, Backward, Conv2dConfig, Gradients, Op, Param, ParamId, Pool2dConfig, Size2,
        Tape, Tensor, Var,
    };
    pub use tapegrad_data::{Batch, BatchConfig, Batches, Mnist, Split};
    pub use tapegrad_layers::{
        Activation, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout,
        Dropout2d, Flatten, Linear, MaxPool2d, Mlp, Mode, Module, ModuleExt, Sequential, Unflatten,
    };
    pub use tapegrad_optim::{
        Adam, AdamConfig, Momentum, Optimizer, OptimizerExt, Schedule, ScheduleKind, Sgd,
        SgdConfig, WeightDecay,
    };
}
