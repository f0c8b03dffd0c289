//! What an optimizer sees of one parameter in a step, and the state kept per parameter,
//! keyed by its [`ParamId`].

use crate::slot_state::SlotState;
use crate::OptimError;
use tapegrad_core::{Gradients, Param, ParamId};

/// One parameter as a step's update sees it: its values, updated in place, and its gradient
/// (`None` leaves the values alone).
#[derive(Debug)]
pub(crate) struct ParamSlot<'a> {
    /// The parameter's values (row-major, any shape), updated in place.
    pub value: &'a mut [f32],
    /// The gradient of the loss with respect to `value`, of the same length.
    pub grad: Option<&'a [f32]>,
}

impl<'a> ParamSlot<'a> {
    /// A slot from a parameter's values and its gradient.
    pub fn new(value: &'a mut [f32], grad: Option<&'a [f32]>) -> Self {
        ParamSlot { value, grad }
    }
}

/// An optimizer's per-parameter state, keyed by parameter id (PyTorch keeps it by parameter
/// too, in `optimizer.state[p]`), so the parameters of a step may come in any order and a
/// parameter without a gradient is simply left out.
///
/// The ids and the states are two parallel vectors rather than a map: a step arranges the
/// states in the order of its parameters, so the spread update walks both as slices.
#[derive(Debug, Clone)]
pub(crate) struct Keyed<S> {
    ids: Vec<ParamId>,
    states: Vec<S>,
}

impl<S> Default for Keyed<S> {
    fn default() -> Self {
        Keyed {
            ids: Vec::new(),
            states: Vec::new(),
        }
    }
}

impl<S: SlotState + Clone> Keyed<S> {
    /// Every parameter's state, in no particular order.
    pub(crate) fn entries(&self) -> Vec<(ParamId, S)> {
        self.ids
            .iter()
            .copied()
            .zip(self.states.iter().cloned())
            .collect()
    }

    /// Replaces every state by `entries`, after checking each is consistent with `config`;
    /// on an error nothing changes.
    pub(crate) fn load(
        &mut self,
        entries: Vec<(ParamId, S)>,
        config: &S::Config,
    ) -> Result<(), OptimError> {
        for (param, state) in &entries {
            if let Some(reason) = state.inconsistency(config) {
                return Err(OptimError::InvalidState {
                    param: *param,
                    reason,
                });
            }
        }
        let (ids, states) = entries.into_iter().unzip();
        self.ids = ids;
        self.states = states;
        Ok(())
    }

    /// Prepares a step over `params`: checks every parameter that has a gradient in `grads`
    /// against its gradient and its state, creates the state of a parameter seen for the
    /// first time (`new_state(len)`), and returns the slots of the parameters with a
    /// gradient together with their states, in the same order.
    ///
    /// Every check runs before anything is touched, so a mismatch is an error with nothing
    /// modified rather than a panic halfway through the parameters.
    pub(crate) fn prepare<'p>(
        &mut self,
        params: &'p mut [&mut Param],
        grads: &'p Gradients,
        new_state: impl Fn(usize) -> S,
    ) -> Result<(Vec<ParamSlot<'p>>, &mut [S]), OptimError> {
        for param in params.iter() {
            let Some(grad) = grads.by_id(param.id()) else {
                continue;
            };
            let len = param.value().numel();
            if grad.numel() != len {
                return Err(OptimError::GradSize {
                    param: param.id(),
                    value: len,
                    grad: grad.numel(),
                });
            }
            if let Some(i) = self.ids.iter().position(|&id| id == param.id()) {
                let expected = self.states[i].param_len();
                if expected != len {
                    return Err(OptimError::StateSize {
                        param: param.id(),
                        expected,
                        found: len,
                    });
                }
            }
        }
        // Moves the state of the k-th parameter with a gradient to position k; with the same
        // parameters in the same order every step (the usual loop) nothing moves.
        let mut updated = 0;
        for param in params.iter() {
            if grads.by_id(param.id()).is_none() {
                continue;
            }
            let found = self.ids[updated..].iter().position(|&id| id == param.id());
            let at = match found {
                Some(offset) => updated + offset,
                None => {
                    self.ids.push(param.id());
                    self.states.push(new_state(param.value().numel()));
                    self.ids.len() - 1
                }
            };
            self.ids.swap(updated, at);
            self.states.swap(updated, at);
            updated += 1;
        }
        // One allocation, of the final size (a collect from a filter would grow it twice).
        let mut slots = Vec::with_capacity(updated);
        for param in params.iter_mut() {
            if let Some(grad) = grads.by_id(param.id()) {
                slots.push(ParamSlot::new(
                    param.value_mut().data_mut(),
                    Some(grad.data()),
                ));
            }
        }
        Ok((slots, &mut self.states[..updated]))
    }
}
