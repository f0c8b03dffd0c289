//! The gradient store: gradients live apart from the tensors, keyed by tape handle and by
//! parameter id, so there is no `zero_grad` ritual and no stale gradient.

use crate::{Param, ParamId, Tensor, Var};

/// The gradients computed by one [`Tape::backward`](crate::Tape::backward).
///
/// A value or parameter that did not take part in the loss has no gradient (`None`), the
/// way PyTorch leaves `.grad` as `None`.
pub struct Gradients {
    tape: u32,
    generation: u32,
    grads: Vec<Option<Tensor>>,
    params: Vec<(ParamId, usize)>,
}

impl Gradients {
    pub(crate) fn new(
        tape: u32,
        generation: u32,
        grads: Vec<Option<Tensor>>,
        params: Vec<(ParamId, usize)>,
    ) -> Self {
        Gradients {
            tape,
            generation,
            grads,
            params,
        }
    }

    /// The gradient of a value of the tape this store came from.
    ///
    /// Panics if `var` is from another tape or another step.
    pub fn get(&self, var: Var) -> Option<&Tensor> {
        assert!(
            self.owns(var),
            "Gradients::get: the value #{} is not from the tape and step these gradients came from",
            var.index()
        );
        self.grads.get(var.index()).and_then(|g| g.as_ref())
    }

    /// The gradient of a parameter, by its id; `None` if it was not used in the loss.
    pub fn param(&self, param: &Param) -> Option<&Tensor> {
        self.by_id(param.id())
    }

    /// The gradient of the parameter with this id; `None` if it was not used in the loss.
    pub fn by_id(&self, id: ParamId) -> Option<&Tensor> {
        let &(_, index) = self.params.iter().find(|(p, _)| *p == id)?;
        self.grads.get(index).and_then(|g| g.as_ref())
    }

    /// The ids of the parameters that received a gradient.
    pub fn param_ids(&self) -> impl Iterator<Item = ParamId> + '_ {
        self.params
            .iter()
            .filter(|(_, i)| matches!(self.grads.get(*i), Some(Some(_))))
            .map(|(id, _)| *id)
    }

    fn owns(&self, var: Var) -> bool {
        var == Var::new(self.tape, self.generation, var.index())
    }

    pub(crate) fn into_buffers(self) -> impl Iterator<Item = Tensor> {
        self.grads.into_iter().flatten()
    }
}
