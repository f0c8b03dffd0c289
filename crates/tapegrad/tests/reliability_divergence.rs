//! A NaN or infinite loss stops training with the epoch and step, before the bad step's
//! update: the library check users call in their own loops, and the training loop's use of it.

#[path = "reliability/fixtures.rs"]
mod fixtures;

use fixtures::{sgd, synthetic_split};
use tapegrad::data::BatchConfig;
use tapegrad::layers::{Mlp, Sequential};
use tapegrad::prelude::*;
use tapegrad::train::{train_epoch, EpochError};

#[test]
fn check_finite_refuses_nan_and_both_infinities_naming_epoch_and_step() {
    for loss in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let err = check_finite(loss, 4, 123).unwrap_err();
        assert_eq!((err.epoch, err.step), (4, 123));
        assert_eq!(err.loss.to_bits(), loss.to_bits());
        let message = err.to_string();
        assert!(
            message.contains("epoch 4, step 123") && message.contains(&loss.to_string()),
            "{message}"
        );
    }
    for loss in [0.0, 2.3, f32::MAX, -f32::MAX, f32::MIN_POSITIVE] {
        assert!(check_finite(loss, 1, 1).is_ok(), "{loss}");
    }
}

#[test]
fn a_diverging_epoch_stops_at_the_first_bad_step_with_the_last_good_parameters() {
    let split = synthetic_split(512, 2, 3, 1);
    let config = BatchConfig::shuffled(32, 2).drop_last(true);
    let mut batches = split.batches(config);
    let (mut model, mut optimizer, mut tape) = (no_bn_mlp(), sgd(0.05), Tape::new());
    // The same run, replayed step by step below.
    let (mut replay, mut replay_optimizer) = (no_bn_mlp(), sgd(0.05));

    // A good first epoch, then a learning rate no network without BatchNorm survives.
    train_epoch(
        &mut tape,
        &mut model,
        &mut optimizer,
        &mut batches,
        0,
        |_| {},
    )
    .unwrap();
    train_epoch(
        &mut tape,
        &mut replay,
        &mut replay_optimizer,
        &mut batches,
        0,
        |_| {},
    )
    .unwrap();
    optimizer.set_lr(1e30);
    replay_optimizer.set_lr(1e30);
    let mut good_steps = 0;
    let err = train_epoch(
        &mut tape,
        &mut model,
        &mut optimizer,
        &mut batches,
        1,
        |s| {
            assert!(s.loss.is_finite());
            good_steps += 1;
        },
    )
    .unwrap_err();
    let EpochError::Diverged(diverged) = err else {
        panic!("expected divergence, got {err}")
    };
    assert_eq!((diverged.epoch, diverged.step), (2, good_steps + 1));
    assert!(!diverged.loss.is_finite());
    // One finite step first (the weights jump by 1e30 times the gradient), so the replay
    // below compares a state that moved, not the one the epoch started from.
    assert!(good_steps >= 1, "{diverged}");
    assert!(diverged
        .to_string()
        .contains(&format!("epoch 2, step {}", good_steps + 1)));

    // The parameters are those after the last good step: the bad step changed none of them.
    let mut replay_batches = split.batches(config);
    replay_batches.set_epoch(1);
    for _ in 0..good_steps {
        let batch = replay_batches.next_batch().unwrap();
        train_step(
            &mut tape,
            &mut replay,
            &mut replay_optimizer,
            batch.images,
            batch.labels,
        )
        .unwrap();
    }
    assert_eq!(param_bits(&model), param_bits(&replay));
}

/// BatchNorm keeps even a 1e30 learning rate's losses finite (about 1e29), so the network
/// that must diverge has none; dropout stays, for its random state.
fn no_bn_mlp() -> Sequential {
    Mlp::new(&[6, 5, 4, 10]).dropout(0.25).seed(0).build()
}

fn param_bits(model: &Sequential) -> Vec<(String, Vec<u32>)> {
    model
        .named_params()
        .into_iter()
        .map(|(name, p)| (name, p.value().data().iter().map(|v| v.to_bits()).collect()))
        .collect()
}
