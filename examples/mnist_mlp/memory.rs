//! The memory an MLP's training needs, estimated before any of it is allocated, so that a
//! model too large for the machine is refused with the figures (`common::preflight`) instead
//! of aborting part-way.

use crate::args::{Args, Opt};
use crate::common::preflight::{check_memory, Estimate};

/// Refuses the run if its estimate exceeds the available memory.
///
/// The estimate counts 4-byte floats: the parameters, their gradients, the optimizer's state
/// (one slot per parameter for SGD with momentum, two for Adam), BatchNorm's running
/// statistics, and the activations of the larger of a training batch and the evaluation's
/// batch of 1000 (each hidden layer's outputs and their gradients, a few per unit). It is a
/// lower bound.
pub fn check(args: &Args, inputs: usize, train_samples: usize) -> Result<(), String> {
    let what = format!(
        "--hidden {} with --batch-size {}",
        args.hidden_list(),
        args.run.batch_size
    );
    let advice = "use narrower layers or smaller batches";
    check_memory(&what, &estimate(args, inputs, train_samples), advice)
}

fn estimate(args: &Args, inputs: usize, train_samples: usize) -> Estimate {
    const FLOAT: f64 = 4.0;
    let bn = args.run.bn;
    let hidden: Vec<f64> = args.hidden.iter().map(|&h| h as f64).collect();
    let mut widths = vec![inputs as f64];
    widths.extend(&hidden);
    widths.push(10.0);
    let linear: f64 = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let units: f64 = hidden.iter().sum();
    // gamma and beta are trained; the running mean and variance are not.
    let trained = linear + if bn { 2.0 * units } else { 0.0 };
    let buffers = if bn { 2.0 * units } else { 0.0 };
    let slots = match args.optimizer {
        Opt::Sgd if args.momentum == 0.0 => 0.0,
        Opt::Sgd => 1.0,
        Opt::Adam | Opt::Adamw => 2.0,
    };
    // Per hidden unit and sample: the Linear output, the activation, BatchNorm's
    // normalised value and output, dropout's mask; each with its gradient.
    let per_unit = 2.0 * (2.0 + if bn { 2.0 } else { 0.0 } + (args.dropout > 0.0) as u8 as f64);
    let batch = (args.run.batch_size as usize).min(train_samples).max(1000) as f64;
    let activations = batch * (inputs as f64 + units * per_unit + 10.0 * 2.0);
    Estimate {
        parameters: FLOAT * (trained + buffers),
        gradients: FLOAT * trained,
        optimizer: FLOAT * trained * slots,
        activations: FLOAT * activations,
    }
}
