//! One training run, described as data: the model, the optimizer, the batches and the
//! schedule. Runs that are compared differ in one field and nothing else (same seed, so the
//! same Linear weights: BatchNorm draws no random numbers).

use serde::{Deserialize, Serialize};
use tapegrad::layers::{Activation, BatchNorm1d, Mlp, Sequential};
use tapegrad::prelude::{Sgd, SgdConfig};

/// Everything that defines one training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recipe {
    /// Hidden layer widths (784 inputs and 10 classes around them).
    pub hidden: Vec<usize>,
    /// The activation after each hidden layer.
    #[serde(with = "activation_name")]
    pub activation: Activation,
    /// A BatchNorm1d after each hidden Linear, before the activation.
    pub batch_norm: bool,
    /// The momentum of every BatchNorm's running statistics (`None`: cumulative average).
    pub bn_momentum: Option<f32>,
    /// Dropout probability after each hidden activation (0: none).
    pub dropout: f32,
    /// Every Linear weight is multiplied by this after PyTorch's default draw.
    pub init_scale: f32,
    /// Learning rate of plain SGD (no momentum, no weight decay).
    pub lr: f64,
    /// Samples per step (the last partial batch of an epoch is dropped).
    pub batch_size: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Evaluate every this many steps (and after the last one).
    pub eval_every: usize,
    /// Seed of the initialisation, the shuffling and dropout.
    pub seed: u64,
}

impl Recipe {
    /// The study's reference run: 784-256-256-10 ReLU, batch 64, SGD at 0.1, PyTorch's
    /// defaults everywhere else; experiments change one field at a time.
    pub fn reference(steps: usize, eval_every: usize) -> Recipe {
        Recipe {
            hidden: vec![256, 256],
            activation: Activation::Relu,
            batch_norm: false,
            bn_momentum: Some(0.1),
            dropout: 0.0,
            init_scale: 1.0,
            lr: 0.1,
            batch_size: 64,
            steps,
            eval_every,
            seed: 0,
        }
    }

    /// The same run with BatchNorm on or off.
    pub fn bn(&self, on: bool) -> Recipe {
        Recipe {
            batch_norm: on,
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

    /// The model, for inputs of `inputs` features and 10 classes.
    pub fn model(&self, inputs: usize) -> Sequential {
        let mut widths = vec![inputs];
        widths.extend(&self.hidden);
        widths.push(10);
        let mut model = Mlp::new(&widths)
            .activation(self.activation)
            .batch_norm(self.batch_norm)
            .dropout(self.dropout)
            .init_scale(self.init_scale)
            .seed(self.seed)
            .build();
        for index in 0..model.len() {
            if let Some(bn) = model.get_as_mut::<BatchNorm1d>(index) {
                bn.set_momentum(self.bn_momentum);
            }
        }
        model
    }

    /// Plain SGD at the recipe's learning rate.
    pub fn optimizer(&self) -> Sgd {
        Sgd::new(SgdConfig {
            lr: self.lr,
            ..SgdConfig::default()
        })
        .expect("the study's learning rates are positive and finite")
    }
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
