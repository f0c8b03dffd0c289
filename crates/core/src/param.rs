//! Trainable parameters: values that live in the modules, outside the tape.

use crate::Tensor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_PARAM_ID: AtomicU64 = AtomicU64::new(1);

/// The identity of a [`Param`], unique in the process. Gradients are looked up by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(u64);

/// A trainable tensor owned by a module. Each step it is put on the tape with
/// [`Tape::param`](crate::Tape::param); its gradient is then found in the
/// [`Gradients`](crate::Gradients) by its [`ParamId`].
///
/// The value is shared with the tape, not copied: [`Param::value_mut`] copies it only if a
/// tape still holds it (copy on write), so the tape keeps the value its ops saw. Resetting the
/// tape after the backward, before the optimizer step, avoids that copy.
///
/// Cloning a parameter makes a *new* parameter (a new id) with the same value, so two
/// modules never share a gradient by accident.
pub struct Param {
    id: ParamId,
    value: Arc<Tensor>,
}

impl Param {
    /// A new parameter with a fresh id.
    pub fn new(value: Tensor) -> Self {
        Param {
            id: ParamId(NEXT_PARAM_ID.fetch_add(1, Ordering::Relaxed)),
            value: Arc::new(value),
        }
    }

    /// This parameter's identity.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The current value.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    /// The current value, mutably (how optimizers and checkpoint loaders update it). If a
    /// tape still holds the value, it is copied first, so the tape keeps the old one.
    pub fn value_mut(&mut self) -> &mut Tensor {
        Arc::make_mut(&mut self.value)
    }

    /// The value as the tape holds it: shared, not copied.
    pub(crate) fn shared_value(&self) -> Arc<Tensor> {
        Arc::clone(&self.value)
    }

    /// The shape of the value.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
}

impl Clone for Param {
    fn clone(&self) -> Self {
        Param::new(Tensor::clone(&self.value))
    }
}

impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Param#{} {:?}", self.id.0, self.value)
    }
}
