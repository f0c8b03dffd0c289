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

    /// A store of parameter gradients computed elsewhere than on a tape (by hand, or read
    /// from a file), for an optimizer step. It holds no value gradients: [`Gradients::get`]
    /// panics on any handle.
    ///
    /// ```
    /// use tapegrad_core::{Gradients, Param, Tensor};
    /// let w = Param::new(Tensor::zeros(vec![2]));
    /// let grads = Gradients::from_params([(w.id(), Tensor::from_vec(vec![2], vec![1.0, 2.0]))]);
    /// assert_eq!(grads.param(&w).unwrap().data(), &[1.0, 2.0]);
    /// ```
    pub fn from_params(grads: impl IntoIterator<Item = (ParamId, Tensor)>) -> Self {
        let (params, grads) = (grads.into_iter().enumerate())
            .map(|(index, (id, grad))| ((id, index), Some(grad)))
            .unzip();
        // Tape ids start at 1: no handle belongs to tape 0.
        Gradients::new(0, 0, grads, params)
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
