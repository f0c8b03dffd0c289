//! Weight decay, shared by SGD and Adam: the two ways PyTorch applies it.

use crate::error::require;
use crate::OptimError;
use serde::{Deserialize, Serialize};

/// How weight decay enters the update, with its coefficient `wd`.
///
/// A coefficient of 0 is the same as no decay (`None` in the configs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum WeightDecay {
    /// L2 regularization: `wd * p` is added to the gradient before anything else
    /// (PyTorch's `weight_decay` in `SGD` and `Adam`). With Adam the decay is then rescaled
    /// by the adaptive denominator, which is why AdamW exists.
    L2(f64),
    /// Decoupled decay: the parameter is multiplied by `1 - lr * wd` before the update and the
    /// gradient is left alone (PyTorch's `AdamW`, or `Adam(decoupled_weight_decay=True)`).
    Decoupled(f64),
}

impl WeightDecay {
    /// The coefficient `wd`.
    pub fn coefficient(self) -> f64 {
        match self {
            WeightDecay::L2(wd) | WeightDecay::Decoupled(wd) => wd,
        }
    }

    pub(crate) fn validate(self) -> Result<(), OptimError> {
        let wd = self.coefficient();
        require(
            wd >= 0.0 && wd.is_finite(),
            "weight_decay",
            wd,
            "must be finite and >= 0",
        )
    }
}

/// Applies the decay to one element: returns the parameter and the gradient as the rest of
/// the update must see them. `lr` is only used by the decoupled form.
#[inline]
pub(crate) fn apply(decay: Option<WeightDecay>, lr: f64, p: f64, g: f64) -> (f64, f64) {
    match decay {
        None => (p, g),
        Some(WeightDecay::L2(wd)) => (p, g + wd * p),
        Some(WeightDecay::Decoupled(wd)) => (p * (1.0 - lr * wd), g),
    }
}
