//! # tapegrad
//!
//! A small, fast, honest deep-learning framework: `f32` tensors with a tape-based autograd,
//! PyTorch-equivalent layers (with a fused BatchNorm), optimizers, MNIST loading, and
//! checkpoints that resume bit-identically.
//!
//! This crate is the one users depend on: it re-exports the workspace's crates and gathers
//! what a training script needs in [`prelude`].
//!
//! ```
//! use tapegrad::prelude::*;
//!
//! let mut model = Mlp::new(&[4, 16, 3]).batch_norm(true).seed(0).build();
//! let mut optimizer = Sgd::new(SgdConfig { lr: 0.1, ..Default::default() }).unwrap();
//! let mut tape = Tape::new();
//! let images = vec![0.5f32; 8 * 4];
//! let labels = [0, 1, 2, 0, 1, 2, 0, 1];
//! let stats = train_step(&mut tape, &mut model, &mut optimizer, &images, &labels).unwrap();
//! assert!(stats.loss.is_finite());
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
    pub use crate::train::{check_finite, optimizer_step, train_step, Diverged, Evaluator};
    pub use crate::{export_safetensors, import_safetensors};
    pub use tapegrad_core::{gradcheck, Gradients, Op, Param, Tape, Tensor, Var};
    pub use tapegrad_layers::{
        Activation, BatchNorm1d, Dropout, Linear, Mlp, Mode, Module, ModuleExt, Sequential,
    };
    pub use tapegrad_optim::{
        Adam, AdamConfig, Momentum, Optimizer, Schedule, ScheduleKind, Sgd, SgdConfig, WeightDecay,
    };
}
