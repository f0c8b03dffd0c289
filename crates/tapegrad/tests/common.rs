//! Shared by the facade's integration tests: the real MNIST (through the loader's own
//! resolution; a missing data set fails the test loudly) and a small training run.

#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;
use tapegrad::data::{BatchConfig, Mnist, MnistLocation, Origin, Split, DEFAULT_MNIST_DIR};
use tapegrad::layers::{Mlp, Sequential};
use tapegrad::optim::{OptimizerKind, OptimizerSpec};
use tapegrad::prelude::*;
use tapegrad::train::train_epoch;

/// The repository's root: cargo runs a test in its package's folder, a user from the root.
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// MNIST through the loader's own resolution (`$MNIST_DIR`, else the default folder), with the
/// default taken under the repository's root, where a user's run puts it. Panics with the
/// loader's message (which says where it looked and how to place the files) if the data
/// cannot be had.
pub fn load_mnist() -> Mnist {
    let mut location = MnistLocation::resolve(None);
    if location.origin == Origin::Default {
        location.dir = repo_root().join(DEFAULT_MNIST_DIR);
    }
    Mnist::load_from(&location).unwrap_or_else(|e| panic!("MNIST is required by this test: {e}"))
}

/// MNIST, loaded once per test binary (see [`load_mnist`]).
pub fn mnist() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(load_mnist)
}

/// The first `n` training images of MNIST, as their own split.
pub fn train_subset(n: usize) -> Split {
    let train = &mnist().train;
    let pixels = train.pixels_per_image();
    Split::new(
        train.images[..n * pixels].to_vec(),
        train.labels[..n].to_vec(),
        train.rows,
        train.cols,
    )
}

/// A small MLP with every kind of state: parameters, BatchNorm buffers, a Dropout RNG.
pub fn stateful_mlp(seed: u64) -> Sequential {
    Mlp::new(&[784, 64, 32, 10])
        .batch_norm(true)
        .dropout(0.1)
        .seed(seed)
        .build()
}

/// SGD with Nesterov momentum and weight decay, so the optimizer has state to lose.
pub fn stateful_optimizer() -> Box<dyn Optimizer + Send> {
    OptimizerSpec {
        kind: OptimizerKind::Sgd,
        lr: Some(0.05),
        momentum: 0.9,
        nesterov: true,
        weight_decay: Some(1e-4),
    }
    .build()
    .expect("valid optimizer")
}

/// Trains epochs `from..to` (counting from 0) over `split`, batch 64, shuffled by `seed`.
pub fn train_epochs(
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    split: &Split,
    seed: u64,
    epochs: std::ops::Range<usize>,
) {
    let mut batches = split.batches(BatchConfig::shuffled(64, seed).drop_last(true));
    let mut tape = Tape::new();
    for epoch in epochs {
        train_epoch(&mut tape, model, optimizer, &mut batches, epoch, |_| {}).expect("training");
    }
}

/// Every parameter and buffer of a model, as raw bits, for exact comparisons.
pub fn state_bits(model: &Sequential) -> Vec<(String, Vec<u32>)> {
    let state = tapegrad::checkpoint::ModelState::capture(model);
    let mut out: Vec<(String, Vec<u32>)> = state
        .params
        .iter()
        .map(|p| (p.name.clone(), p.data.iter().map(|v| v.to_bits()).collect()))
        .collect();
    for (name, buffer) in state.buffers {
        let bits = match buffer {
            tapegrad::checkpoint::BufferValue::Float { data, .. } => {
                data.iter().map(|v| v.to_bits()).collect()
            }
            tapegrad::checkpoint::BufferValue::Int(i) => vec![i as u32, (i >> 32) as u32],
        };
        out.push((name, bits));
    }
    out
}

/// A fresh temporary folder for one test, removed by the caller when done.
pub fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
