//! `BatchNorm1d` over `(batch, features)` with PyTorch's semantics: the layer (here), the
//! fused op and its functional forms (`op.rs`), the statistics and the fixed-chunk loops
//! (`stats.rs`), the composed reference (`reference.rs`). `docs/BATCHNORM.md` derives the
//! backward and compares conventions with PyTorch and Keras.

mod op;
mod reference;
mod stats;

pub use op::{batch_norm_eval, batch_norm_train, BatchNormOp};
pub use reference::batch_norm_composed;
pub use stats::{BatchStats, RunningStats};

use crate::{Activation, BufferMut, BufferRef, Mode, Module, Path, Visitor, VisitorMut};
use stats::require_two_rows;
use std::any::Any;
use tapegrad_core::{Param, Tape, Tensor, Var};

/// The settings of a [`BatchNorm1d`]; the defaults are PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root. Default `1e-5`.
    pub eps: f32,
    /// The weight of the new batch in the running statistics:
    /// `running = (1 - momentum) * running + momentum * batch`. Default `Some(0.1)`.
    /// `None` is a cumulative average of every batch since the last reset (factor
    /// `1 / num_batches_tracked`). This is `1 -` Keras' `momentum`.
    pub momentum: Option<f32>,
    /// Learnable per-feature scale `weight` (gamma, init 1) and shift `bias` (beta, init 0).
    /// Default `true`.
    pub affine: bool,
    /// Keep running statistics (buffers `running_mean`, `running_var`, `num_batches_tracked`)
    /// and normalise with them in `Mode::Eval`; without, batch statistics in both modes, as
    /// PyTorch. Default `true`.
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }
}

/// Batch normalisation over the features of `x: [batch, num_features]`, PyTorch's
/// `nn.BatchNorm1d` on 2-D inputs.
///
/// - `Mode::Train`: normalise with the batch mean and *biased* variance, then update the
///   running statistics with the *unbiased* variance (`n / (n - 1)` times larger).
/// - `Mode::Eval`: normalise with the running statistics; still differentiable with
///   respect to the input, `weight` and `bias` (the statistics are constants there).
/// - With `track_running_stats: false`: batch statistics in both modes, no buffers.
///
/// In training the layer computes the batch statistics, updates its running statistics with
/// them and hands them to one [`BatchNormOp`] on the tape; a ReLU after it can run inside
/// that op ([`Module::fuse_activation`]). Names as PyTorch: `weight`, `bias`,
/// `running_mean`, `running_var`, `num_batches_tracked`. A training batch of one row panics
/// as PyTorch raises; so does an input that is not `[batch, num_features]`.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{BatchNorm1d, Mode, Module};
///
/// let mut bn = BatchNorm1d::new(2);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![2, 2], vec![1.0, 10.0, 3.0, 30.0]));
/// let y = bn.forward(&mut tape, x, Mode::Train);
/// assert!((tape.value(y).data()[0] + 1.0).abs() < 1e-4); // (1 - 2) / sqrt(1 + eps)
/// // running_mean = 0.9 * 0 + 0.1 * mean
/// assert_eq!(bn.running_stats().unwrap().mean.data(), &[0.2, 2.0]);
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm1d {
    num_features: usize,
    config: BatchNormConfig,
    /// `(weight, bias)`, present when `affine`.
    affine: Option<(Param, Param)>,
    running: Option<RunningStats>,
    /// Whether the forward applies a ReLU itself (see [`Module::fuse_activation`]).
    fused_relu: bool,
}

impl BatchNorm1d {
    /// PyTorch's `nn.BatchNorm1d(num_features)`: eps 1e-5, momentum 0.1, affine, tracking
    /// running statistics.
    pub fn new(num_features: usize) -> Self {
        Self::with_config(num_features, BatchNormConfig::default())
    }

    /// A layer with explicit settings. Panics if `eps` is negative or not finite, or `momentum` is outside `[0, 1]`.
    pub fn with_config(num_features: usize, config: BatchNormConfig) -> Self {
        assert!(
            config.eps >= 0.0 && config.eps.is_finite(),
            "BatchNorm1d({num_features}): eps must be finite and >= 0, got {}",
            config.eps
        );
        check_momentum(num_features, config.momentum);
        let (ones, zeros) = (
            Tensor::full(vec![num_features], 1.0),
            Tensor::zeros(vec![num_features]),
        );
        let running = RunningStats::new(num_features);
        BatchNorm1d {
            num_features,
            config,
            affine: config.affine.then(|| (Param::new(ones), Param::new(zeros))),
            running: config.track_running_stats.then_some(running),
            fused_relu: false,
        }
    }

    /// The number of features `C`.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// The settings.
    pub fn config(&self) -> &BatchNormConfig {
        &self.config
    }

    /// The momentum of the running statistics (`None`: a cumulative average).
    pub fn momentum(&self) -> Option<f32> {
        self.config.momentum
    }

    /// Changes the momentum (what [`recalibrate`](crate::recalibrate()) does for a while).
    ///
    /// Panics if it is outside `[0, 1]`.
    pub fn set_momentum(&mut self, momentum: Option<f32>) {
        check_momentum(self.num_features, momentum);
        self.config.momentum = momentum;
    }

    /// The scale gamma (`weight`), `[C]`, when `affine`.
    pub fn weight(&self) -> Option<&Param> {
        self.affine.as_ref().map(|(w, _)| w)
    }

    /// The shift beta (`bias`), `[C]`, when `affine`.
    pub fn bias(&self) -> Option<&Param> {
        self.affine.as_ref().map(|(_, b)| b)
    }

    /// The scale gamma, mutably.
    pub fn weight_mut(&mut self) -> Option<&mut Param> {
        self.affine.as_mut().map(|(w, _)| w)
    }

    /// The shift beta, mutably.
    pub fn bias_mut(&mut self) -> Option<&mut Param> {
        self.affine.as_mut().map(|(_, b)| b)
    }

    /// The running statistics, when `track_running_stats`.
    pub fn running_stats(&self) -> Option<&RunningStats> {
        self.running.as_ref()
    }

    /// The running statistics, mutably.
    pub fn running_stats_mut(&mut self) -> Option<&mut RunningStats> {
        self.running.as_mut()
    }

    /// Running statistics back to mean 0, variance 1, no batch tracked (PyTorch's
    /// `reset_running_stats`); nothing without them.
    pub fn reset_running_stats(&mut self) {
        if let Some(r) = &mut self.running {
            r.reset();
        }
    }
}

/// Panics, naming the layer, if `momentum` is outside `[0, 1]`.
fn check_momentum(num_features: usize, momentum: Option<f32>) {
    if let Some(m) = momentum.filter(|m| !(0.0..=1.0).contains(m)) {
        panic!("BatchNorm1d({num_features}): momentum must be in [0, 1], got {m}");
    }
}

impl Module for BatchNorm1d {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        let (shape, c) = (tape.shape(x), self.num_features);
        if !matches!(shape, &[_, xc] if xc == c) {
            panic!("BatchNorm1d({c}): expected an input of shape [batch, {c}], got {shape:?}");
        }
        let eps = self.config.eps;
        let op = match (&mut self.running, mode) {
            (Some(running), Mode::Eval) => {
                BatchNormOp::with_fixed_stats(running.mean.data(), running.var.data(), eps)
            }
            // Training, or no running statistics: the batch's, computed here for the op and
            // the running update alike (nothing has to come back from the op).
            (running, _) => {
                require_two_rows(&format_args!("BatchNorm1d({c})"), shape);
                let stats = BatchStats::of(tape.value(x));
                if let Some(running) = running.as_mut().filter(|_| mode == Mode::Train) {
                    running.update(&stats, self.config.momentum);
                }
                BatchNormOp::with_batch_stats(&stats, eps)
            }
        };
        let op = if self.fused_relu { op.then_relu() } else { op };
        let affine = (self.affine.as_ref()).map(|(w, b)| (tape.param(w), tape.param(b)));
        op::apply(tape, op, x, affine)
    }

    /// Takes a ReLU into the layer's op ([`BatchNormOp::then_relu`]): the same outputs,
    /// gradients and running statistics, to the bit, as the layer then [`Tape::relu`].
    fn fuse_activation(&mut self, activation: Activation) -> bool {
        self.fused_relu |= activation == Activation::Relu;
        activation == Activation::Relu
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        if let Some((weight, bias)) = &self.affine {
            visitor.param(path.name("weight"), weight);
            visitor.param(path.name("bias"), bias);
        }
        if let Some(r) = &self.running {
            visitor.buffer(path.name("running_mean"), BufferRef::Float(&r.mean));
            visitor.buffer(path.name("running_var"), BufferRef::Float(&r.var));
            let count = BufferRef::Int(&r.num_batches_tracked);
            visitor.buffer(path.name("num_batches_tracked"), count);
        }
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        if let Some((weight, bias)) = &mut self.affine {
            visitor.param(path.name("weight"), weight);
            visitor.param(path.name("bias"), bias);
        }
        if let Some(r) = &mut self.running {
            visitor.buffer(path.name("running_mean"), BufferMut::Float(&mut r.mean));
            visitor.buffer(path.name("running_var"), BufferMut::Float(&mut r.var));
            let count = BufferMut::Int(&mut r.num_batches_tracked);
            visitor.buffer(path.name("num_batches_tracked"), count);
        }
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
