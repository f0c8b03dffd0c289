//! The interface every optimizer implements, and the saved state that restores any of them.

use crate::{Adam, AdamState, OptimError, ParamSlot, Sgd, SgdState};
use serde::{Deserialize, Serialize};

/// A first-order optimizer over parameter slots.
///
/// The learning rate is read at every step, so a schedule drives it with [`set_lr`]
/// between steps; the state (configuration included) can be saved and loaded to resume a
/// run bit for bit.
///
/// [`set_lr`]: Optimizer::set_lr
pub trait Optimizer {
    /// One update of every slot that has a gradient.
    ///
    /// Slot `i` must be the same parameter in every step. The first step with at least one
    /// slot fixes the layout (number of slots and their sizes); a later step that differs, or
    /// a gradient whose size differs from its parameter's, is an error returned before
    /// anything is modified.
    /// A slot whose gradient is `None` is skipped: its values and its state are untouched.
    fn step(&mut self, slots: &mut [ParamSlot<'_>]) -> Result<(), OptimError>;

    /// The learning rate the next step will use.
    fn lr(&self) -> f64;

    /// Sets the learning rate of the next steps (what a schedule does every epoch).
    /// An invalid value (negative, NaN) makes the next [`step`](Optimizer::step) fail.
    fn set_lr(&mut self, lr: f64);

    /// A copy of everything a resumed run needs: the configuration (with the current
    /// learning rate) and every slot's buffers and step count.
    fn state(&self) -> OptimizerState;

    /// Replaces the configuration and the state by a saved one, as PyTorch's
    /// `load_state_dict` does. Fails, changing nothing, if the state is from another kind of
    /// optimizer, is inconsistent, or does not match the layout this optimizer already has.
    fn load_state(&mut self, state: OptimizerState) -> Result<(), OptimError>;
}

/// The saved state of any optimizer of this crate, tagged by its kind so that a checkpoint
/// restores the right one (see [`restore`](OptimizerState::restore)).
///
/// It serializes with serde's default (external) enum tagging, which binary formats such as
/// bincode read too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptimizerState {
    /// An [`Sgd`]'s state.
    Sgd(SgdState),
    /// An [`Adam`]'s state (Adam or AdamW, told apart by the configured weight decay).
    Adam(AdamState),
}

impl OptimizerState {
    /// The kind of optimizer that wrote this state: `"SGD"` or `"Adam"`.
    pub fn kind(&self) -> &'static str {
        match self {
            OptimizerState::Sgd(_) => Sgd::KIND,
            OptimizerState::Adam(_) => Adam::KIND,
        }
    }

    /// The error of loading this state into an optimizer of kind `expected`.
    pub(crate) fn wrong_kind(&self, expected: &'static str) -> OptimError {
        OptimError::WrongKind {
            expected,
            found: self.kind(),
        }
    }

    /// Rebuilds the optimizer that wrote this state, ready to continue where it stopped.
    ///
    /// ```
    /// use tapegrad_optim::{Optimizer, ParamSlot, Sgd, SgdConfig};
    /// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, ..SgdConfig::default() })?;
    /// let mut w = [1.0_f32];
    /// sgd.step(&mut [ParamSlot::new(&mut w, Some(&[0.5]))])?;
    /// let restored = sgd.state().restore()?;
    /// assert_eq!(restored.lr(), 0.1);
    /// # Ok::<(), tapegrad_optim::OptimError>(())
    /// ```
    pub fn restore(self) -> Result<Box<dyn Optimizer + Send>, OptimError> {
        Ok(match self {
            OptimizerState::Sgd(state) => Box::new(Sgd::from_state(state)?),
            OptimizerState::Adam(state) => Box::new(Adam::from_state(state)?),
        })
    }
}
