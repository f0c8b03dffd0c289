//! The per-slot state every optimizer keeps, and the checks a saved one passes before it is
//! loaded.

use crate::slot::check_layout;
use crate::OptimError;

/// What the shared checks need to know of one slot's state ([`SgdSlotState`],
/// [`AdamSlotState`]), so that each optimizer states only what differs.
///
/// [`SgdSlotState`]: crate::SgdSlotState
/// [`AdamSlotState`]: crate::AdamSlotState
pub(crate) trait SlotState {
    /// The optimizer's configuration: whether a state is consistent can depend on it
    /// (Adam's amsgrad buffer).
    type Config;

    /// Elements of the parameter this state was built for.
    fn param_len(&self) -> usize;

    /// The first inconsistency, if any (buffers whose sizes disagree, a missing buffer).
    fn inconsistency(&self, config: &Self::Config) -> Option<String>;
}

/// Checks the slots of a saved state before `load_state` adopts them, so that a bad
/// checkpoint is an error with nothing changed: every slot must be consistent with itself
/// and with `config`, and once this optimizer has a layout (`current` is empty before its
/// first step, and then takes any) the saved one must be the same.
pub(crate) fn check_saved<S: SlotState>(
    current: &[S],
    config: &S::Config,
    saved: &[S],
) -> Result<(), OptimError> {
    for (index, slot) in saved.iter().enumerate() {
        if let Some(reason) = slot.inconsistency(config) {
            return Err(OptimError::InvalidState { index, reason });
        }
    }
    if current.is_empty() {
        return Ok(());
    }
    check_layout(
        current.iter().map(S::param_len),
        saved.iter().map(S::param_len),
    )
}
