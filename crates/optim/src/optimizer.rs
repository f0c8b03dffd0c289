//! The interface every optimizer implements, and the saved state that restores any of them.

use crate::{Adam, AdamState, OptimError, Sgd, SgdState};
use serde::{Deserialize, Serialize};
use tapegrad_core::{Gradients, Param, ParamId};

/// A first-order optimizer over a model's parameters, keeping its state (momentum, moments,
/// step counts) per parameter, by [`ParamId`], as PyTorch keeps `optimizer.state[p]`.
///
/// The learning rate is read at every step, so a schedule drives it with [`set_lr`]
/// between steps; the state (configuration included) can be saved and loaded to resume a
/// run bit for bit. The step itself is [`OptimizerExt::step`], which takes any iterator of
/// parameters; [`Optimizer::step_slice`] is its form for a slice, which keeps this trait
/// usable as `dyn Optimizer`.
///
/// [`set_lr`]: Optimizer::set_lr
pub trait Optimizer {
    /// One update of every parameter of `params` that has a gradient in `grads`; a
    /// parameter without one is skipped, its values and its state untouched (as PyTorch
    /// skips a parameter whose `.grad` is `None`).
    ///
    /// A gradient whose size differs from its parameter's, or a parameter whose size differs
    /// from the one its state was built for, is an error returned before anything is
    /// modified.
    fn step_slice(
        &mut self,
        params: &mut [&mut Param],
        grads: &Gradients,
    ) -> Result<(), OptimError>;

    /// The learning rate the next step will use.
    fn lr(&self) -> f64;

    /// Sets the learning rate of the next steps (what a schedule does every epoch).
    /// An invalid value (negative, NaN) makes the next step fail.
    fn set_lr(&mut self, lr: f64);

    /// A copy of everything a resumed run needs: the configuration (with the current
    /// learning rate) and every parameter's buffers and step count, by parameter id.
    fn state(&self) -> OptimizerState;

    /// Replaces the configuration and the state by a saved one, as PyTorch's
    /// `load_state_dict` does. Fails, changing nothing, if the state is from another kind of
    /// optimizer or is inconsistent.
    fn load_state(&mut self, state: OptimizerState) -> Result<(), OptimError>;
}

/// The step over any collection of parameters, for every [`Optimizer`] (`dyn` ones too).
///
/// ```
/// use tapegrad_core::{Gradients, Param, Tensor};
/// use tapegrad_optim::{OptimizerExt, Sgd, SgdConfig};
///
/// let mut w = Param::new(Tensor::from_vec(vec![2], vec![1.0, 2.0]));
/// let grads = Gradients::from_params([(w.id(), Tensor::from_vec(vec![2], vec![0.5, -1.0]))]);
/// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, ..SgdConfig::default() })?;
/// sgd.step([&mut w], &grads)?;
/// assert_eq!(w.value().data(), &[0.95, 2.1]);
/// # Ok::<(), tapegrad_optim::OptimError>(())
/// ```
pub trait OptimizerExt: Optimizer {
    /// One update of every parameter that has a gradient in `grads`, typically
    /// `optimizer.step(model.params_mut(), &grads)`; see [`Optimizer::step_slice`].
    fn step<'p>(
        &mut self,
        params: impl IntoIterator<Item = &'p mut Param>,
        grads: &Gradients,
    ) -> Result<(), OptimError> {
        let mut params: Vec<&mut Param> = params.into_iter().collect();
        self.step_slice(&mut params, grads)
    }
}

impl<O: Optimizer + ?Sized> OptimizerExt for O {}

/// A boxed optimizer (what [`OptimizerSpec::build`](crate::OptimizerSpec::build) and
/// [`OptimizerState::restore`] give) is an optimizer too, so code generic over one takes it.
impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn step_slice(
        &mut self,
        params: &mut [&mut Param],
        grads: &Gradients,
    ) -> Result<(), OptimError> {
        (**self).step_slice(params, grads)
    }

    fn lr(&self) -> f64 {
        (**self).lr()
    }

    fn set_lr(&mut self, lr: f64) {
        (**self).set_lr(lr)
    }

    fn state(&self) -> OptimizerState {
        (**self).state()
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<(), OptimError> {
        (**self).load_state(state)
    }
}

/// The saved state of any optimizer of this crate, tagged by its kind so that a checkpoint
/// restores the right one (see [`restore`](OptimizerState::restore)).
///
/// Each parameter's state is keyed by `K`: its [`ParamId`] as the optimizer keeps it, or,
/// in a file, its name (a [`ParamId`] means nothing to another process); [`map_keys`]
/// converts between the two. It serializes with serde's default (external) enum tagging,
/// which binary formats such as bincode read too.
///
/// [`map_keys`]: OptimizerState::map_keys
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptimizerState<K = ParamId> {
    /// An [`Sgd`]'s state.
    Sgd(SgdState<K>),
    /// An [`Adam`]'s state (Adam or AdamW, told apart by the configured weight decay).
    Adam(AdamState<K>),
}

impl<K> OptimizerState<K> {
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

    /// Every parameter's key with the number of elements its state was built for (what a
    /// loader checks against the model before adopting the state).
    pub fn param_lens(&self) -> Vec<(&K, usize)> {
        match self {
            OptimizerState::Sgd(s) => s.params.iter().map(|(k, p)| (k, p.len)).collect(),
            OptimizerState::Adam(s) => (s.params.iter())
                .map(|(k, p)| (k, p.exp_avg.len()))
                .collect(),
        }
    }

    /// The same state with every parameter's key converted by `f`; the first error of `f`
    /// stops the conversion.
    ///
    /// ```
    /// use tapegrad_core::{Gradients, Param, Tensor};
    /// use tapegrad_optim::{Optimizer, OptimizerExt, Sgd, SgdConfig};
    ///
    /// let mut w = Param::new(Tensor::from_vec(vec![1], vec![1.0]));
    /// let grads = Gradients::from_params([(w.id(), Tensor::from_vec(vec![1], vec![0.5]))]);
    /// let mut sgd = Sgd::new(SgdConfig::default())?;
    /// sgd.step([&mut w], &grads)?;
    /// let named = sgd.state().map_keys(|_| Ok::<_, ()>("weight".to_string())).unwrap();
    /// assert_eq!(named.param_lens(), [(&"weight".to_string(), 1)]);
    /// # Ok::<(), tapegrad_optim::OptimError>(())
    /// ```
    pub fn map_keys<L, E>(
        self,
        mut f: impl FnMut(K) -> Result<L, E>,
    ) -> Result<OptimizerState<L>, E> {
        Ok(match self {
            OptimizerState::Sgd(s) => OptimizerState::Sgd(SgdState {
                config: s.config,
                params: rekey(s.params, &mut f)?,
            }),
            OptimizerState::Adam(s) => OptimizerState::Adam(AdamState {
                config: s.config,
                params: rekey(s.params, &mut f)?,
            }),
        })
    }
}

impl OptimizerState {
    /// Rebuilds the optimizer that wrote this state, ready to continue where it stopped.
    ///
    /// ```
    /// use tapegrad_core::{Gradients, Param, Tensor};
    /// use tapegrad_optim::{Optimizer, OptimizerExt, Sgd, SgdConfig};
    /// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, ..SgdConfig::default() })?;
    /// let mut w = Param::new(Tensor::from_vec(vec![1], vec![1.0]));
    /// let grads = Gradients::from_params([(w.id(), Tensor::from_vec(vec![1], vec![0.5]))]);
    /// sgd.step([&mut w], &grads)?;
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

/// `params` with every key converted by `f`, stopping at its first error.
fn rekey<K, L, S, E>(
    params: Vec<(K, S)>,
    f: &mut impl FnMut(K) -> Result<L, E>,
) -> Result<Vec<(L, S)>, E> {
    params
        .into_iter()
        .map(|(k, state)| Ok((f(k)?, state)))
        .collect()
}
