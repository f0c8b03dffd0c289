//! Choosing an optimizer from a few plain settings, as a command line offers them.

use crate::{Adam, AdamConfig, Momentum, OptimError, Optimizer, Sgd, SgdConfig, WeightDecay};

/// Which optimizer a [`OptimizerSpec`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// [`Sgd`].
    Sgd,
    /// [`Adam`] with L2 weight decay (`torch.optim.Adam`).
    Adam,
    /// [`Adam`] with decoupled weight decay (`torch.optim.AdamW`).
    AdamW,
}

/// An optimizer described by the settings a training script exposes.
///
/// ```
/// use tapegrad_optim::{OptimizerKind, OptimizerSpec};
/// let sgd = OptimizerSpec { kind: OptimizerKind::Sgd, lr: Some(0.05), ..OptimizerSpec::default() };
/// assert_eq!(sgd.build().unwrap().lr(), 0.05);
/// let adamw = OptimizerSpec { kind: OptimizerKind::AdamW, ..OptimizerSpec::default() };
/// assert_eq!(adamw.build().unwrap().lr(), 1e-3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizerSpec {
    /// Which optimizer.
    pub kind: OptimizerKind,
    /// Learning rate; `None` takes [`OptimizerSpec::default_lr`].
    pub lr: Option<f64>,
    /// SGD momentum (0 for none); ignored by Adam.
    pub momentum: f64,
    /// Nesterov momentum for SGD.
    pub nesterov: bool,
    /// Weight decay: L2 for SGD and Adam, decoupled for AdamW; `None` takes the kind's
    /// PyTorch default (0, or 1e-2 for AdamW).
    pub weight_decay: Option<f64>,
}

impl Default for OptimizerSpec {
    /// SGD with momentum 0.9, the common MNIST recipe.
    fn default() -> Self {
        OptimizerSpec {
            kind: OptimizerKind::Sgd,
            lr: None,
            momentum: 0.9,
            nesterov: false,
            weight_decay: None,
        }
    }
}

impl OptimizerSpec {
    /// The learning rate used when none is given: 0.1 for SGD (PyTorch requires one; 0.1 is
    /// the usual MNIST choice), PyTorch's 1e-3 for Adam and AdamW.
    pub fn default_lr(kind: OptimizerKind) -> f64 {
        match kind {
            OptimizerKind::Sgd => 0.1,
            OptimizerKind::Adam | OptimizerKind::AdamW => 1e-3,
        }
    }

    /// Builds the optimizer, validating every setting.
    pub fn build(&self) -> Result<Box<dyn Optimizer + Send>, OptimError> {
        let lr = self.lr.unwrap_or(Self::default_lr(self.kind));
        let decay =
            |wrap: fn(f64) -> WeightDecay| self.weight_decay.filter(|&w| w != 0.0).map(wrap);
        Ok(match self.kind {
            OptimizerKind::Sgd => {
                let momentum = (self.momentum != 0.0).then_some(if self.nesterov {
                    Momentum::Nesterov(self.momentum)
                } else {
                    Momentum::Classic(self.momentum)
                });
                Box::new(Sgd::new(SgdConfig {
                    lr,
                    momentum,
                    weight_decay: decay(WeightDecay::L2),
                    ..SgdConfig::default()
                })?)
            }
            OptimizerKind::Adam => Box::new(Adam::new(AdamConfig {
                lr,
                weight_decay: decay(WeightDecay::L2),
                ..AdamConfig::adam()
            })?),
            OptimizerKind::AdamW => {
                let defaults = AdamConfig::adamw();
                let weight_decay = match self.weight_decay {
                    None => defaults.weight_decay,
                    Some(_) => decay(WeightDecay::Decoupled),
                };
                Box::new(Adam::new(AdamConfig {
                    lr,
                    weight_decay,
                    ..defaults
                })?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesterov_and_negative_lr_are_validated() {
        let spec = OptimizerSpec {
            lr: Some(-1.0),
            ..OptimizerSpec::default()
        };
        assert!(spec.build().is_err(), "negative lr");
        let spec = OptimizerSpec {
            nesterov: true,
            momentum: 0.0,
            ..OptimizerSpec::default()
        };
        assert!(
            spec.build().is_ok(),
            "no momentum: nesterov has nothing to act on"
        );
    }

    #[test]
    fn adamw_keeps_its_default_decay_unless_told() {
        let state = |wd| {
            let spec = OptimizerSpec {
                kind: OptimizerKind::AdamW,
                weight_decay: wd,
                ..OptimizerSpec::default()
            };
            format!("{:?}", spec.build().unwrap().state())
        };
        assert!(state(None).contains("Decoupled(0.01)"), "{}", state(None));
        assert!(
            state(Some(0.0)).contains("weight_decay: None"),
            "{}",
            state(Some(0.0))
        );
    }
}
