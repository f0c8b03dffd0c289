//! What `mnist_mlp`'s flags hold: their values and the library settings the flags stand for
//! (`cli.rs` declares and parses them; the checks every example makes are `common`'s).

use crate::common::run_flags::RunFlags;
use serde::Serialize;
use tapegrad::core::AllocError;
use tapegrad::layers::{Activation, Mlp, Sequential};
use tapegrad::optim::{OptimizerKind, OptimizerSpec};

/// Every flag, as its value (`cli.rs` declares them, with their help, defaults and rules, and
/// fills this in); the ones that shape the run are saved in checkpoints so that `--resume`
/// refuses a run with different ones (`settings.rs`).
pub struct Args {
    /// `--hidden`: the hidden layers' widths, each at least 1.
    pub hidden: Vec<u32>,
    /// `--activation`: the hidden layers' activation.
    pub activation: Act,
    /// `--dropout`: the dropout probability after each hidden activation, in [0, 1).
    pub dropout: f32,
    /// `--optimizer`.
    pub optimizer: Opt,
    /// `--lr`, if given (the optimizer's own default otherwise).
    pub lr: Option<f64>,
    /// `--momentum`: SGD's momentum, 0 for none.
    pub momentum: f64,
    /// `--nesterov`: Nesterov momentum for SGD.
    pub nesterov: bool,
    /// `--weight-decay`, if given (the optimizer's own default otherwise).
    pub weight_decay: Option<f64>,
    /// The flags every example has: `--bn` (BatchNorm1d after each hidden Linear), the
    /// batches, epochs, seed, threads, data and outputs.
    pub run: RunFlags,
}

/// The `--activation` values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Act {
    /// `relu`.
    Relu,
    /// `sigmoid`.
    Sigmoid,
    /// `tanh`.
    Tanh,
}

/// The `--optimizer` values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Opt {
    /// `sgd`.
    Sgd,
    /// `adam`.
    Adam,
    /// `adamw`: Adam with decoupled weight decay.
    Adamw,
}

impl Args {
    /// The MLP the flags describe, from `inputs` features to MNIST's 10 classes, or the
    /// layer whose parameters could not be allocated (an allocation that fails in `build`
    /// would abort the process without a word).
    pub fn model(&self, inputs: usize) -> Result<Sequential, AllocError> {
        let mut widths = vec![inputs];
        widths.extend(self.hidden.iter().map(|&w| w as usize));
        widths.push(10);
        let activation = match self.activation {
            Act::Relu => Activation::Relu,
            Act::Sigmoid => Activation::Sigmoid,
            Act::Tanh => Activation::Tanh,
        };
        Mlp::new(&widths)
            .activation(activation)
            .batch_norm(self.run.bn)
            .dropout(self.dropout)
            .seed(self.run.seed)
            .try_build()
    }

    /// `--hidden` as the user writes it: `512,256`.
    pub fn hidden_list(&self) -> String {
        let widths: Vec<String> = self.hidden.iter().map(u32::to_string).collect();
        widths.join(",")
    }

    /// The optimizer the flags describe (built, and so validated, by the caller).
    pub fn optimizer(&self) -> OptimizerSpec {
        let kind = match self.optimizer {
            Opt::Sgd => OptimizerKind::Sgd,
            Opt::Adam => OptimizerKind::Adam,
            Opt::Adamw => OptimizerKind::AdamW,
        };
        OptimizerSpec {
            kind,
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
        }
    }
}
