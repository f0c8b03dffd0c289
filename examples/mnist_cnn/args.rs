//! What `mnist_cnn`'s flags hold: their values and the optimizer they stand for (`cli.rs`
//! declares and parses them; the checks every example makes are `common`'s).

use crate::common::run_flags::RunFlags;
use tapegrad::optim::{OptimizerKind, OptimizerSpec};

/// Every flag, as its value (`cli.rs` declares them, with their help, defaults and rules, and
/// fills this in); the ones that shape the run are saved in checkpoints so that `--resume`
/// refuses a run with different ones (`settings.rs`).
pub struct Args {
    /// `--lr`: SGD's learning rate.
    pub lr: f64,
    /// `--momentum`: SGD's momentum, 0 for none.
    pub momentum: f64,
    /// `--train-limit`: train on the first this many training images only.
    pub train_limit: Option<usize>,
    /// `--test-limit`: evaluate on the first this many test images only.
    pub test_limit: Option<usize>,
    /// The flags every example has: `--bn` (BatchNorm2d after each convolution, BatchNorm1d
    /// after the first Linear), the batches, epochs, seed, threads, data and outputs.
    pub run: RunFlags,
}

impl Args {
    /// The optimizer the flags describe, PyTorch's MNIST example's (built, and so validated,
    /// by the caller).
    pub fn optimizer(&self) -> OptimizerSpec {
        OptimizerSpec {
            kind: OptimizerKind::Sgd,
            lr: Some(self.lr),
            momentum: self.momentum,
            nesterov: false,
            weight_decay: None,
        }
    }
}
