//! How much each experiment trains: the full study, and `--quick` (every experiment at a
//! reduced size, for the test). Only sizes live here; what is trained is in each experiment,
//! what it costs in `estimate.rs`.

use serde::{Deserialize, Serialize};

/// Steps, subsets and repeats of every experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Budget {
    /// Training images (the start of MNIST's training file); `None`: all but the validation
    /// images.
    pub train_images: Option<usize>,
    /// Validation images: the end of MNIST's training file.
    pub validation_images: usize,
    /// Test images used (the first N of the 10,000); `None` for all.
    pub test_images: Option<usize>,
    /// Seeds of a run estimated over a minute on one core, unless `--seeds` says otherwise.
    pub long_run_seeds: usize,
    /// `convergence`: steps of every run.
    pub convergence_steps: usize,
    /// `convergence`: validation accuracy every this many steps.
    pub convergence_eval_every: usize,
    /// `learning-rate` and `init`: steps of every run of the sweep.
    pub sweep_steps: usize,
    /// `stability`: steps of every run of the grid.
    pub stability_steps: usize,
    /// `batch-size`: training samples seen by every run, whatever its batch size.
    pub batch_size_samples: usize,
    /// `train-test`: steps of every run.
    pub train_test_steps: usize,
    /// `overhead`: timed training steps per seed and model.
    pub overhead_steps: usize,
    /// `overhead`: timed passes of each model over the inference images.
    pub inference_repeats: usize,
    /// `overhead`: images fed one at a time in the batch-of-one latency measurement.
    pub latency_images: usize,
    /// `regularization`: training images (a subset, so that a model can overfit it).
    pub regularization_images: usize,
    /// `regularization`: epochs over that subset.
    pub regularization_epochs: usize,
    /// `regularization`: train and test accuracy every this many epochs.
    pub regularization_eval_every_epochs: usize,
    /// `paper-fig1`: steps of every run.
    pub paper_steps: usize,
    /// `paper-fig1`: accuracy and sigmoid-input percentiles every this many steps.
    pub paper_eval_every: usize,
    /// `cnn`: its sizes (absent from the results of studies run before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnn: Option<CnnBudget>,
}

/// The sizes of `cnn`, PyTorch's MNIST example net with and without BatchNorm. A step of it
/// costs about 40 of the MLP's, so it trains on a subset and is evaluated on one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CnnBudget {
    /// Training images: the first N of the study's.
    pub train_images: usize,
    /// Validation images: the first N of the study's (choices and crossings).
    pub validation_images: usize,
    /// Steps of each convergence run.
    pub convergence_steps: usize,
    /// Convergence runs: validation accuracy every this many steps.
    pub convergence_eval_every: usize,
    /// Steps of each run of the learning-rate grid.
    pub sweep_steps: usize,
}

impl Budget {
    /// The study as committed under `docs/bn-study/` (see `estimate.rs` for its wall time).
    /// One epoch of the 50,000 training images at batch 64 is 781 steps.
    pub fn full() -> Budget {
        Budget {
            train_images: None,
            validation_images: 10_000,
            test_images: None,
            long_run_seeds: 3,
            convergence_steps: 7810,
            convergence_eval_every: 200,
            sweep_steps: 1874,
            stability_steps: 781,
            batch_size_samples: 50_000,
            train_test_steps: 1874,
            overhead_steps: 781,
            inference_repeats: 10,
            latency_images: 1000,
            regularization_images: 5000,
            regularization_epochs: 60,
            regularization_eval_every_epochs: 2,
            // The paper's 50,000 steps of batch 60, test accuracy every 1,000.
            paper_steps: 50_000,
            paper_eval_every: 1000,
            cnn: Some(CnnBudget {
                train_images: 12_800,
                validation_images: 2000,
                convergence_steps: 400,
                convergence_eval_every: 40,
                sweep_steps: 160,
            }),
        }
    }

    /// Every experiment, smaller: seconds of training. For checking that the study runs and
    /// writes its outputs, not for its numbers.
    pub fn quick() -> Budget {
        Budget {
            train_images: Some(2000),
            validation_images: 250,
            test_images: Some(250),
            long_run_seeds: 2,
            convergence_steps: 120,
            convergence_eval_every: 50,
            sweep_steps: 40,
            stability_steps: 20,
            batch_size_samples: 256,
            train_test_steps: 40,
            overhead_steps: 100,
            inference_repeats: 3,
            latency_images: 30,
            regularization_images: 640,
            regularization_epochs: 4,
            regularization_eval_every_epochs: 2,
            paper_steps: 200,
            paper_eval_every: 100,
            cnn: Some(CnnBudget {
                train_images: 256,
                validation_images: 100,
                convergence_steps: 6,
                convergence_eval_every: 2,
                sweep_steps: 3,
            }),
        }
    }
}
