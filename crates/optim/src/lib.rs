//! Optimizers and learning-rate schedules for tapegrad, with PyTorch's exact semantics:
//! [`Sgd`] (momentum, dampening, Nesterov, weight decay), [`Adam`] (and AdamW, the same type
//! with [`WeightDecay::Decoupled`]) and [`Schedule`] (StepLR, MultiStepLR, ExponentialLR,
//! CosineAnnealingLR, LinearLR, SequentialLR).
//!
//! Optimizers update parameters given as [`ParamSlot`]s: a mutable `f32` slice and an
//! optional gradient, the same parameter at the same position in every step. Trajectories
//! agree with PyTorch's float64 ones to `rtol 1e-5, atol 1e-6` over 20 steps (the tests
//! check every case of `testutil/golden/optim.json`).
//!
//! ```
//! use tapegrad_optim::{Adam, AdamConfig, Optimizer, ParamSlot, Schedule, ScheduleKind};
//! // Minimize sum(w^2) with AdamW and a cosine schedule.
//! let mut w = vec![1.0_f32, -2.0];
//! let mut opt = Adam::new(AdamConfig { lr: 0.1, ..AdamConfig::adamw() })?;
//! let schedule = Schedule::new(0.1, ScheduleKind::Cosine { t_max: 50, eta_min: 0.0 })?;
//! for epoch in 0..50 {
//!     opt.set_lr(schedule.lr_at(epoch));
//!     let grad: Vec<f32> = w.iter().map(|x| 2.0 * x).collect();
//!     opt.step(&mut [ParamSlot::new(&mut w, Some(&grad))])?;
//! }
//! assert!(w.iter().all(|x| x.abs() < 0.1));
//! # Ok::<(), tapegrad_optim::OptimError>(())
//! ```
//!
//! Checkpoints: [`Optimizer::state`] returns an [`OptimizerState`] (serde), and
//! [`OptimizerState::restore`] rebuilds the optimizer so the run continues bit for bit.
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

pub use adam::{Adam, AdamConfig, AdamSlotState, AdamState};
pub use error::OptimError;
pub use optimizer::{Optimizer, OptimizerState};
pub use schedule::{Schedule, ScheduleKind};
pub use sgd::{Momentum, Sgd, SgdConfig, SgdSlotState, SgdState};
pub use slot::ParamSlot;
pub use spec::{OptimizerKind, OptimizerSpec};
pub use weight_decay::WeightDecay;
