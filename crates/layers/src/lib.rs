//! # tapegrad-layers
//!
//! What users compose into models, on top of `tapegrad-core`: the [`Module`] trait,
//! [`Linear`], [`Activation`] (ReLU, Sigmoid, Tanh), [`Dropout`], [`BatchNorm1d`] and
//! [`BatchNorm2d`] (one fused tape op with a closed-form backward), the convolutional layers
//! ([`Conv2d`], [`MaxPool2d`], [`AvgPool2d`], [`AdaptiveAvgPool2d`], [`Flatten`],
//! [`Unflatten`], [`Dropout2d`]),
//! [`Sequential`], the [`Mlp`] builder, and two
//! BatchNorm utilities: [`recalibrate`] (precise running statistics) and
//! [`fold_batchnorm`] (BatchNorm folded into the preceding Linear for inference).
//!
//! Defaults are PyTorch's, and names are PyTorch's state-dict keys:
//!
//! ```
//! use tapegrad_core::{Tape, Tensor};
//! use tapegrad_layers::{Mlp, Mode, Module, ModuleExt};
//!
//! let mut model = Mlp::new(&[4, 16, 3]).batch_norm(true).seed(1).build();
//! assert_eq!(model.named_params()[2].0, "1.weight"); // the BatchNorm's gamma
//!
//! let mut tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![2, 4], vec![0.5, -1.0, 2.0, 0.0, 1.0, 1.5, -0.5, 0.3]));
//! let logits = model.forward(&mut tape, x, Mode::Train);
//! let loss = tape.cross_entropy(logits, &[0, 2]);
//! let grads = tape.backward(loss);
//! assert!(model.named_params().iter().all(|(_, p)| grads.param(p).is_some()));
//! ```
#![warn(missing_docs)]

mod activation;
mod batchnorm;
mod conv2d;
mod dropout;
mod dropout2d;
mod flatten;
mod fold;
mod init;
mod linear;
mod mlp;
mod module;
mod pool;
mod recalibrate;
mod sequential;
mod unflatten;
mod weight_bias;

pub use activation::{Activation, ParseActivationError};
pub use batchnorm::{
    batch_norm_composed, batch_norm_eval, batch_norm_train, BatchNorm, BatchNorm1d, BatchNorm2d,
    BatchNormConfig, BatchNormError, BatchNormOp, BatchStats, RunningStats,
};
pub use conv2d::Conv2d;
pub use dropout::{Dropout, DropoutOp};
pub use dropout2d::Dropout2d;
pub use flatten::Flatten;
pub use fold::{fold_batchnorm, FoldError, Folded, SkipReason, Skipped};
pub use init::{
    calculate_gain, constant, fan_in_and_fan_out, kaiming_normal, kaiming_uniform, normal,
    seeded_rng, try_kaiming_uniform, try_uniform, uniform, xavier_normal, xavier_uniform, FanMode,
    Kaiming, Nonlinearity,
};
pub use linear::Linear;
pub use mlp::Mlp;
pub use module::{BufferMut, BufferRef, Mode, Module, ModuleExt, Path, Rng, Visitor, VisitorMut};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
/// The `rand` crate the layers draw from, re-exported so that a stochastic layer written
/// outside tapegrad calls the traits of [`Rng`] (`rand::Rng`, `RngCore`, `SeedableRng`) from
/// the very version tapegrad uses, without a dependency of its own.
pub use rand;
pub use recalibrate::{recalibrate, Recalibration};
pub use sequential::{Fusion, Sequential};
pub use unflatten::Unflatten;
