//! The settings a checkpoint of `mnist_mlp` records: a run continues from a checkpoint only
//! with the same ones.

use crate::args::{Act, Args, Opt};
use serde::Serialize;
use tapegrad::optim::{AdamConfig, OptimizerSpec, WeightDecay};

/// What a resumed run must share with the saved one: the flags that shape the model, the
/// optimizer and the batches, as the values they resolve to (so `--lr 0.1` equals the SGD
/// default left out). `--epochs` is not among them, so a run can be extended; nor are the
/// flags that only choose where things go or how fast they run (`--save`, `--export`,
/// `--resume`, `--json`, `--threads`, `--data`).
#[derive(Serialize)]
struct Settings<'a> {
    hidden: &'a [u32],
    activation: Act,
    bn: bool,
    dropout: f32,
    optimizer: Opt,
    lr: f64,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    batch_size: u32,
    seed: u64,
}

/// The run's settings as the checkpoint records them (resuming with others is refused).
pub fn settings(args: &Args) -> String {
    let spec = args.optimizer();
    let default_decay = match (args.optimizer, AdamConfig::adamw().weight_decay) {
        (Opt::Adamw, Some(WeightDecay::Decoupled(w) | WeightDecay::L2(w))) => w,
        _ => 0.0,
    };
    let settings = Settings {
        hidden: &args.hidden,
        activation: args.activation,
        bn: args.run.bn,
        dropout: args.dropout,
        optimizer: args.optimizer,
        lr: spec.lr.unwrap_or(OptimizerSpec::default_lr(spec.kind)),
        momentum: args.momentum,
        nesterov: args.nesterov,
        weight_decay: args.weight_decay.unwrap_or(default_decay),
        batch_size: args.run.batch_size,
        seed: args.run.seed,
    };
    serde_json::to_string(&settings).expect("settings serialise")
}
