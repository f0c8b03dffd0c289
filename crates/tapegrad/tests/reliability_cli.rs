//! The `mnist_mlp` example as a user runs it: every bad flag is refused with a message
//! naming it and exit status 2; bad data or checkpoints exit 2 naming the file; a diverging
//! run exits 3 naming the epoch and step, and leaves the file at `--save` untouched.
//!
//! `cargo test` builds the examples with the tests, so the binary sits in
//! `target/<profile>/examples/`, beside this test's `deps/` folder.

#[path = "reliability/fixtures.rs"]
mod fixtures;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tapegrad::prelude::*;

fn mnist_mlp_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir
        .join("examples")
        .join(format!("mnist_mlp{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds it with the tests; a run filtered with --test \
         needs `cargo build --example mnist_mlp` (same profile) first",
        path.display()
    );
    path
}

/// Runs the example with `args` (MNIST from `$MNIST_DIR`, as the tests have it).
fn run(args: &[&str]) -> Output {
    Command::new(mnist_mlp_binary())
        .args(args)
        .output()
        .expect("the example runs")
}

/// Asserts the run exited with `status` and its stderr holds every one of `needles`.
fn assert_fails(args: &[&str], status: i32, needles: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: no `{needle}` in: {stderr}"
        );
    }
    stderr
}

#[test]
fn bad_flags_exit_2_naming_the_flag_and_the_rule() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--batch-size", "0"], &["--batch-size", "0 is not in 1.."]),
        (&["--epochs", "0"], &["--epochs", "0 is not in 1.."]),
        (&["--threads", "0"], &["--threads", "0 is not in 1.."]),
        (
            &["--dropout", "1.0"],
            &["--dropout", "must be in [0, 1), got 1"],
        ),
        (&["--dropout", "-0.1"], &["--dropout", "must be in [0, 1)"]),
        (
            &["--lr=-0.1"],
            &["--lr", "must be a finite number >= 0, got -0.1"],
        ),
        (&["--lr", "-0.1"], &["--lr"]),
        (
            &["--lr", "inf"],
            &["--lr", "must be a finite number >= 0, got inf"],
        ),
        (&["--lr", "NaN"], &["--lr", "must be a finite number >= 0"]),
        (&["--lr", "fast"], &["--lr", "invalid float literal"]),
        (
            &["--momentum=-0.9"],
            &["--momentum", "must be a finite number >= 0"],
        ),
        (
            &["--weight-decay", "nan"],
            &["--weight-decay", "must be a finite number"],
        ),
        (&["--hidden", "12,abc"], &["--hidden", "abc"]),
        (&["--hidden", "12,0"], &["--hidden", "0 is not in 1.."]),
        (&["--hidden", ""], &["--hidden"]),
        (&["--batch-size", "-5"], &["--batch-size"]),
        (
            &["--activation", "gelu"],
            &["--activation", "relu, sigmoid, tanh"],
        ),
        (
            &["--optimizer", "rmsprop"],
            &["--optimizer", "sgd, adam, adamw"],
        ),
        (&["--seed", "-1"], &["--seed"]),
        (&["--epoch", "3"], &["--epoch"]),
    ];
    for (args, needles) in cases {
        assert_fails(args, 2, needles);
    }
}

#[test]
fn outputs_in_missing_folders_exit_2_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let lost = dir.path().join("no/such/folder/run.ckpt");
    let folder = dir.path().to_str().unwrap();
    let no_data = dir.path().join("no-data");
    for (flag, path) in [("--save", lost.to_str().unwrap()), ("--export", folder)] {
        // Refused before anything else, not after an epoch: the missing data is not reached.
        let args = [flag, path, "--data", no_data.to_str().unwrap()];
        let stderr = assert_fails(&args, 2, &[flag, "not a file in an existing folder"]);
        assert!(!stderr.contains("MNIST"), "{stderr}");
    }
}

#[test]
fn unreadable_data_exits_2_naming_the_folder_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    assert_fails(
        &["--data", missing.to_str().unwrap()],
        2,
        &["MNIST files missing in", "nowhere", "(chosen by --data)"],
    );

    // All four files present, the first read one corrupt.
    for name in tapegrad::data::MNIST_FILES {
        std::fs::write(dir.path().join(name), b"not an IDX file").unwrap();
    }
    assert_fails(
        &["--data", dir.path().to_str().unwrap()],
        2,
        &["images-idx3-ubyte: not an IDX file: magic is 6e 6f 74 20"],
    );
}

#[test]
fn bad_checkpoints_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.ckpt");
    assert_fails(
        &["--resume", absent.to_str().unwrap()],
        2,
        &["absent.ckpt: read failed"],
    );

    let garbage = dir.path().join("garbage.ckpt");
    std::fs::write(&garbage, b"hello").unwrap();
    assert_fails(
        &["--resume", garbage.to_str().unwrap()],
        2,
        &["garbage.ckpt: not a tapegrad checkpoint"],
    );

    // A valid checkpoint of another run: the settings differ, and the message names each
    // differing setting with both values.
    let other = dir.path().join("other.ckpt");
    fixtures::tiny_training_checkpoint().save(&other).unwrap();
    assert_fails(
        &["--resume", other.to_str().unwrap()],
        2,
        &[
            "other.ckpt: cannot resume: ",
            "settings differ from the saved run's: ",
            "`hidden` was [5,4], now [512,256]",
        ],
    );
}

#[test]
fn divergence_exits_3_naming_epoch_and_step_and_keeps_the_saved_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("last_good.ckpt");
    fixtures::tiny_training_checkpoint().save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();

    let stderr = assert_fails(
        &["--lr", "1e6", "--save", path.to_str().unwrap()],
        3,
        &["training diverged at epoch 1, step "],
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "{stderr}");
    Checkpoint::load(&path).unwrap();
    // Nothing else was left beside it (no temporary file from an aborted save).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
