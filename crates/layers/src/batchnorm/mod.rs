//! `BatchNorm1d` and `BatchNorm2d` with PyTorch's semantics: the layer (here), one for both
//! (statistics per feature over all but dimension 1), the fused op (`op.rs`) and its
//! fast loops (`fast.rs`), the statistics (`stats.rs`), the composed reference (`reference.rs`).

mod fast;
mod op;
mod reference;
mod stats;

pub use op::{batch_norm_eval, batch_norm_train, BatchNormOp};
pub use reference::batch_norm_composed;
pub use stats::{BatchStats, RunningStats};

use crate::{Activation, BufferMut, BufferRef, Mode, Module, Path, Visitor, VisitorMut};
use std::any::Any;
use tapegrad_core::{Param, Tape, Tensor, Var};

/// The settings of a [`BatchNorm1d`] or [`BatchNorm2d`]; the defaults are PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root. Default `1e-5`.
    pub eps: f32,
    /// The weight of a new batch in the running statistics (`1 -` Keras' `momentum`);
    /// `None`: a cumulative average (factor `1 / num_batches_tracked`). Default `Some(0.1)`.
    pub momentum: Option<f32>,
    /// Learnable scale `weight` (gamma, init 1) and shift `bias` (beta, init 0). Default `true`.
    pub affine: bool,
    /// Keep running statistics and normalise with them in `Mode::Eval` (without: batch
    /// statistics in both modes, as PyTorch). Default `true`.
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

/// PyTorch's `nn.BatchNorm1d` on `x: [batch, num_features]` or `[batch, num_features, length]`.
pub type BatchNorm1d = BatchNorm<1>;
/// PyTorch's `nn.BatchNorm2d` on images `x: [batch, num_features, height, width]`.
pub type BatchNorm2d = BatchNorm<2>;

/// PyTorch's `nn.BatchNorm1d` (`D = 1`) and `nn.BatchNorm2d` (`D = 2`): each feature (channel)
/// normalised over every dimension but the second, by the same op.
///
/// `Mode::Train` normalises with the batch mean and *biased* variance and updates the
/// running statistics with the *unbiased* one; `Mode::Eval` normalises with the running
/// statistics (still differentiable). One [`BatchNormOp`] on the tape, a following ReLU
/// inside it when fused ([`Module::fuse_activation`]). PyTorch's names; one value per feature
/// in training, or an input of another shape, panics as PyTorch raises.
#[derive(Clone, Debug)]
pub struct BatchNorm<const D: usize> {
    num_features: usize,
    config: BatchNormConfig,
    /// `(weight, bias)`, present when `affine`.
    affine: Option<(Param, Param)>,
    running: Option<RunningStats>,
    /// Whether the forward applies a ReLU itself (see [`Module::fuse_activation`]).
    fused_relu: bool,
}

impl<const D: usize> BatchNorm<D> {
    /// PyTorch's `nn.BatchNorm1d(num_features)` or `nn.BatchNorm2d`, the default settings.
    pub fn new(num_features: usize) -> Self {
        Self::with_config(num_features, BatchNormConfig::default())
    }
    /// A layer with explicit settings. Panics unless `0 < eps < inf` (with 0 a constant
    /// feature, a dead unit, divides 0 by 0; PyTorch refuses it too) or `momentum` is in `[0, 1]`.
    pub fn with_config(num_features: usize, config: BatchNormConfig) -> Self {
        let (c, eps) = (num_features, config.eps);
        assert!(
            eps > 0.0 && eps.is_finite(),
            "BatchNorm{D}d({c}): eps must be finite and > 0, got {eps}"
        );
        check_momentum::<D>(c, config.momentum);
        let (ones, zeros) = (Tensor::full(vec![c], 1.0), Tensor::zeros(vec![c]));
        BatchNorm {
            num_features,
            config,
            affine: config.affine.then(|| (Param::new(ones), Param::new(zeros))),
            running: (config.track_running_stats).then(|| RunningStats::new(num_features)),
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
    /// Changes the momentum ([`recalibrate`](crate::recalibrate()) does); panics outside `[0, 1]`.
    pub fn set_momentum(&mut self, momentum: Option<f32>) {
        check_momentum::<D>(self.num_features, momentum);
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
    /// The settings and the running statistics, for `recalibrate` to change both.
    pub(crate) fn config_and_stats(&mut self) -> (&mut BatchNormConfig, Option<&mut RunningStats>) {
        (&mut self.config, self.running.as_mut())
    }
    /// PyTorch's `reset_running_stats`: mean 0, variance 1, no batch tracked.
    pub fn reset_running_stats(&mut self) {
        if let Some(r) = &mut self.running {
            r.reset();
        }
    }
    /// [`Module::forward`], returning what PyTorch raises instead of panicking: an input of
    /// another shape, or one value per feature where the batch's statistics are needed.
    pub fn try_forward(
        &mut self,
        tape: &mut Tape,
        x: Var,
        mode: Mode,
    ) -> Result<Var, BatchNormError> {
        let (shape, c) = (tape.shape(x), self.num_features);
        let refuse = |e: &str| BatchNormError(format!("BatchNorm{D}d({c}): {e} {shape:?}"));
        let rank_fits = shape.len() == D + 2 || (D == 1 && shape.len() == 2);
        if !rank_fits || shape[1] != c {
            let expected = match D {
                1 => format!("[batch, {c}] or [batch, {c}, length]"),
                _ => format!("[batch, {c}, height, width{}]", ", _".repeat(D - 2)),
            };
            return Err(refuse(&format!(
                "expected an input of shape {expected}, got"
            )));
        }
        if (mode == Mode::Train || self.running.is_none()) && !op::has_batch_statistics(shape) {
            return Err(refuse(op::ONE_VALUE_PER_FEATURE));
        }
        let eps = self.config.eps;
        let op = match (&mut self.running, mode) {
            (Some(running), Mode::Eval) => {
                BatchNormOp::with_fixed_stats(running.mean.data(), running.var.data(), eps)
            }
            // Training, or no running statistics: the batch's, for the op and the update.
            (running, _) => {
                let stats = fast::statistics(tape.value(x));
                if let Some(running) = running.as_mut().filter(|_| mode == Mode::Train) {
                    running.update(&stats, self.config.momentum);
                }
                BatchNormOp::with_batch_stats(&stats, eps)
            }
        };
        let op = if self.fused_relu { op.then_relu() } else { op };
        let affine = (self.affine.as_ref()).map(|(w, b)| (tape.param(w), tape.param(b)));
        Ok(op::apply(tape, op, x, affine))
    }
}

/// Panics, naming the layer, if `momentum` is outside `[0, 1]`.
fn check_momentum<const D: usize>(num_features: usize, momentum: Option<f32>) {
    if let Some(m) = momentum.filter(|m| !(0.0..=1.0).contains(m)) {
        panic!("BatchNorm{D}d({num_features}): momentum must be in [0, 1], got {m}");
    }
}

/// Why [`BatchNorm1d::try_forward`] refused an input: the message `forward` panics with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BatchNormError(pub String);

impl<const D: usize> Module for BatchNorm<D> {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        self.try_forward(tape, x, mode)
            .unwrap_or_else(|e| panic!("{e}"))
    }
    /// Takes a ReLU into the layer's op ([`BatchNormOp::then_relu`]), to the bit.
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
