//! Optimizers and learning-rate schedules for tapegrad, with PyTorch's exact semantics:
//! [`Sgd`] (momentum, dampening, Nesterov, weight decay), [`Adam`] (and AdamW, the same type
//! with [`WeightDecay::Decoupled`]) and [`Schedule`] (StepLR, MultiStepLR, ExponentialLR,
//! CosineAnnealingLR, LinearLR, SequentialLR).
//!
//! An optimizer updates a model's [`Param`](tapegrad_core::Param)s from the
//! [`Gradients`](tapegrad_core::Gradients) of a backward and keeps its state per parameter,
//! by [`ParamId`](tapegrad_core::ParamId); a parameter without a gradient is skipped.
//! Trajectories agree with PyTorch's float64 ones to `rtol 1e-5, atol 1e-6` over 20 steps
//! (the tests check every case of `testutil/golden/optim.json`).
//!
//! ```
//! use tapegrad_core::{Param, Tape, Tensor};
//! use tapegrad_optim::{Adam, AdamConfig, Optimizer, OptimizerExt, Schedule, ScheduleKind};
//! // Minimize sum(w^2) with AdamW and a cosine schedule.
//! let mut w = Param::new(Tensor::from_vec(vec![2], vec![1.0, -2.0]));
//! let mut opt = Adam::new(AdamConfig { lr: 0.1, ..AdamConfig::adamw() })?;
//! let schedule = Schedule::new(0.1, ScheduleKind::Cosine { t_max: 50, eta_min: 0.0 })?;
//! let mut tape = Tape::new();
//! for epoch in 0..50 {
//!     opt.set_lr(schedule.lr_at(epoch));
//!     tape.reset();
//!     let wv = tape.param(&w);
//!     let square = tape.mul(wv, wv);
//!     let loss = tape.sum(square);
//!     let grads = tape.backward(loss);
//!     tape.reset(); // the tape shares w's value: forget it so the step updates in place
//!     opt.step([&mut w], &grads)?;
//! }
//! assert!(w.value().data().iter().all(|x| x.abs() < 0.1));
//! # Ok::<(), tapegrad_optim::OptimError>(())
//! ```
//!
//! Checkpoints: [`Optimizer::state`] returns an [`OptimizerState`] keyed by parameter id;
//! [`OptimizerState::map_keys`] turns the ids into names for a file (serde) and the names back
//! into the ids of the resumed process's parameters, and [`Optimizer::load_state`] or
//! [`OptimizerState::restore`] continues the run bit for bit. (`tapegrad::checkpoint` does
//! the mapping with the model's parameter names.)
#![warn(missing_docs)]

mod adam;
mod error;
mod optimizer;
mod schedule;
mod sgd;
mod slot;
mod slot_state;
mod spec;
mod spread;
mod weight_decay;

pub use adam::{Adam, AdamConfig, AdamParamState, AdamState};
pub use error::OptimError;
pub use optimizer::{Optimizer, OptimizerExt, OptimizerState};
pub use schedule::{Schedule, ScheduleKind};
pub use sgd::{Momentum, Sgd, SgdConfig, SgdParamState, SgdState};
pub use spec::{OptimizerKind, OptimizerSpec};
pub use weight_decay::WeightDecay;
