//! The settings a checkpoint of `mnist_cnn` records: a run continues from a checkpoint only
//! with the same ones.

use crate::args::Args;
use serde::Serialize;

/// What a resumed run must share with the saved one: the flags that shape the model, the
/// optimizer and the batches. `--epochs` is not among them, so a run can be extended; nor
/// are the flags that only choose where things go, how fast they run or what is evaluated
/// (`--save`, `--export`, `--resume`, `--json`, `--threads`, `--data`, `--test-limit`).
#[derive(Serialize)]
struct Settings {
    bn: bool,
    lr: f64,
    momentum: f64,
    batch_size: u32,
    seed: u64,
    train_limit: Option<usize>,
}

/// The run's settings as the checkpoint records them (resuming with others is refused).
pub fn settings(args: &Args) -> String {
    let settings = Settings {
        bn: args.run.bn,
        lr: args.lr,
        momentum: args.momentum,
        batch_size: args.run.batch_size,
        seed: args.run.seed,
        train_limit: args.train_limit,
    };
    serde_json::to_string(&settings).expect("settings serialise")
}
