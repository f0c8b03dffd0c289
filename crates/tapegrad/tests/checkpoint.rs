//! Checkpoints: resuming is bit-identical, and every way a file can be wrong gives its own
//! clear error.

mod common;

use common::*;
use tapegrad::checkpoint::{Checkpoint, CheckpointError, Progress};
use tapegrad::layers::Mlp;
use tapegrad::prelude::*;

fn progress(epochs_done: usize) -> Progress {
    Progress {
        epochs_done,
        steps_done: 0,
        schedule: None,
        rng: None,
        settings: "test".into(),
    }
}

#[test]
fn one_epoch_saved_and_resumed_in_fresh_objects_equals_two_epochs_straight() {
    let split = train_subset(3000);
    let dir = temp_dir("resume");
    let path = dir.join("run.ckpt");

    let mut straight = stateful_mlp(7);
    let mut optimizer = stateful_optimizer();
    train_epochs(&mut straight, optimizer.as_mut(), &split, 7, 0..2);

    let mut first_half = stateful_mlp(7);
    let mut optimizer = stateful_optimizer();
    train_epochs(&mut first_half, optimizer.as_mut(), &split, 7, 0..1);
    Checkpoint::of_model(&first_half)
        .with_optimizer(&first_half, &optimizer)
        .with_progress(progress(1))
        .save(&path)
        .unwrap();
    drop((first_half, optimizer));

    // Fresh objects, built from another seed: everything must come from the file.
    let mut resumed = stateful_mlp(12345);
    let mut optimizer = stateful_optimizer();
    let done = Checkpoint::load(&path)
        .unwrap()
        .resume(&mut resumed, optimizer.as_mut(), "test")
        .unwrap()
        .epochs_done;
    assert_eq!(done, 1);
    train_epochs(&mut resumed, optimizer.as_mut(), &split, 7, done..2);

    assert_eq!(state_bits(&resumed), state_bits(&straight));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resuming_with_other_settings_is_refused_before_anything_changes() {
    let dir = temp_dir("settings");
    let path = dir.join("run.ckpt");
    let model = stateful_mlp(1);
    let optimizer = stateful_optimizer();
    Checkpoint::of_model(&model)
        .with_optimizer(&model, &optimizer)
        .with_progress(progress(1))
        .save(&path)
        .unwrap();
    let mut other = stateful_mlp(2);
    let before = state_bits(&other);
    let mut optimizer = stateful_optimizer();
    let err = Checkpoint::load(&path)
        .unwrap()
        .resume(&mut other, optimizer.as_mut(), "other")
        .unwrap_err();
    assert!(
        matches!(err, CheckpointError::SettingsMismatch { .. }),
        "{err}"
    );
    assert_eq!(state_bits(&other), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A saved small model and the bytes of its file.
fn saved(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("model.ckpt");
    Checkpoint::of_model(&stateful_mlp(3)).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn a_truncated_file_is_reported_as_truncated() {
    let dir = temp_dir("truncated");
    let (path, bytes) = saved(&dir);
    for keep in [4, 30, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = Checkpoint::load(&path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Truncated { .. }),
            "{keep} bytes: {err}"
        );
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_flipped_byte_in_the_payload_fails_the_checksum() {
    let dir = temp_dir("flipped");
    let (path, mut bytes) = saved(&dir);
    let last = bytes.len() - 100;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(
        matches!(err, CheckpointError::ChecksumMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("corrupt"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_magic_or_version_is_named_as_such() {
    let dir = temp_dir("version");
    let (path, mut bytes) = saved(&dir);
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::UnsupportedVersion {
                found: 99,
                supported: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("version 99"), "{err}");

    std::fs::write(&path, b"PK\x03\x04 not a checkpoint at all, a zip perhaps").unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::BadMagic { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_model_of_another_shape_is_refused_naming_the_tensor_and_left_unchanged() {
    let dir = temp_dir("shape");
    let (path, _) = saved(&dir);
    let checkpoint = Checkpoint::load(&path).unwrap();

    let mut wider = Mlp::new(&[784, 65, 32, 10])
        .batch_norm(true)
        .dropout(0.1)
        .seed(3)
        .build();
    let before = state_bits(&wider);
    let err = checkpoint.restore_model(&mut wider).unwrap_err();
    match &err {
        CheckpointError::ShapeMismatch {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "0.weight");
            assert_eq!(
                (expected.as_slice(), found.as_slice()),
                (&[65, 784][..], &[64, 784][..])
            );
        }
        other => panic!("expected a shape mismatch, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("`0.weight` has shape [64, 784] in the file but [65, 784] in the model"),
        "{err}"
    );
    assert_eq!(state_bits(&wider), before, "a failed load changes nothing");

    let mut without_bn = Mlp::new(&[784, 64, 32, 10]).dropout(0.1).seed(3).build();
    let err = checkpoint.restore_model(&mut without_bn).unwrap_err();
    assert!(matches!(err, CheckpointError::Mismatch { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn buffers_survive_a_save_and_load_so_eval_accuracy_does_not_collapse() {
    let split = train_subset(2000);
    let dir = temp_dir("buffers");
    let path = dir.join("model.ckpt");
    let mut model = stateful_mlp(5);
    let mut optimizer = stateful_optimizer();
    train_epochs(&mut model, optimizer.as_mut(), &split, 5, 0..1);
    Checkpoint::of_model(&model).save(&path).unwrap();
    let mut reloaded = stateful_mlp(6);
    Checkpoint::load(&path)
        .unwrap()
        .restore_model(&mut reloaded)
        .unwrap();
    let test = &mnist().test;
    let a = tapegrad::train::evaluate(&mut model, test, Mode::Eval);
    let b = tapegrad::train::evaluate(&mut reloaded, test, Mode::Eval);
    assert_eq!(a, b);
    assert!(
        a.accuracy > 0.8,
        "a trained model, not chance: {}",
        a.accuracy
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn optimizer_state_is_saved_by_name_and_checked_against_the_model() {
    let split = train_subset(256);
    let dir = temp_dir("optimizer-names");
    let path = dir.join("run.ckpt");
    let mut model = stateful_mlp(3);
    let mut optimizer = stateful_optimizer();
    train_epochs(&mut model, optimizer.as_mut(), &split, 1, 0..1);
    let checkpoint = Checkpoint::of_model(&model)
        .with_optimizer(&model, &optimizer)
        .with_progress(progress(1));
    let saved = checkpoint.optimizer.as_ref().unwrap();
    let names: Vec<&String> = saved.param_lens().into_iter().map(|(n, _)| n).collect();
    let mut expected: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
    let mut found: Vec<String> = names.into_iter().cloned().collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected, "one state per parameter, by its name");
    checkpoint.save(&path).unwrap();

    // A model whose first hidden layer is narrower: the optimizer state of `0.weight` does not
    // fit, and the error names it before anything is loaded.
    let mut other = Mlp::new(&[784, 48, 32, 10])
        .batch_norm(true)
        .dropout(0.1)
        .seed(3)
        .build();
    let before = state_bits(&other);
    let mut fresh = stateful_optimizer();
    let err = Checkpoint::load(&path)
        .unwrap()
        .resume(&mut other, fresh.as_mut(), "test")
        .unwrap_err();
    match &err {
        CheckpointError::Mismatch { what, name, .. } => {
            assert_eq!(
                (*what, name.as_str()),
                ("optimizer state", "0.weight"),
                "{err}"
            );
        }
        other => panic!("expected a mismatch, got {other}"),
    }
    assert_eq!(state_bits(&other), before);
    assert_eq!(
        fresh.state(),
        stateful_optimizer().state(),
        "nothing loaded"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
