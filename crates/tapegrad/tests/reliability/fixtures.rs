//! Small models, data and checkpoints shared by the reliability tests (each test binary
//! includes this file with `#[path]`, and uses what it needs of it).
#![allow(dead_code)]

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tapegrad::checkpoint::ModelState;
use tapegrad::data::{BatchConfig, Batches, Split};
use tapegrad::layers::{Mlp, Sequential};
use tapegrad::prelude::*;
use tapegrad::train::{train_epoch, StepStats};

/// The MNIST MLP of the benchmarks: 784-512-256-10 with BatchNorm and dropout, as `mnist_mlp --bn
/// --dropout 0.2` builds it.
pub fn mnist_mlp(seed: u64) -> Sequential {
    Mlp::new(&[784, 512, 256, 10])
        .batch_norm(true)
        .dropout(0.2)
        .seed(seed)
        .build()
}

/// A tiny MLP (6-5-4-10, for [`synthetic_split`]s of 2x3 pixels) with every kind of state
/// a checkpoint holds: parameters, float and integer buffers (BatchNorm) and random
/// generators (Dropout).
pub fn tiny_mlp(seed: u64) -> Sequential {
    Mlp::new(&[6, 5, 4, 10])
        .batch_norm(true)
        .dropout(0.25)
        .seed(seed)
        .build()
}

/// SGD with momentum, the CLI's default optimizer.
pub fn sgd(lr: f64) -> Sgd {
    Sgd::new(SgdConfig {
        lr,
        momentum: Some(Momentum::Classic(0.9)),
        ..Default::default()
    })
    .expect("a valid SGD configuration")
}

/// One training step on the next batch of `batches` (which must have one left).
pub fn step_next_batch(
    tape: &mut Tape,
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    batches: &mut Batches<'_>,
) -> StepStats {
    let batch = batches.next_batch().expect("the epoch has a batch left");
    train_step(tape, model, optimizer, batch.images, batch.labels).expect("a finite step")
}

/// `count` random images of `rows x cols` pixels with labels 0..10 drawn from `seed`.
pub fn synthetic_split(count: usize, rows: usize, cols: usize, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images = (0..count * rows * cols).map(|_| rng.random()).collect();
    let labels = (0..count).map(|_| rng.random_range(0..10)).collect();
    Split::new(images, labels, rows, cols)
}

/// A training checkpoint of [`tiny_mlp`] after one epoch over synthetic data: parameters,
/// buffers, random state, optimizer state and progress all present.
pub fn tiny_training_checkpoint() -> Checkpoint {
    let mut model = tiny_mlp(3);
    let mut optimizer = sgd(0.1);
    let split = synthetic_split(64, 2, 3, 5);
    let mut batches = split.batches(BatchConfig::shuffled(16, 7).drop_last(true));
    train_epoch(
        &mut Tape::new(),
        &mut model,
        &mut optimizer,
        &mut batches,
        0,
        |_| {},
    )
    .expect("a small learning rate does not diverge");
    Checkpoint::of_model(&model)
        .with_optimizer(&model, &optimizer)
        .with_progress(Progress {
            epochs_done: 1,
            steps_done: 4,
            schedule: None,
            rng: None,
            settings: r#"{"hidden":[5,4],"bn":true}"#.into(),
        })
}

/// Every bit of a model's state (parameters, buffers, random generators), comparable
/// with `==` and printable: the proof that two models are the same, not just close.
pub fn state_bits(model: &Sequential) -> String {
    model_state_bits(&ModelState::capture(model))
}

/// [`state_bits`] of a captured or loaded state.
pub fn model_state_bits(state: &ModelState) -> String {
    let bits = |data: &[f32]| data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let mut out = String::new();
    for p in &state.params {
        out += &format!("{} {:?}\n", p.name, bits(&p.data));
    }
    for (name, buffer) in &state.buffers {
        out += &format!("{name} {buffer:?}\n");
    }
    for (name, rng) in &state.rngs {
        // ChaCha's Debug hides its state; its serde form shows all of it.
        let rng = serde_json::to_string(rng).expect("a generator serialises");
        out += &format!("{name} {rng}\n");
    }
    out
}
