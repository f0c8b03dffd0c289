//! What the criterion benches share: seeded inputs and the models `benches/compare` times.

#![allow(dead_code)] // each bench uses its own part

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tapegrad::core::{Param, Tape, Tensor};
use tapegrad::layers::{batch_norm_composed, batch_norm_train, Activation, Mlp, Sequential};
use tapegrad::optim::{Momentum, Sgd, SgdConfig};

/// Uniform values in `[-1, 1)` of `shape`, from `seed`.
pub fn uniform(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let numel = shape.iter().product();
    let data = (0..numel)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    Tensor::from_vec(shape.to_vec(), data)
}

/// One BatchNorm forward and backward in training mode, the fused op or the same computation
/// composed from core ops (`batch_norm_composed`); `x`, gamma and beta are leaves that need
/// gradients, `dy` the output's gradient.
pub fn batch_norm_step(
    tape: &mut Tape,
    fused: bool,
    x: &Param,
    affine: (&Param, &Param),
    dy: Tensor,
) {
    tape.reset();
    let (gamma, beta) = affine;
    let (xv, g, b) = (tape.param(x), tape.param(gamma), tape.param(beta));
    let y = if fused {
        batch_norm_train(tape, xv, Some((g, b)), 1e-5)
    } else {
        batch_norm_composed(tape, xv, g, b, 1e-5)
    };
    let grads = tape.backward_with(y, dy);
    assert!(grads.param(x).is_some() && grads.param(gamma).is_some());
    tape.recycle(grads);
}

/// Labels in `0..10`, from `seed`.
pub fn labels(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..10)).collect()
}

/// One of the benchmarked training setups: a model, its optimizer, and a batch.
pub struct TrainCase {
    pub name: String,
    pub model: Sequential,
    pub sgd: Sgd,
    pub images: Tensor,
    pub labels: Vec<usize>,
}

/// The `784-512-256-10` ReLU MLP with SGD lr 0.1 momentum 0.9, or Ioffe & Szegedy's
/// `784-100-100-100-10` sigmoid net with plain SGD lr 0.5, at `batch`.
pub fn train_case(sigmoid_net: bool, batch_norm: bool, batch: usize) -> TrainCase {
    let (widths, activation, lr, momentum): (&[usize], _, _, _) = if sigmoid_net {
        (&[784, 100, 100, 100, 10], Activation::Sigmoid, 0.5, None)
    } else {
        (
            &[784, 512, 256, 10],
            Activation::Relu,
            0.1,
            Some(Momentum::Classic(0.9)),
        )
    };
    let model = Mlp::new(widths)
        .activation(activation)
        .batch_norm(batch_norm)
        .seed(0)
        .build();
    let sgd = Sgd::new(SgdConfig {
        lr,
        momentum,
        ..SgdConfig::default()
    })
    .expect("valid SGD");
    let net = if sigmoid_net { "sigmoid3x100" } else { "mlp" };
    TrainCase {
        name: format!("{net}{}_b{batch}", if batch_norm { "_bn" } else { "" }),
        model,
        sgd,
        images: uniform(&[batch, 784], 1),
        labels: labels(batch, 2),
    }
}
