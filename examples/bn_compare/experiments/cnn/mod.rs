//! `cnn`: the convergence and learning-rate claims again, on a convolutional net, where
//! BatchNorm earned its name: PyTorch's MNIST example net (`examples/mnist_cnn/model.rs`)
//! with and without `BatchNorm2d`, trained as that example trains it (SGD at 0.05 with
//! momentum 0.9, batches of 64). A step of it costs about forty of the MLP's, so it trains
//! on a subset of the training images and is evaluated on a subset of the validation ones
//! (the budget's `cnn`).

mod range;
mod render;

pub use render::render;

use super::pairs::{run_pairs, Pair};
use crate::budget::CnnBudget;
use crate::estimate::run_seconds;
use crate::recipe::Recipe;
use crate::schedule::{EvalPlan, TestAt};
use crate::study::Study;
use serde::{Deserialize, Serialize};

/// The learning rates of the grid: 0.003 to 1, half a decade apart (with momentum 0.9 a
/// step moves about ten times as far as plain SGD's at the same rate).
const RATES: [f64; 6] = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0];

/// The runs.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// Training images: the first N of the study's.
    pub train_images: usize,
    /// Validation images: the first N of the study's.
    pub validation_images: usize,
    /// Test images.
    pub test_images: usize,
    /// The example's recipe, evaluated on a curve, without and with BatchNorm per seed.
    pub convergence: Pair,
    /// One pair per learning rate of the grid, evaluated on the final window.
    pub learning_rate: Vec<Pair>,
}

/// The CNN's sizes: both of the study's budgets have them.
fn budget(study: &Study) -> &CnnBudget {
    study
        .budget
        .cnn
        .as_ref()
        .expect("Budget::full and Budget::quick size the CNN")
}

/// The study the CNN runs in: its training and validation subsets, the study's test images,
/// and the study's seeds for long runs (3 by default: a CNN run is long).
fn cnn_study(study: &Study) -> Study {
    let b = budget(study);
    let data = study
        .data
        .with_train_images(b.train_images)
        .with_validation_images(b.validation_images);
    Study {
        data,
        budget: study.budget.clone(),
        seeds: study.long_seeds.clone(),
        long_seeds: study.long_seeds.clone(),
        workers: study.workers,
        show_progress: study.show_progress,
    }
}

/// `(setting, recipe)` of every run: the convergence runs first (the longest, so that the
/// workers do not end on one of them alone), then the grid.
fn settings(study: &Study) -> Vec<(String, Recipe)> {
    let b = budget(study);
    let curve = Recipe::cnn(b.convergence_steps).curve(b.convergence_eval_every);
    let grid = Recipe::cnn(b.sweep_steps);
    // The grid chooses nothing on the test images and reports none of them: they cost as
    // much as the training.
    let eval = EvalPlan {
        test: TestAt::Never,
        ..grid.eval.clone()
    };
    let at = |lr: f64| Recipe {
        lr,
        eval: eval.clone(),
        ..grid.clone()
    };
    let mut settings = vec![(format!("lr {}", curve.lr), curve.clone())];
    settings.extend(RATES.iter().map(|&lr| (lr.to_string(), at(lr))));
    settings
}

/// Estimated wall seconds of the section on the study's workers.
pub fn estimate(study: &Study) -> f64 {
    let cnn = cnn_study(study);
    let planned = super::pairs::recipes(&settings(&cnn), &cnn);
    let seconds: f64 = planned.iter().map(|r| run_seconds(r, &cnn.data)).sum();
    seconds / cnn.workers.max(1) as f64
}

/// Trains the convergence pair and the grid, all runs spread over the workers at once.
pub fn run(study: &Study) -> Results {
    let cnn = cnn_study(study);
    let settings = settings(&cnn);
    let runs = super::pairs::recipes(&settings, &cnn).len();
    let progress = cnn.progress("cnn", runs);
    let mut pairs = run_pairs(&cnn, &progress, &settings);
    let convergence = pairs.remove(0);
    Results {
        train_images: cnn.data.train.len(),
        validation_images: cnn.data.validation.len(),
        test_images: cnn.data.test.len(),
        convergence,
        learning_rate: pairs,
    }
}
