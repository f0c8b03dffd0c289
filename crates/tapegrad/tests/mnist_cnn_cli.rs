//! The `mnist_cnn` example as a user runs it: bad flags are refused with a message naming
//! them and exit status 2, before any data is read where the data is not needed to know; a
//! short run on a few images prints the `--json` line of `mnist_mlp`, key for key, and learns
//! with `--bn` too; one and three threads train the same bits, with and without `--bn`; a run resumed with more epochs ends with the weights of a straight run, and
//! a checkpoint of other settings is refused naming them; a diverging run exits 3; Ctrl-C
//! exits 130 with the checkpoint whole.
//!
//! Every training run here takes `--train-limit` and `--test-limit` (a full epoch of the net
//! is about a minute), so the file runs in seconds. The example runs as
//! `reliability/example.rs` describes.

#[path = "reliability/example.rs"]
mod example;

use example::{epochs_done, no_data, Example};
use serde_json::Value;
use std::collections::BTreeSet;

const MNIST_CNN: Example = Example("mnist_cnn");

/// A short run: 10 steps of batch 64, evaluated on 100 test images.
const SHORT: [&str; 4] = ["--train-limit", "640", "--test-limit", "100"];

/// `SHORT` and `extra`, as one argument list.
fn short<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    SHORT.iter().chain(extra).copied().collect()
}

/// The `--json` line (the last of stdout) of a run that succeeded.
fn json_of(example: Example, args: &[&str]) -> Value {
    let stdout = example.assert_succeeds(args);
    let last = stdout.lines().last().expect("a line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

#[test]
fn bad_flags_exit_2_naming_the_flag_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let no_data = no_data(dir.path());
    let cases: &[(&[&str], &[&str])] = &[
        (&["--batch-size", "0"], &["--batch-size", "0 is not in 1.."]),
        (&["--epochs", "0"], &["--epochs", "0 is not in 1.."]),
        (
            &["--train-limit", "0"],
            &["--train-limit", "0 is not in 1.."],
        ),
        (&["--test-limit", "many"], &["--test-limit", "many"]),
        (
            &["--lr=-0.05"],
            &["--lr", "must be a finite number >= 0, got -0.05"],
        ),
        (
            &["--momentum", "1e39"],
            &["--momentum", "largest 32-bit float"],
        ),
        // mnist_mlp's model flags are not this example's.
        (&["--hidden", "16"], &["--hidden"]),
        (&["--optimizer", "adam"], &["--optimizer"]),
        (&["--threads", "1000"], &["--threads 1000: at most"]),
        (
            &["--bn", "--batch-size", "1"],
            &["--batch-size 1 with --bn"],
        ),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().copied().chain(["--data", &no_data]).collect();
        let stderr = MNIST_CNN.assert_fails(&args, 2, needles);
        assert!(!stderr.contains("MNIST"), "reached the data: {stderr}");
    }
}

#[test]
fn with_bn_a_short_run_learns_with_the_batch_norms_parameters() {
    let cnn = json_of(MNIST_CNN, &short(&["--json", "--bn", "--seed", "3"]));
    assert_eq!(cnn["bn"], true);
    // The net's parameters, and gamma and beta of BatchNorm2d(32), BatchNorm2d(64) and
    // BatchNorm1d(128).
    let params = (32 * 9 + 32) + (64 * 32 * 9 + 64) + (9216 * 128 + 128) + (128 * 10 + 10);
    assert_eq!(cnn["params"], params + 2 * (32 + 64 + 128));
    let accuracy = cnn["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.3 && accuracy <= 1.0, "{cnn}");
    assert!(cnn["train_loss"].as_f64().unwrap() < 10f64.ln(), "{cnn}");
}

#[test]
fn outputs_that_cannot_be_written_exit_2_before_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let lost = dir.path().join("no/such/folder/run.ckpt");
    let ck = dir.path().join("run.ckpt");
    let no_data = no_data(dir.path());
    let (lost, ck) = (lost.to_str().unwrap(), ck.to_str().unwrap());
    let cases: [(&[&str], &[&str]); 2] = [
        (&["--save", lost], &["--save", "does not exist"]),
        (&["--save", ck, "--export", ck], &["are the same file"]),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().copied().chain(["--data", &no_data]).collect();
        MNIST_CNN.assert_fails(&args, 2, needles);
    }
}

#[test]
fn limits_beyond_the_data_exit_2_naming_the_count() {
    MNIST_CNN.assert_fails(
        &["--train-limit", "60001"],
        2,
        &["--train-limit 60001", "only 60000 training images"],
    );
    MNIST_CNN.assert_fails(
        &["--train-limit", "64", "--test-limit", "10001"],
        2,
        &["--test-limit 10001", "only 10000 test images"],
    );
}

#[test]
fn a_batch_beyond_the_memory_exits_2_with_the_figures() {
    // A batch of 60000 images holds about 75 GB of activations and gradients.
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    });
    if available.is_none_or(|kib| kib > 60 << 20) {
        eprintln!("MemAvailable unknown or above 60 GiB: the batch would fit; skipped");
        return;
    }
    MNIST_CNN.assert_fails(
        &["--batch-size", "60000"],
        2,
        &[
            "--batch-size 60000: training needs about",
            "activations",
            "use smaller batches",
        ],
    );
}

#[test]
fn a_short_run_prints_the_json_of_mnist_mlp_with_the_net_s_figures() {
    let cnn = json_of(MNIST_CNN, &short(&["--json", "--seed", "3"]));
    let mlp = json_of(
        Example("mnist_mlp"),
        &["--json", "--hidden", "16", "--epochs", "1"],
    );
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&cnn),
        keys(&mlp),
        "the two examples' --json differ in shape"
    );
    // The net's parameters: two 3x3 convolutions and two Linear layers, with biases.
    let params = (32 * 9 + 32) + (64 * 32 * 9 + 64) + (9216 * 128 + 128) + (128 * 10 + 10);
    assert_eq!(cnn["params"], params);
    assert_eq!(
        (cnn["epochs"].as_u64(), cnn["epochs_run"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (cnn["batch_size"].as_u64(), cnn["seed"].as_u64()),
        (Some(64), Some(3))
    );
    assert_eq!(cnn["bn"], false);
    // Ten steps from PyTorch's init learn something: better than chance (0.1) on the test
    // images, and a training loss below ln 10, the loss of a uniform guess.
    let accuracy = cnn["test_accuracy"].as_f64().unwrap();
    let loss = cnn["train_loss"].as_f64().unwrap();
    assert!(accuracy > 0.3 && accuracy <= 1.0, "{cnn}");
    assert!(loss < 10f64.ln(), "{cnn}");
    let peak = cnn["peak_rss_bytes"].as_u64().unwrap();
    assert!(
        peak < 300 << 20,
        "peak RSS {peak} bytes, the bound is 300 MiB"
    );
}

#[test]
fn resuming_with_more_epochs_extends_the_run_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let args = short(&["--seed", "7"]);
    // `--lr 0.05` and `--momentum 0.9` spell out the defaults the first run left implicit.
    let defaults = ["--lr", "0.05", "--momentum", "0.9"];
    let ck = MNIST_CNN.assert_resume_extends(dir.path(), &args, &defaults);
    // The same checkpoint with another learning rate or subset is another run.
    for (flag, value, setting) in [
        ("--lr", "0.01", "`lr`"),
        ("--train-limit", "1280", "`train_limit`"),
    ] {
        let args = [
            "--epochs",
            "2",
            "--resume",
            &ck,
            flag,
            value,
            "--test-limit",
            "50",
        ];
        MNIST_CNN.assert_fails(&args, 2, &["run.ckpt: cannot resume", setting]);
    }
}

#[test]
fn one_and_three_threads_train_the_same_bits_with_and_without_bn() {
    let dir = tempfile::tempdir().unwrap();
    for bn in [&[][..], &["--bn"]] {
        let export = |threads: &str| {
            let path = dir.path().join(format!("t{threads}.st"));
            let path = path.to_str().unwrap();
            let flags = ["--threads", threads, "--export", path].into_iter();
            let args = short(&flags.chain(bn.iter().copied()).collect::<Vec<_>>());
            MNIST_CNN.assert_succeeds(&args);
            std::fs::read(path).unwrap()
        };
        assert!(
            export("1") == export("3"),
            "the weights depend on the thread count ({bn:?})"
        );
    }
}

#[test]
fn divergence_exits_3_naming_epoch_and_step() {
    let args = short(&["--lr", "1e6"]);
    MNIST_CNN.assert_fails(&args, 3, &["training diverged at epoch 1, step "]);
}

#[test]
fn ctrl_c_finishes_the_step_and_exits_130_with_the_checkpoint_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run.ckpt");
    let args = short(&["--epochs", "3", "--save", ck.to_str().unwrap()]);
    let stderr = MNIST_CNN.assert_ctrl_c_exits_130(&args);
    assert!((1..=2).contains(&epochs_done(&ck)), "{stderr}");
}
