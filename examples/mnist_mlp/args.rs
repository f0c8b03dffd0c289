//! The command line of `mnist_mlp`: every flag with its rule, the checks clap cannot make,
//! and the library settings the flags stand for.

use clap::{Parser, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tapegrad::core::AllocError;
use tapegrad::layers::{Activation, Mlp, Sequential};
use tapegrad::optim::{OptimizerKind, OptimizerSpec};

/// Every flag; the ones that shape the run are saved in checkpoints so that `--resume`
/// refuses a run with different ones (`checkpointing::settings`).
#[derive(Parser)]
// Negative numbers parse as values, so `--lr -0.1` is refused by the flag's own rule
// instead of as an unknown `-0` flag.
#[command(
    about = "Train a multi-layer perceptron on MNIST with tapegrad",
    allow_negative_numbers = true
)]
pub struct Args {
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,256", value_parser = clap::value_parser!(u32).range(1..))]
    pub hidden: Vec<u32>,
    /// Activation of the hidden layers.
    #[arg(long, value_enum, default_value_t = Act::Relu)]
    pub activation: Act,
    /// BatchNorm1d after each hidden Linear.
    #[arg(long)]
    pub bn: bool,
    /// Dropout probability after each hidden activation, in [0, 1).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub dropout: f32,
    /// The optimizer.
    #[arg(long, value_enum, default_value_t = Opt::Sgd)]
    pub optimizer: Opt,
    /// Learning rate [default: 0.1 for sgd, 0.001 for adam and adamw].
    #[arg(long, value_parser = non_negative)]
    pub lr: Option<f64>,
    /// SGD momentum (0 for none).
    #[arg(long, default_value_t = 0.9, value_parser = non_negative)]
    pub momentum: f64,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay: L2 for sgd and adam, decoupled for adamw [default: 0, 0.01 for adamw].
    #[arg(long, value_parser = non_negative)]
    pub weight_decay: Option<f64>,
    /// Samples per batch.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Epochs in total (a resumed run continues up to this many).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Seed of the initialisation, the shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads [default: all cores, at most 4 per core]; results are bit-identical for
    /// any count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Folder with the MNIST files [default: $MNIST_DIR, else datasets/mnist, downloaded if missing].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Write a full checkpoint here after each epoch (atomically).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Continue the run saved in this checkpoint, up to --epochs in total.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Write the final weights as safetensors with PyTorch's names.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Print one JSON object as the last line of stdout (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

/// The `--activation` values.
// The variants have no doc comments: clap would print them in `--help` as a list of values.
#[derive(Clone, Copy, ValueEnum, Serialize)]
pub enum Act {
    Relu,
    Sigmoid,
    Tanh,
}

/// The `--optimizer` values.
#[derive(Clone, Copy, ValueEnum, Serialize)]
pub enum Opt {
    Sgd,
    Adam,
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

/// A probability in [0, 1) as f32, the type dropout uses: a value just below 1 that rounds to
/// 1 in f32 is refused saying so, with the value as the user wrote it.
fn probability(s: &str) -> Result<f32, String> {
    let p: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else if p == 1.0 && s.parse::<f64>().is_ok_and(|v| v < 1.0) {
        Err(format!(
            "must be in [0, 1), got {s}, which rounds to 1 as a 32-bit float"
        ))
    } else {
        Err(format!("must be in [0, 1), got {s}"))
    }
}

/// A finite number >= 0 that stays finite as the f32 the optimizers compute with: 1e39 is
/// finite as f64 but infinite as f32, and would show up as a diverged run instead of a bad
/// flag.
fn non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(v >= 0.0 && v.is_finite()) {
        Err(format!("must be a finite number >= 0, got {s}"))
    } else if !(v as f32).is_finite() {
        Err(format!(
            "must be a finite number >= 0, got {s}, beyond the largest 32-bit float ({:e})",
            f32::MAX
        ))
    } else {
        Ok(v)
    }
}
