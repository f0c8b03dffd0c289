//! What `mnist_mlp`'s flags hold: their values, the checks clap cannot make, and the library
//! settings the flags stand for (`cli.rs` declares and parses them).

use serde::Serialize;
use std::path::{Path, PathBuf};
use tapegrad::core::AllocError;
use tapegrad::layers::{Activation, Mlp, Sequential};
use tapegrad::optim::{OptimizerKind, OptimizerSpec};

/// Every flag, as its value (`cli.rs` declares them, with their help, defaults and rules, and
/// fills this in); the ones that shape the run are saved in checkpoints so that `--resume`
/// refuses a run with different ones (`checkpointing::settings`).
pub struct Args {
    /// `--hidden`: the hidden layers' widths, each at least 1.
    pub hidden: Vec<u32>,
    /// `--activation`: the hidden layers' activation.
    pub activation: Act,
    /// `--bn`: BatchNorm1d after each hidden Linear.
    pub bn: bool,
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
    /// `--batch-size`: samples per batch, at least 1.
    pub batch_size: u32,
    /// `--epochs`: epochs in total, at least 1 (a resumed run continues up to this many).
    pub epochs: u32,
    /// `--seed`: the seed of the initialisation, the shuffling and dropout.
    pub seed: u64,
    /// `--threads`, if given (all cores otherwise).
    pub threads: Option<u32>,
    /// `--data`: the MNIST folder, if given (`Mnist::load` looks elsewhere otherwise).
    pub data: Option<PathBuf>,
    /// `--save`: where a full checkpoint is written after each epoch.
    pub save: Option<PathBuf>,
    /// `--resume`: the checkpoint of the run to continue.
    pub resume: Option<PathBuf>,
    /// `--export`: where the final weights are written as safetensors.
    pub export: Option<PathBuf>,
    /// `--json`: one JSON object as the last line of stdout, and no progress bar.
    pub json: bool,
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
    /// Checks what clap cannot, before any data is read: a `--save` or `--export` path that
    /// cannot be written, or an `--export` that would overwrite the checkpoint, would only
    /// fail or do harm after training; BatchNorm cannot train on a batch of one sample.
    pub fn validate(&self) -> Result<(), String> {
        for (flag, path) in [("--save", &self.save), ("--export", &self.export)] {
            path.as_deref().map_or(Ok(()), |p| writable(flag, p))?;
        }
        if let Some(export) = &self.export {
            for (flag, path) in [("--save", &self.save), ("--resume", &self.resume)] {
                match path {
                    Some(path) if same_file(export, path) => {
                        return Err(format!(
                            "--export {} and {flag} {} are the same file ({}): the exported \
                             weights would replace the checkpoint; give --export another path",
                            export.display(),
                            path.display(),
                            normalise(path).display()
                        ))
                    }
                    _ => {}
                }
            }
        }
        if self.bn && self.batch_size < 2 {
            return Err(format!(
                "--batch-size {} with --bn: BatchNorm needs at least 2 samples per batch to \
                 measure a variance",
                self.batch_size
            ));
        }
        Ok(())
    }

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
            .batch_norm(self.bn)
            .dropout(self.dropout)
            .seed(self.seed)
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

/// Asks the library's atomic write whether `path` can be written (an existing folder that
/// takes a new file, a name short enough for the temporary file beside it, no device or folder
/// in the way), without writing it: found now, not after an epoch of training.
fn writable(flag: &str, path: &Path) -> Result<(), String> {
    tapegrad::io::check_writable(path).map_err(|e| format!("{flag} {e}"))
}

/// Whether `a` and `b` name one file, however spelled (`X`, `./X`, `dir/../X`, a symbolic or
/// hard link): the file itself may not exist yet, so its folder is what gets resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    if normalise(a) == normalise(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (a.metadata(), b.metadata()) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

/// `path` made absolute with links, `.` and `..` resolved: the whole path if the file exists,
/// else its folder with the file name appended.
fn normalise(path: &Path) -> PathBuf {
    if let Ok(full) = path.canonicalize() {
        return full;
    }
    let folder = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (folder.canonicalize(), path.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => path.to_path_buf(),
    }
}
