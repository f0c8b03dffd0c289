//! How much each experiment trains: the full study, and `--quick` (every experiment at a
//! reduced size, for CI). Only sizes live here; what is trained is in each experiment.

use serde::{Deserialize, Serialize};

/// Steps, subsets and repeats of every experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Budget {
    /// Training images used (the first N of the 60,000); `None` for all.
    pub train_images: Option<usize>,
    /// Test images used (the first N of the 10,000); `None` for all.
    pub test_images: Option<usize>,
    /// `convergence`: steps of every run.
    pub convergence_steps: usize,
    /// `convergence`: test accuracy every this many steps.
    pub convergence_eval_every: usize,
    /// `learning-rate` and `init`: steps of every run of the sweep.
    pub sweep_steps: usize,
    /// `batch-size`: training samples seen by every run, whatever its batch size.
    pub batch_size_samples: usize,
    /// `train-test`: steps of every run.
    pub train_test_steps: usize,
    /// `overhead`: timed training steps per run.
    pub overhead_steps: usize,
    /// `overhead`: timed passes of each model over the test images.
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
    /// `paper-fig1`: test accuracy and sigmoid-input percentiles every this many steps.
    pub paper_eval_every: usize,
    /// `paper-fig1`: test images whose sigmoid inputs give the percentiles.
    pub paper_probe_images: usize,
}

impl Budget {
    /// The study as committed under `docs/bn-study/` (about 30 minutes on 2 cores with 3
    /// seeds). One epoch of the reference recipe (batch 64) is 937 steps.
    pub fn full() -> Budget {
        Budget {
            train_images: None,
            test_images: None,
            convergence_steps: 9370,
            convergence_eval_every: 200,
            sweep_steps: 1874,
            batch_size_samples: 60_000,
            train_test_steps: 1874,
            overhead_steps: 937,
            inference_repeats: 10,
            latency_images: 1000,
            regularization_images: 10_000,
            regularization_epochs: 30,
            regularization_eval_every_epochs: 2,
            // The paper's 50,000 steps of batch 60, test accuracy every 1,000.
            paper_steps: 50_000,
            paper_eval_every: 1000,
            paper_probe_images: 1000,
        }
    }

    /// Every experiment, smaller: well under a minute of training on 2 cores. For checking
    /// that the study runs and writes its outputs, not for its numbers.
    pub fn quick() -> Budget {
        Budget {
            train_images: Some(10_000),
            test_images: Some(2000),
            convergence_steps: 400,
            convergence_eval_every: 50,
            sweep_steps: 150,
            batch_size_samples: 2048,
            train_test_steps: 200,
            overhead_steps: 150,
            inference_repeats: 2,
            latency_images: 200,
            regularization_images: 2000,
            regularization_epochs: 6,
            regularization_eval_every_epochs: 2,
            paper_steps: 1500,
            paper_eval_every: 250,
            paper_probe_images: 500,
        }
    }
}
