//! One training run, described as data: the model, the optimizer, the batches, the schedule
//! and when it is evaluated. Runs that are compared differ in one field and nothing else
//! (same seed, so the same Linear weights: the normalisation layers draw no random numbers).

use crate::schedule::EvalPlan;
use serde::{Deserialize, Serialize};
use tapegrad::layers::Activation;
use tapegrad::optim::WeightDecay;
use tapegrad::prelude::{Momentum, Sgd, SgdConfig};

/// The network a run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// An MLP laid out by `model::build` from the recipe's widths, activation, init and
    /// normalisation.
    #[default]
    Mlp,
    /// PyTorch's MNIST example net (`examples/mnist_cnn/model.rs`), with BatchNorm2d and
    /// BatchNorm1d when the recipe's norm is [`Norm::Batch`]. The net is fixed: of the
    /// model's fields only `norm` applies (`None` or `Batch`).
    Cnn,
}

impl Arch {
    /// Whether this is the default, [`Arch::Mlp`] (which results.json leaves out, so that
    /// the MLP sections' records read as they were written before the CNN).
    fn is_mlp(&self) -> bool {
        *self == Arch::Mlp
    }

    /// Images per evaluation batch: the CNN keeps about 0.6 MB of activations per image
    /// until the batch is done (`examples/mnist_cnn/memory.rs`), so it evaluates in batches
    /// of 100, not 1000.
    pub fn eval_batch(self) -> usize {
        match self {
            Arch::Mlp => 1000,
            Arch::Cnn => 100,
        }
    }
}

/// The normalisation after each hidden Linear, before the activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// None.
    None,
    /// `BatchNorm1d` (PyTorch's defaults but for the momentum of the recipe).
    Batch,
    /// `LayerNorm` of `examples/extending` (PyTorch's `nn.LayerNorm`): per sample, no batch
    /// statistics.
    Layer,
}

/// How the Linear layers are initialised (`--init` of `paper-fig1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// PyTorch's default: weights and biases from `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    Uniform,
    /// Weights from `N(0, 1/fan_in)`, biases 0 (Ioffe and Szegedy's "small random Gaussian
    /// values", at the scale that keeps a layer's output variance).
    Normal,
}

impl crate::cli::Named for Init {
    const NAMES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Init::Uniform,
            "uniform",
            "PyTorch's default: weights and biases from `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`",
        ),
        (
            Init::Normal,
            "normal",
            "Weights from `N(0, 1/fan_in)`, biases 0 (Ioffe and Szegedy's \"small random \
             Gaussian values\", at the scale that keeps a layer's output variance)",
        ),
    ];
}

/// Everything that defines one training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recipe {
    /// The network: an MLP of the fields below, or the fixed CNN.
    #[serde(default, skip_serializing_if = "Arch::is_mlp")]
    pub arch: Arch,
    /// Hidden layer widths (the inputs and 10 classes around them).
    pub hidden: Vec<usize>,
    /// The activation after each hidden layer.
    #[serde(with = "activation_name")]
    pub activation: Activation,
    /// The normalisation after each hidden Linear.
    pub norm: Norm,
    /// The momentum of every BatchNorm's running statistics (`None`: cumulative average).
    pub bn_momentum: Option<f32>,
    /// BatchNorm statistics over ghost batches of this many samples (the batch cut in equal
    /// parts, each forwarded alone); `None`: over the whole batch.
    pub ghost_batch: Option<usize>,
    /// Whether a Linear followed by a normalisation keeps its bias (PyTorch's default; the
    /// normalisation subtracts it again, so Ioffe and Szegedy drop it).
    pub bias_before_norm: bool,
    /// Dropout probability after each hidden activation (0: none).
    pub dropout: f32,
    /// How the Linear layers are drawn.
    pub init: Init,
    /// Every Linear weight is multiplied by this after the draw.
    pub init_scale: f32,
    /// Learning rate of SGD.
    pub lr: f64,
    /// SGD's (heavy-ball) momentum; 0: none, the MLP sections' plain SGD.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub momentum: f64,
    /// L2 weight decay of SGD (PyTorch's `weight_decay`; 0: none).
    pub weight_decay: f64,
    /// Samples per step (the last partial batch of an epoch is dropped).
    pub batch_size: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// When the model is evaluated, and on what.
    pub eval: EvalPlan,
    /// Seed of the initialisation, the shuffling and dropout.
    pub seed: u64,
}

impl Recipe {
    /// The study's reference run: 784-256-256-10 ReLU, PyTorch's initialisation, batch 64,
    /// plain SGD at 0.1, evaluated on the final window only; experiments change one field
    /// at a time.
    pub fn reference(steps: usize) -> Recipe {
        Recipe {
            arch: Arch::Mlp,
            hidden: vec![256, 256],
            activation: Activation::Relu,
            norm: Norm::None,
            bn_momentum: Some(0.1),
            ghost_batch: None,
            bias_before_norm: true,
            dropout: 0.0,
            init: Init::Uniform,
            init_scale: 1.0,
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
            batch_size: 64,
            steps,
            eval: EvalPlan::window_only(steps),
            seed: 0,
        }
    }

    /// PyTorch's MNIST example as `mnist_cnn` trains it: its net, SGD at 0.05 with momentum
    /// 0.9, batches of 64, evaluated on the final window only. The MLP fields keep the
    /// reference's values and do not apply.
    pub fn cnn(steps: usize) -> Recipe {
        Recipe {
            arch: Arch::Cnn,
            lr: 0.05,
            momentum: 0.9,
            ..Recipe::reference(steps)
        }
    }

    /// The same run with BatchNorm on or off.
    pub fn bn(&self, on: bool) -> Recipe {
        let norm = if on { Norm::Batch } else { Norm::None };
        self.with_norm(norm)
    }

    /// The same run with another normalisation.
    pub fn with_norm(&self, norm: Norm) -> Recipe {
        Recipe {
            norm,
            ..self.clone()
        }
    }

    /// The same run with another seed.
    pub fn seed(&self, seed: u64) -> Recipe {
        Recipe {
            seed,
            ..self.clone()
        }
    }

    /// The same run evaluated on a curve: every `every` steps from step 0, besides the
    /// final window.
    pub fn curve(&self, every: usize) -> Recipe {
        Recipe {
            eval: EvalPlan::curve(self.steps, every),
            ..self.clone()
        }
    }

    /// Whether the run has BatchNorm.
    pub fn batch_norm(&self) -> bool {
        self.norm == Norm::Batch
    }

    /// SGD at the recipe's learning rate, momentum and weight decay.
    pub fn optimizer(&self) -> Sgd {
        let weight_decay = (self.weight_decay > 0.0).then_some(WeightDecay::L2(self.weight_decay));
        let momentum = (self.momentum > 0.0).then_some(Momentum::Classic(self.momentum));
        Sgd::new(SgdConfig {
            lr: self.lr,
            momentum,
            weight_decay,
            ..SgdConfig::default()
        })
        .expect("the study's learning rates and decays are positive and finite")
    }
}

/// Whether a number is 0 (a field results.json leaves out at its default).
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Serialises an [`Activation`] by its name (`relu`, `sigmoid`, `tanh`).
mod activation_name {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use tapegrad::layers::Activation;

    pub fn serialize<S: Serializer>(a: &Activation, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Activation, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}
