//! Learning-rate schedules: pure functions of the epoch, equal to PyTorch's schedulers.

use crate::OptimError;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// A learning-rate schedule: a base learning rate and the shape of its evolution.
///
/// `lr_at(e)` is the learning rate to use during epoch `e` (counted from 0): in PyTorch terms,
/// the optimizer's lr after `e` calls of `scheduler.step()`, with `base_lr` the optimizer's
/// initial lr. Being a pure function of the epoch, it needs no state in a checkpoint beyond
/// the epoch itself. Stepping per iteration instead of per epoch is the same arithmetic.
///
/// PyTorch computes most schedules recursively (`lr *= ...` at each step); the closed forms
/// used here agree with them to about 1e-15 relative.
///
/// ```
/// use tapegrad_optim::{Optimizer, Schedule, ScheduleKind, Sgd, SgdConfig};
/// // Linear warm-up over 5 epochs, then cosine annealing down to 0 at epoch 30.
/// let schedule = Schedule::new(
///     0.1,
///     ScheduleKind::Sequential {
///         parts: vec![
///             ScheduleKind::Linear { start_factor: 0.1, end_factor: 1.0, total_iters: 5 },
///             ScheduleKind::Cosine { t_max: 25, eta_min: 0.0 },
///         ],
///         milestones: vec![5],
///     },
/// )?;
/// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, ..SgdConfig::default() })?;
/// for epoch in 0..30 {
///     sgd.set_lr(schedule.lr_at(epoch));
///     // ... the epoch's steps ...
/// }
/// assert!((schedule.lr_at(0) - 0.01).abs() < 1e-12);
/// assert_eq!(schedule.lr_at(5), 0.1);
/// # Ok::<(), tapegrad_optim::OptimError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The learning rate the shape starts from (PyTorch's `initial_lr`, the optimizer's lr
    /// when the scheduler was created).
    pub base_lr: f64,
    /// How the learning rate evolves.
    pub kind: ScheduleKind,
}

/// The shape of a [`Schedule`]; each variant names the PyTorch class it reproduces.
/// Every variant scales the `base_lr` of its schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScheduleKind {
    /// `base_lr` at every epoch (no scheduler in PyTorch).
    Constant,
    /// `StepLR(step_size, gamma)`: `base_lr * gamma^(e / step_size)` (integer division).
    Step {
        /// Epochs between two decays, `>= 1`.
        step_size: usize,
        /// Multiplicative decay, `>= 0`.
        gamma: f64,
    },
    /// `MultiStepLR(milestones, gamma)`: `base_lr * gamma^k`, `k` the number of milestones
    /// `<= e`. As in PyTorch, milestones need not be sorted and a repeated milestone decays
    /// twice.
    MultiStep {
        /// Epochs at which the learning rate is multiplied by `gamma`.
        milestones: Vec<usize>,
        /// Multiplicative decay, `>= 0`.
        gamma: f64,
    },
    /// `ExponentialLR(gamma)`: `base_lr * gamma^e`.
    Exponential {
        /// Multiplicative decay per epoch, `>= 0`.
        gamma: f64,
    },
    /// `CosineAnnealingLR(T_max, eta_min)`:
    /// `eta_min + (base_lr - eta_min) * (1 + cos(pi * e / t_max)) / 2`.
    ///
    /// Past `t_max` this does **not** stay at `eta_min`: PyTorch's recursive formula keeps
    /// following the cosine, which climbs back to `base_lr` at `2 * t_max` (period
    /// `2 * t_max`, no warm restart). Use a [`Sequential`](ScheduleKind::Sequential) with a
    /// later part to do something else after `t_max`.
    Cosine {
        /// Half-period of the cosine in epochs, `>= 1`.
        t_max: usize,
        /// The learning rate reached at `t_max` (not scaled by `base_lr`).
        eta_min: f64,
    },
    /// `LinearLR(start_factor, end_factor, total_iters)` (a linear warm-up):
    /// `base_lr * (start + (end - start) * min(e, total_iters) / total_iters)`.
    ///
    /// PyTorch's `ConstantLR(factor, total_iters)` is `Sequential` of
    /// `Linear { start_factor: factor, end_factor: factor, .. }` and `Constant` with the
    /// milestone `total_iters`.
    Linear {
        /// Factor at epoch 0, in `(0, 1]`.
        start_factor: f64,
        /// Factor from `total_iters` on, in `[0, 1]`.
        end_factor: f64,
        /// Epochs of the ramp, `>= 1`.
        total_iters: usize,
    },
    /// `SequentialLR(schedulers, milestones)`: part `i` runs from `milestones[i - 1]` (or 0)
    /// to `milestones[i]`, and sees its own epoch counter restarting at 0, with the same
    /// `base_lr`.
    ///
    /// That restart is what PyTorch does: at a milestone it calls `scheduler.step(0)`, which
    /// evaluates the next scheduler's closed form at epoch 0 (a cosine part starts again at
    /// `base_lr`, not where the warm-up left off), and steps it recursively from there.
    Sequential {
        /// The schedules one after the other (at least one).
        parts: Vec<ScheduleKind>,
        /// Strictly increasing switch epochs, one fewer than the parts.
        milestones: Vec<usize>,
    },
}

impl Schedule {
    /// A schedule, checked with [`validate`](Schedule::validate).
    pub fn new(base_lr: f64, kind: ScheduleKind) -> Result<Self, OptimError> {
        let schedule = Schedule { base_lr, kind };
        schedule.validate()?;
        Ok(schedule)
    }

    /// A constant learning rate.
    pub fn constant(lr: f64) -> Result<Self, OptimError> {
        Schedule::new(lr, ScheduleKind::Constant)
    }

    /// Checks the base learning rate and the shape with PyTorch's rules, plus the ones that
    /// PyTorch leaves to a division by zero (`step_size`, `t_max`, `total_iters` of 0).
    /// A schedule built by hand or deserialized should be checked once with this.
    pub fn validate(&self) -> Result<(), OptimError> {
        if !(self.base_lr >= 0.0 && self.base_lr.is_finite()) {
            return Err(invalid(format!(
                "base_lr = {} must be finite and >= 0",
                self.base_lr
            )));
        }
        self.kind.validate()
    }

    /// The learning rate during epoch `epoch` (0-based).
    ///
    /// Never panics; on a schedule that fails [`validate`](Schedule::validate) the result
    /// may be NaN or infinite.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.kind.lr_at(self.base_lr, epoch)
    }
}

impl ScheduleKind {
    /// Checks this shape (see [`Schedule::validate`]).
    pub fn validate(&self) -> Result<(), OptimError> {
        match self {
            ScheduleKind::Constant => Ok(()),
            ScheduleKind::Step { step_size, gamma } => {
                check_gamma(*gamma)?;
                if *step_size == 0 {
                    return Err(invalid("StepLR step_size must be >= 1".into()));
                }
                Ok(())
            }
            ScheduleKind::MultiStep { gamma, .. } | ScheduleKind::Exponential { gamma } => {
                check_gamma(*gamma)
            }
            ScheduleKind::Cosine { t_max, eta_min } => {
                if *t_max == 0 {
                    return Err(invalid("CosineAnnealingLR t_max must be >= 1".into()));
                }
                if !eta_min.is_finite() {
                    return Err(invalid(format!("eta_min = {eta_min} must be finite")));
                }
                Ok(())
            }
            ScheduleKind::Linear {
                start_factor,
                end_factor,
                total_iters,
            } => {
                // PyTorch's own checks and messages.
                if !(*start_factor > 0.0 && *start_factor <= 1.0) {
                    return Err(invalid(format!(
                        "LinearLR start_factor = {start_factor}: starting multiplicative \
                         factor expected to be greater than 0 and less or equal to 1"
                    )));
                }
                if !(*end_factor >= 0.0 && *end_factor <= 1.0) {
                    return Err(invalid(format!(
                        "LinearLR end_factor = {end_factor}: ending multiplicative factor \
                         expected to be between 0 and 1"
                    )));
                }
                if *total_iters == 0 {
                    return Err(invalid("LinearLR total_iters must be >= 1".into()));
                }
                Ok(())
            }
            ScheduleKind::Sequential { parts, milestones } => {
                if parts.is_empty() || milestones.len() + 1 != parts.len() {
                    return Err(invalid(format!(
                        "SequentialLR needs one milestone fewer than parts, got {} parts and \
                         {} milestones",
                        parts.len(),
                        milestones.len()
                    )));
                }
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(invalid(format!(
                        "SequentialLR milestones must be strictly increasing, got {milestones:?}"
                    )));
                }
                parts.iter().try_for_each(ScheduleKind::validate)
            }
        }
    }

    /// The learning rate during `epoch` for a schedule starting from `base_lr`.
    pub fn lr_at(&self, base_lr: f64, epoch: usize) -> f64 {
        match self {
            ScheduleKind::Constant => base_lr,
            ScheduleKind::Step { step_size, gamma } => match epoch.checked_div(*step_size) {
                Some(decays) => base_lr * gamma.powf(decays as f64),
                None => f64::NAN,
            },
            ScheduleKind::MultiStep { milestones, gamma } => {
                let decays = milestones.iter().filter(|&&m| m <= epoch).count();
                base_lr * gamma.powf(decays as f64)
            }
            ScheduleKind::Exponential { gamma } => base_lr * gamma.powf(epoch as f64),
            ScheduleKind::Cosine { t_max, eta_min } => {
                let phase = PI * epoch as f64 / *t_max as f64;
                eta_min + (base_lr - eta_min) * (1.0 + phase.cos()) / 2.0
            }
            ScheduleKind::Linear {
                start_factor,
                end_factor,
                total_iters,
            } => {
                let progress = epoch.min(*total_iters) as f64 / *total_iters as f64;
                base_lr * (start_factor + (end_factor - start_factor) * progress)
            }
            ScheduleKind::Sequential { parts, milestones } => {
                // The part in force: as many parts passed as milestones reached (PyTorch's
                // `bisect_right(milestones, epoch)`), its epoch counted from its milestone.
                let index = milestones.iter().take_while(|&&m| m <= epoch).count();
                let start = index.checked_sub(1).map_or(0, |i| milestones[i]);
                parts
                    .get(index)
                    .map_or(f64::NAN, |part| part.lr_at(base_lr, epoch - start))
            }
        }
    }
}

fn check_gamma(gamma: f64) -> Result<(), OptimError> {
    if gamma >= 0.0 && gamma.is_finite() {
        Ok(())
    } else {
        Err(invalid(format!("gamma = {gamma} must be finite and >= 0")))
    }
}

fn invalid(reason: String) -> OptimError {
    OptimError::InvalidSchedule(reason)
}
