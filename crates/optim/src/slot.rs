//! What an optimizer sees of one parameter, and the layout check run before every update.

use crate::slot_state::SlotState;
use crate::OptimError;

/// One parameter as the optimizer sees it in one step: its values, updated in place, and
/// its gradient, `None` when the parameter took no part in the loss.
///
/// Slot `i` must be the same parameter in every step: the optimizer keeps its state
/// (momentum, moments, step count) by position.
///
/// ```
/// use tapegrad_optim::ParamSlot;
/// let mut weight = vec![0.5_f32, -0.25];
/// let grad = [0.1_f32, 0.2];
/// let slot = ParamSlot::new(&mut weight, Some(&grad));
/// assert_eq!(slot.value.len(), 2);
/// ```
#[derive(Debug)]
pub struct ParamSlot<'a> {
    /// The parameter's values (row-major, any shape), updated in place.
    pub value: &'a mut [f32],
    /// The gradient of the loss with respect to `value`, of the same length, or `None` to
    /// skip this parameter in this step (as PyTorch skips a parameter whose `.grad` is `None`).
    pub grad: Option<&'a [f32]>,
}

impl<'a> ParamSlot<'a> {
    /// A slot from a parameter and its gradient.
    pub fn new(value: &'a mut [f32], grad: Option<&'a [f32]>) -> Self {
        ParamSlot { value, grad }
    }
}

/// Checks the step's slots against the per-slot state, creating the state on the first
/// step (when `states` is empty). It runs before any update, so that a mismatch is an error
/// with nothing modified rather than a panic halfway through the parameters.
pub(crate) fn prepare<S: SlotState>(
    states: &mut Vec<S>,
    slots: &[ParamSlot<'_>],
    new_state: impl Fn(usize) -> S,
) -> Result<(), OptimError> {
    for (index, slot) in slots.iter().enumerate() {
        if let Some(grad) = slot.grad {
            if grad.len() != slot.value.len() {
                return Err(OptimError::GradSize {
                    index,
                    value: slot.value.len(),
                    grad: grad.len(),
                });
            }
        }
    }
    if states.is_empty() {
        // Like PyTorch's lazy state, but the layout (count and sizes) is fixed here, so a
        // later step with another parameter list is caught instead of silently misapplied.
        states.extend(slots.iter().map(|slot| new_state(slot.value.len())));
        return Ok(());
    }
    check_layout(
        states.iter().map(S::param_len),
        slots.iter().map(|s| s.value.len()),
    )
}

/// Compares the sizes the state expects with the sizes found, naming the first difference.
pub(crate) fn check_layout(
    expected: impl ExactSizeIterator<Item = usize>,
    found: impl ExactSizeIterator<Item = usize>,
) -> Result<(), OptimError> {
    if expected.len() != found.len() {
        return Err(OptimError::SlotCount {
            expected: expected.len(),
            found: found.len(),
        });
    }
    for (index, (expected, found)) in expected.zip(found).enumerate() {
        if expected != found {
            return Err(OptimError::SlotSize {
                index,
                expected,
                found,
            });
        }
    }
    Ok(())
}
