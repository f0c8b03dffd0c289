//! A BatchNorm model's final weights measured three ways: evaluation mode with the running
//! statistics training left, evaluation mode after `recalibrate`, and training mode (batch
//! statistics). `batch-size` and `train-test` both read them.

use crate::data::Dataset;
use crate::recipe::{Norm, Recipe};
use crate::record::RunRecord;
use crate::runner::{evaluate, evaluate_in_batches, run};
use crate::study::{Progress, Study};
use serde::{Deserialize, Serialize};
use tapegrad::core::Tensor;
use tapegrad::data::BatchConfig;
use tapegrad::layers::{recalibrate, Mode};

/// Images per batch `recalibrate` is given (the running statistics it computes are unbiased
/// whatever the batch; large batches are faster).
pub const RECALIBRATION_BATCH: usize = 1000;

/// One run, and for a BatchNorm model that finished, its test accuracy measured on its final
/// weights three ways.
#[derive(Serialize, Deserialize)]
pub struct Measured {
    /// The training run.
    pub run: RunRecord,
    /// Evaluation mode with the running statistics training left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<f64>,
    /// Evaluation mode after `recalibrate` over every training image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalibrated: Option<f64>,
    /// Training mode on test batches of the training batch size: each batch normalised by
    /// its own statistics, as in training (a last partial batch left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_statistics: Option<f64>,
}

/// Reads one number of a measured run.
pub type Value = fn(&Measured) -> Option<f64>;

/// Evaluation mode, the running statistics left by training.
pub const RUNNING: Value = |m| m.running;
/// Evaluation mode after `recalibrate`.
pub const RECALIBRATED: Value = |m| m.recalibrated;
/// Training mode, batch statistics.
pub const BATCH_STATISTICS: Value = |m| m.batch_statistics;
/// The run's final test accuracy (the window's mean).
pub const FINAL_TEST: Value = |m| m.run.final_test();

/// `value` of every measured run, in order.
pub fn values(runs: &[Measured], value: Value) -> Vec<Option<f64>> {
    runs.iter().map(value).collect()
}

/// The training images in batches of [`RECALIBRATION_BATCH`], as `recalibrate` takes them.
pub fn recalibration_batches(data: &Dataset) -> Vec<Tensor> {
    let config = BatchConfig::sequential(RECALIBRATION_BATCH)
        .drop_last(true)
        .normalization(data.normalization);
    let mut batches = data.train.batches(config);
    let mut tensors = Vec::new();
    while let Some(batch) = batches.next_batch() {
        let shape = vec![batch.len(), data.train.pixels_per_image()];
        tensors.push(Tensor::from_vec(shape, batch.images.to_vec()));
    }
    tensors
}

/// Every recipe once per seed, for each normalisation in `norms`: the order in which
/// [`group`] hands the runs back.
pub fn recipes(study: &Study, base: &[Recipe], norms: &[Norm]) -> Vec<Recipe> {
    let mut all = Vec::new();
    for recipe in base {
        for &norm in norms {
            let r = recipe.with_norm(norm);
            all.extend(study.seeds_for(&r).iter().map(|&s| r.seed(s)));
        }
    }
    all
}

/// Trains every recipe on the study's data, spread over the workers, and measures the
/// BatchNorm models that finished; the measured runs in the order of the recipes.
pub fn train_and_measure(study: &Study, recipes: &[Recipe], progress: &Progress) -> Vec<Measured> {
    let data = &study.data;
    let recalibration = recalibration_batches(data);
    study.map(recipes, |recipe| {
        let (run, mut model) = run(recipe, data, progress);
        let mut m = Measured {
            run,
            running: None,
            recalibrated: None,
            batch_statistics: None,
        };
        if recipe.batch_norm() && m.run.diverged.is_none() {
            m.running = Some(evaluate(&mut model, data, &data.test, Mode::Eval).accuracy);
            recalibrate(&mut model, &recalibration);
            m.recalibrated = Some(evaluate(&mut model, data, &data.test, Mode::Eval).accuracy);
            // Last: training mode moves the running statistics. Only full batches count, so
            // there must be one.
            let batch = recipe.batch_size;
            if data.test.len() >= batch {
                let train_mode =
                    evaluate_in_batches(&mut model, data, &data.test, Mode::Train, batch);
                m.batch_statistics = Some(train_mode.accuracy);
            }
        }
        m
    })
}

/// Cuts the measured runs, in the order of [`recipes`], into one group of seeds per
/// (recipe, normalisation).
pub fn group(
    measured: Vec<Measured>,
    study: &Study,
    base: &[Recipe],
    norms: &[Norm],
) -> Vec<Vec<Measured>> {
    let mut measured = measured.into_iter();
    let mut groups = Vec::new();
    for recipe in base {
        for &norm in norms {
            let n = study.seeds_for(&recipe.with_norm(norm)).len();
            groups.push(measured.by_ref().take(n).collect());
        }
    }
    groups
}
