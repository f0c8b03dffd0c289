//! The `mnist_mlp` example as a user runs it: every bad flag is refused with a message
//! naming it and exit status 2; bad data or checkpoints exit 2 naming the file; a diverging
//! run exits 3 naming the epoch and step, and leaves the file at `--save` untouched. Runs
//! that cannot work (an export over the checkpoint, BatchNorm batches of one or none, too
//! many threads or too few allowed, a model beyond the available memory or the
//! address-space limit) are refused before training; a closed or full stdout or Ctrl-C
//! never cost the epoch's checkpoint; and a run resumed with more epochs ends where a
//! straight run does.
//!
//! The example runs as `reliability/example.rs` describes.

#[path = "reliability/example.rs"]
mod example;
#[path = "reliability/fixtures.rs"]
mod fixtures;

use example::{epochs_done, no_data, spawn_piped, Example};
use std::path::Path;
use std::process::Command;
use tapegrad::prelude::*;

const MNIST_MLP: Example = Example("mnist_mlp");

fn mnist_mlp_binary() -> std::path::PathBuf {
    MNIST_MLP.binary()
}

fn mnist_mlp() -> Command {
    MNIST_MLP.command()
}

fn assert_fails(args: &[&str], status: i32, needles: &[&str]) -> String {
    MNIST_MLP.assert_fails(args, status, needles)
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
    for (flag, path, why) in [
        ("--save", lost.to_str().unwrap(), "does not exist"),
        ("--export", folder, "it is a directory, not a regular file"),
    ] {
        // Refused before anything else, not after an epoch: the missing data is not reached.
        let args = [flag, path, "--data", no_data.to_str().unwrap()];
        let stderr = assert_fails(&args, 2, &[flag, why]);
        assert!(!stderr.contains("MNIST"), "{stderr}");
    }
}

#[test]
fn unwritable_destinations_exit_2_before_training_naming_flag_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let no_data = no_data(dir.path());
    let long = dir.path().join("x".repeat(250));
    let trailing = format!("{}/run.ckpt/", dir.path().display());
    let cases: [(&str, &str, &str); 4] = [
        // Root may write anywhere but here: /proc takes no new file.
        ("--save", "/proc/self/run.ckpt", "/proc/self/run.ckpt"),
        ("--export", trailing.as_str(), "ends with '/'"),
        // 250 bytes fit a file system's 255, but not the temporary file beside it.
        ("--save", long.to_str().unwrap(), "at most 243 fit"),
        ("--export", "/dev/null", "not a regular file"),
    ];
    for (flag, path, why) in cases {
        let args = [flag, path, "--data", no_data.as_str()];
        let stderr = assert_fails(&args, 2, &[flag, why]);
        assert!(!stderr.contains("MNIST"), "reached the data: {stderr}");
    }
    use std::os::unix::fs::FileTypeExt;
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device(), "/dev/null was replaced");
}

#[test]
fn a_late_write_failure_keeps_the_weights_in_the_temporary_folder() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("out");
    std::fs::create_dir(&sub).unwrap();
    let export = sub.join("weights.safetensors");
    let mut child = spawn_piped(
        mnist_mlp()
            .args(["--epochs", "2", "--hidden", "16"])
            .args(["--export", export.to_str().unwrap()]),
    );
    // The destination passed the check before training; it goes away during the run.
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("epoch  1/2"), "{first}");
    std::fs::remove_dir_all(&sub).unwrap();
    std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let rescued = stderr
        .split("the weights were written to ")
        .nth(1)
        .and_then(|rest| rest.split(" instead").next())
        .unwrap_or_else(|| panic!("no rescue named in: {stderr}"));
    let mut model = Mlp::new(&[784, 16, 10]).build();
    let loaded = import_safetensors(&mut model, Path::new(rescued));
    std::fs::remove_file(rescued).unwrap();
    loaded.expect("the rescued file holds the trained weights");
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

#[test]
fn an_export_over_the_checkpoint_exits_2_before_training() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let ck = dir.path().join("run.ckpt");
    fixtures::tiny_training_checkpoint().save(&ck).unwrap();
    let before = std::fs::read(&ck).unwrap();
    let ck = ck.to_str().unwrap();
    let dotted = format!("{}/./run.ckpt", dir.path().display());
    let detour = format!("{}/sub/../run.ckpt", dir.path().display());
    let no_data = no_data(dir.path());
    for (flag, export) in [
        ("--save", ck),
        ("--save", dotted.as_str()),
        ("--resume", ck),
        ("--resume", detour.as_str()),
    ] {
        let args = [flag, ck, "--export", export, "--data", no_data.as_str()];
        assert_fails(&args, 2, &["--export", flag, "are the same file"]);
        assert_eq!(std::fs::read(ck).unwrap(), before);
    }
}

#[test]
fn batchnorm_batches_of_one_exit_2_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let no_data = no_data(dir.path());
    assert_fails(
        &["--bn", "--batch-size", "1", "--data", &no_data],
        2,
        &["--batch-size 1 with --bn", "at least 2 samples per batch"],
    );
}

#[test]
fn a_batchnorm_batch_larger_than_the_training_set_exits_2() {
    // With --bn the last partial batch is dropped, so no step would run.
    assert_fails(
        &["--bn", "--batch-size", "60001", "--epochs", "1"],
        2,
        &["--batch-size 60001 with --bn", "60000 training images"],
    );
}

#[test]
fn numbers_beyond_f32_and_dropout_rounding_to_1_exit_2_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let no_data = no_data(dir.path());
    for flag in ["--lr", "--momentum", "--weight-decay"] {
        assert_fails(
            &[flag, "1e39", "--data", &no_data],
            2,
            &[flag, "got 1e39", "largest 32-bit float"],
        );
    }
    assert_fails(
        &["--dropout", "0.99999999", "--data", &no_data],
        2,
        &["--dropout", "got 0.99999999", "rounds to 1"],
    );
}

#[test]
fn too_many_threads_exit_2_naming_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let no_data = no_data(dir.path());
    assert_fails(
        &["--threads", "1000", "--data", &no_data],
        2,
        &["--threads 1000: at most", "per available core"],
    );
}

#[test]
fn a_low_process_limit_exits_2_instead_of_panicking() {
    // Root ignores RLIMIT_NPROC, so as root the run is made as `nobody`.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let limited = || {
        let mut c = Command::new(if root { "setpriv" } else { "prlimit" });
        if root {
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "prlimit",
            ]);
        }
        c.arg("--nproc=1").arg(mnist_mlp_binary());
        c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        c
    };
    // `--help` starts no thread: it fails only where the limit cannot be set up here (no
    // prlimit or setpriv, no right to change user, a binary `nobody` cannot run).
    if !limited()
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("cannot run the example under `prlimit --nproc=1` here: skipped");
        return;
    }
    let out = limited()
        .args(["--epochs", "1", "--hidden", "8"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("could not start"), "{stderr}");
    assert!(stderr.contains("ulimit -u"), "{stderr}");
}

#[test]
fn a_model_larger_than_the_memory_exits_2_with_the_figures() {
    if !std::fs::read_to_string("/proc/meminfo").is_ok_and(|m| m.contains("MemAvailable:")) {
        eprintln!("no MemAvailable in /proc/meminfo: the example checks nothing; skipped");
        return;
    }
    assert_fails(
        &["--hidden", "100000,100000", "--epochs", "1"],
        2,
        &[
            "--hidden 100000,100000",
            "GiB (parameters",
            "optimizer state",
            "MemAvailable",
        ],
    );
}

#[test]
fn a_model_beyond_the_address_space_limit_exits_2_naming_the_layer() {
    // Under `ulimit -v 400 MB` the data and the first layer fit, the 576 MB weight of the
    // second does not; the memory estimate (about 2.2 GiB against MemAvailable) lets the run
    // through, so it is the model's fallible build that refuses it, where `Mlp::build`
    // aborted the process (exit 134, "memory allocation of 576000000 bytes failed").
    let available_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kib| kib >> 20);
    if available_gib.is_none_or(|gib| gib < 4) {
        eprintln!("less than 4 GiB available: the memory estimate would refuse first; skipped");
        return;
    }
    let limited = || {
        let mut c = Command::new("prlimit");
        c.arg("--as=400000000").arg(mnist_mlp_binary());
        c
    };
    if !limited()
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("cannot run the example under `prlimit --as` here: skipped");
        return;
    }
    let out = limited()
        .args(["--hidden", "12000,12000", "--epochs", "1", "--threads", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: --hidden 12000,12000: Linear(12000 -> 12000): could not allocate \
             576000000 bytes for weight [12000, 12000]: the allocator refused"
        ),
        "{stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_the_run_after_the_save_with_141() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run.ckpt");
    let mut child = spawn_piped(mnist_mlp().args([
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--save",
        ck.to_str().unwrap(),
    ]));
    // `| head -1`: the first epoch's line is read, then the reader goes away.
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("epoch  1/2"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "not quiet: {stderr}");
    // The second epoch's line could not be printed; its checkpoint was written all the same.
    assert_eq!(epochs_done(&ck), 2);
}

#[test]
fn a_full_stdout_does_not_stop_training_or_saving() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run.ckpt");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = mnist_mlp()
        .args([
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--save",
            ck.to_str().unwrap(),
        ])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stdout: "), "{stderr}");
    assert_eq!(epochs_done(&ck), 1);
}

#[test]
fn ctrl_c_finishes_the_step_and_exits_130_with_the_checkpoint_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run.ckpt");
    let args = [
        "--epochs",
        "3",
        "--hidden",
        "16",
        "--save",
        ck.to_str().unwrap(),
    ];
    let stderr = MNIST_MLP.assert_ctrl_c_exits_130(&args);
    // Stopped during the second epoch (or right after its save): the checkpoint is whole.
    assert!((1..=2).contains(&epochs_done(&ck)), "{stderr}");
}

#[test]
fn resuming_with_more_epochs_extends_the_run_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    // `--lr 0.1` and `--momentum 0.9` spell out the defaults the first run left implicit.
    let defaults = ["--lr", "0.1", "--momentum", "0.9"];
    MNIST_MLP.assert_resume_extends(dir.path(), &["--hidden", "16", "--seed", "7"], &defaults);
}
