//! The settings of `paper-fig1` the command line can change (`--init`, `--input`, `--lr`).

use crate::recipe::Init;
use serde::{Deserialize, Serialize};

/// What the network's inputs are (`--input`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Input {
    /// 28x28 binary images, as in the paper: a pixel is 1 from 128 of 255 on, else 0.
    Binary,
    /// Pixels scaled to [0, 1], then `(x - 0.1307) / 0.3081`, as PyTorch's MNIST example.
    Standardized,
}

impl crate::cli::Named for Input {
    const NAMES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Input::Binary,
            "binary",
            "28x28 binary images, as in the paper: a pixel is 1 from 128 of 255 on, else 0",
        ),
        (
            Input::Standardized,
            "standardized",
            "Pixels scaled to [0, 1], then `(x - 0.1307) / 0.3081`, as PyTorch's MNIST example",
        ),
    ];
}

/// How `paper-fig1` trains.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaperOptions {
    /// How the Linear layers are drawn (the paper: "small random Gaussian values").
    pub init: Init,
    /// The inputs.
    pub input: Input,
    /// The learning rate of both models; `None`: each model's chosen on the validation images.
    pub lr: Option<f64>,
}

impl Default for PaperOptions {
    /// The paper's setup: Gaussian weights, binary inputs, the learning rate chosen.
    fn default() -> Self {
        PaperOptions {
            init: Init::Normal,
            input: Input::Binary,
            lr: None,
        }
    }
}

impl PaperOptions {
    /// The flags that select these options, as a command line would give them.
    pub fn flags(&self) -> String {
        let init = match self.init {
            Init::Normal => "normal",
            Init::Uniform => "uniform",
        };
        let input = match self.input {
            Input::Binary => "binary",
            Input::Standardized => "standardized",
        };
        let lr = self.lr.map_or(String::new(), |lr| format!(" --lr {lr}"));
        format!("--init {init} --input {input}{lr}")
    }
}
