//! The one error type of the crate.

use tapegrad_core::ParamId;
use thiserror::Error;

/// Everything that can go wrong in this crate. Every check happens before a parameter is
/// modified, so an `Err` from a step ([`OptimizerExt::step`](crate::OptimizerExt::step))
/// leaves the parameters and the optimizer state as they were.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimError {
    /// A hyperparameter is out of its range (negative learning rate, beta outside `[0, 1)`...).
    #[error("invalid {name} = {value}: {rule}")]
    InvalidHyperparameter {
        /// The hyperparameter, as PyTorch names it (`lr`, `betas[0]`, `eps`...).
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// Nesterov momentum without a positive momentum or with dampening (PyTorch raises too).
    #[error(
        "Nesterov momentum requires momentum > 0 and dampening = 0 \
         (got momentum {momentum}, dampening {dampening})"
    )]
    Nesterov {
        /// The configured momentum.
        momentum: f64,
        /// The configured dampening.
        dampening: f64,
    },
    /// A parameter's size differs from the size its optimizer state was built for (the
    /// parameter was replaced by one of another shape under the same id, or a loaded state
    /// was made for another model).
    #[error("parameter {param:?}: it has {found} elements but its optimizer state has {expected}")]
    StateSize {
        /// The parameter.
        param: ParamId,
        /// Elements in the optimizer state.
        expected: usize,
        /// Elements in the parameter given.
        found: usize,
    },
    /// A gradient's size differs from its parameter's.
    #[error("parameter {param:?}: the gradient has {grad} elements but the parameter has {value}")]
    GradSize {
        /// The parameter.
        param: ParamId,
        /// Elements in the parameter.
        value: usize,
        /// Elements in the gradient.
        grad: usize,
    },
    /// A saved state was made by another kind of optimizer.
    #[error("cannot load {found} state into {expected} optimizer")]
    WrongKind {
        /// The kind of the optimizer being loaded into.
        expected: &'static str,
        /// The kind that wrote the state.
        found: &'static str,
    },
    /// A saved state is inconsistent (buffers of different sizes, a missing amsgrad buffer...).
    #[error("invalid optimizer state of parameter {param:?}: {reason}")]
    InvalidState {
        /// The parameter whose state is wrong.
        param: ParamId,
        /// What is wrong.
        reason: String,
    },
    /// A learning-rate schedule is malformed (zero period, milestones out of order...).
    #[error("invalid schedule: {0}")]
    InvalidSchedule(String),
}

/// `Ok` if `ok`, else an [`OptimError::InvalidHyperparameter`]. The callers write the
/// condition so that NaN fails it (`value >= 0.0`, not `!(value < 0.0)`).
pub(crate) fn require(
    ok: bool,
    name: &'static str,
    value: f64,
    rule: &'static str,
) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::InvalidHyperparameter { name, value, rule })
    }
}

/// The learning-rate check shared by every optimizer (PyTorch: `0.0 <= lr`).
pub(crate) fn require_lr(lr: f64) -> Result<(), OptimError> {
    require(
        lr >= 0.0 && lr.is_finite(),
        "lr",
        lr,
        "must be finite and >= 0",
    )
}
