//! The memory the net's training needs, estimated before the data is batched, so that a
//! batch too large for the machine is refused with the figures (`common::preflight`) instead
//! of aborting part-way; and the evaluation's batch, which bounds what evaluating holds.

use crate::args::Args;
use crate::common::preflight::{check_memory, Estimate};
use tapegrad::prelude::*;

/// Images per evaluation batch. The tape holds every value of a batch's forward until the
/// next batch, about 0.6 MB per image through this net (about 550 MB for the 1000 of
/// `evaluate`), so evaluation runs in batches of this many (about 60 MB).
pub const EVAL_BATCH: usize = 100;

/// Refuses the run if the estimate for `model` exceeds the available memory.
///
/// The estimate counts 4-byte floats: the parameters, their gradients, SGD's momentum, and
/// the activations of the larger of a training batch with their gradients and an evaluation
/// batch without. It is a lower bound.
pub fn check(args: &Args, model: &Sequential, train_samples: usize) -> Result<(), String> {
    let what = format!("--batch-size {}", args.run.batch_size);
    let estimate = estimate(args, model.param_count(), train_samples);
    check_memory(&what, &estimate, "use smaller batches")
}

fn estimate(args: &Args, params: usize, train_samples: usize) -> Estimate {
    const FLOAT: f64 = 4.0;
    let params = params as f64;
    let slots = if args.momentum == 0.0 { 0.0 } else { 1.0 };
    // Per image, what a forward leaves on the tape: the flat input and its [1, 28, 28] view,
    // each convolution's output and its ReLU (with --bn, BatchNorm's with the ReLU fused in:
    // the same count), the pooling, the dropout with its mask and the flattening, and the
    // 128 + 10 values after them.
    let convolutions = 32.0 * 26.0 * 26.0 + 64.0 * 24.0 * 24.0;
    let per_image = 2.0 * 784.0 + 2.0 * convolutions + 4.0 * 9216.0 + 3.0 * 138.0;
    let train_batch = (args.run.batch_size as usize).min(train_samples) as f64;
    // A training step also holds a gradient of each value.
    let images = (2.0 * train_batch).max(EVAL_BATCH as f64);
    Estimate {
        parameters: FLOAT * params,
        gradients: FLOAT * params,
        optimizer: FLOAT * params * slots,
        activations: FLOAT * images * per_image,
    }
}
