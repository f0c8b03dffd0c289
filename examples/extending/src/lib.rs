//! # tapegrad-extending-example
//!
//! Layers written outside tapegrad, on its public API only: what `docs/EXTENDING.md` builds
//! step by step, and what `examples/custom_layer.rs` trains on MNIST.
//!
//! - [`LeakyRelu`] on [`LeakyReluOp`]: the smallest op with its own backward;
//! - [`LayerNorm`] on [`LayerNormOp`]: a fused op with a hand-written backward and learnable
//!   gain and bias, checked against PyTorch;
//! - [`MeanCenter`]: a buffer, and different behaviour in training and evaluation;
//! - [`GaussianNoise`]: a stochastic layer whose generator is saved in checkpoints.
//!
//! ```
//! use tapegrad::prelude::*;
//! use tapegrad::layers::{seeded_rng, Linear, Sequential};
//! use tapegrad_extending_example::{LayerNorm, LeakyRelu};
//!
//! let mut rng = seeded_rng(0);
//! let mut model = Sequential::new()
//!     .with(Linear::new(4, 8, &mut rng))
//!     .with(LayerNorm::new(8))
//!     .with(LeakyRelu::default())
//!     .with(Linear::new(8, 3, &mut rng));
//! let mut tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![1, 4], vec![0.5, -1.0, 2.0, 0.0]));
//! let logits = model.forward(&mut tape, x, Mode::Train);
//! let loss = tape.cross_entropy(logits, &[2]);
//! let grads = tape.backward(loss);
//! assert!(model.named_params().iter().all(|(_, p)| grads.param(p).is_some()));
//! ```
#![warn(missing_docs)]

mod gaussian_noise;
mod layer_norm;
mod leaky_relu;
mod mean_center;

pub use gaussian_noise::GaussianNoise;
pub use layer_norm::{layer_norm, LayerNorm, LayerNormOp};
pub use leaky_relu::{leaky_relu, LeakyRelu, LeakyReluOp};
pub use mean_center::MeanCenter;
