//! `train-test`: "BatchNorm behaves differently in training and at test time". After
//! training, the test accuracy in evaluation mode (running statistics, as left by the
//! momentum), with batch statistics (training mode on test batches), and after `recalibrate`
//! (precise BatchNorm: the running statistics recomputed over the training images), for
//! several momentums of the running statistics.

use super::batch_size::{measure, recalibration_batches, RECALIBRATION_BATCH};
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis, Series, BN, PALETTE};
use crate::recipe::Recipe;
use crate::record::RunRecord;
use crate::report::{effect, image, list, pct_summary, Claim, Section, Table, Unit, Verdict};
use crate::runner::run as train;
use crate::schedule::EvalPlan;
use crate::stats::{paired_difference, Effect, Side, Summary};
use crate::study::Study;
use plotters::prelude::SeriesLabelPosition;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The momentums of the running statistics (`None`: PyTorch's cumulative average).
const MOMENTA: [Option<f32>; 6] = [
    Some(0.001),
    Some(0.01),
    Some(0.1),
    Some(0.5),
    Some(0.9),
    None,
];

/// One trained model and its three accuracies (`None` if the run diverged).
#[derive(Serialize, Deserialize)]
pub struct Measured {
    /// The training run.
    pub run: RunRecord,
    /// Evaluation mode: the running statistics left by training.
    pub running: Option<f64>,
    /// Training mode on test batches of the training batch size: batch statistics.
    pub batch_statistics: Option<f64>,
    /// Evaluation mode after `recalibrate` over the training images.
    pub recalibrated: Option<f64>,
}

/// All runs of one momentum.
#[derive(Serialize, Deserialize)]
pub struct Setting {
    /// The momentum of every BatchNorm's running statistics.
    pub momentum: Option<f32>,
    /// One per seed.
    pub runs: Vec<Measured>,
}

/// The runs.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// Training images `recalibrate` was given.
    pub recalibration_images: usize,
    /// In the order of the momentums.
    pub settings: Vec<Setting>,
}

/// The recipe of one momentum.
fn recipe(study: &Study, momentum: Option<f32>) -> Recipe {
    let steps = study.budget.train_test_steps;
    Recipe {
        bn_momentum: momentum,
        eval: EvalPlan::last_only(steps),
        ..Recipe::reference(steps).bn(true)
    }
}

/// What it will train.
pub fn planned(study: &Study) -> Vec<Recipe> {
    MOMENTA
        .iter()
        .flat_map(|&m| {
            let r = recipe(study, m);
            let seeds = study.seeds_for(&r).to_vec();
            seeds.into_iter().map(move |s| r.seed(s))
        })
        .collect()
}

/// Trains the reference recipe with BatchNorm at every momentum and measures it three ways.
pub fn run(study: &Study) -> Results {
    let recipes = planned(study);
    let progress = study.progress("train-test", recipes.len());
    let batches = recalibration_batches(&study.data);
    let mut measured = study
        .map(&recipes, |recipe| {
            let (run, mut model) = train(recipe, &study.data, &progress);
            let [running, recalibrated, batch_statistics] = match run.diverged {
                None => measure(&mut model, &study.data, &batches, recipe.batch_size).map(Some),
                Some(_) => [None; 3],
            };
            Measured {
                run,
                running,
                batch_statistics,
                recalibrated,
            }
        })
        .into_iter();
    let settings = MOMENTA
        .iter()
        .map(|&momentum| {
            let n = study.seeds_for(&recipe(study, momentum)).len();
            Setting {
                momentum,
                runs: measured.by_ref().take(n).collect(),
            }
        })
        .collect();
    Results {
        recalibration_images: batches.len() * RECALIBRATION_BATCH,
        settings,
    }
}

fn momentum_name(m: Option<f32>) -> String {
    match m {
        Some(0.1) => "0.1 (default)".to_string(),
        Some(m) => m.to_string(),
        None => "None (cumulative)".to_string(),
    }
}

/// Reads one of the three accuracies of a measured model.
type Accuracy = fn(&Measured) -> Option<f64>;

/// The three accuracies, with their names in plots and tables.
const MEASURES: [(&str, Accuracy); 3] = [
    ("eval mode, running statistics", |m| m.running),
    ("batch statistics (train mode)", |m| m.batch_statistics),
    ("eval mode after recalibrate", |m| m.recalibrated),
];

fn values(setting: &Setting, which: Accuracy) -> Vec<Option<f64>> {
    setting.runs.iter().map(which).collect()
}

fn summary(setting: &Setting, which: Accuracy) -> Option<Summary> {
    Summary::of(values(setting, which).into_iter().flatten())
}

/// `a - b` of two measures of a setting, paired by seed.
fn difference(setting: &Setting, a: Accuracy, b: Accuracy) -> Option<Effect> {
    paired_difference(&values(setting, a), &values(setting, b))
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let colors = [BN, PALETTE[0], PALETTE[1]];
    let series: Vec<Series> = MEASURES
        .iter()
        .zip(colors)
        .map(|((name, which), color)| {
            let points = r.settings.iter().enumerate().map(|(i, s)| {
                let point = summary(s, *which).map_or(Summary::NONE, |b| b.scaled(100.0));
                (i as f64, point)
            });
            Series::new(name, color, points.collect())
        })
        .collect();
    let names = r.settings.iter().map(|s| momentum_name(s.momentum));
    let axes = Axes {
        title: "Test accuracy of the same trained models, three ways".to_string(),
        x: Axis::categories("momentum of the running statistics", names),
        y: Axis::linear("test accuracy (%)"),
        legend: SeriesLabelPosition::LowerMiddle,
    };
    line_chart(&out.join("train_test.svg"), &axes, &series)?;

    let mut table = Table::new(&[
        "momentum",
        MEASURES[0].0,
        MEASURES[1].0,
        MEASURES[2].0,
        "recalibrate minus running",
    ]);
    for s in &r.settings {
        let cells = MEASURES
            .map(|(_, which)| summary(s, which).map_or("diverged".to_string(), pct_summary));
        let gain = difference(s, MEASURES[2].1, MEASURES[0].1);
        table.row([
            momentum_name(s.momentum),
            cells[0].clone(),
            cells[1].clone(),
            cells[2].clone(),
            gain.map_or("–".to_string(), |e| effect(&e, Unit::Points)),
        ]);
    }
    let recipe = &r.settings[0].runs[0].run.recipe;
    let (claims, seen) = reading(r);
    let body = format!(
        "BatchNorm models trained for {steps} steps, each with one momentum for the running \
         statistics, {seeds} seeds each. Then, on the final weights: the test accuracy in \
         evaluation mode; in training mode on test batches of {batch} (each batch normalised by \
         its own statistics, what the network saw in training; a last partial batch left out); \
         and in evaluation mode again after `tapegrad::layers::recalibrate` recomputed the \
         running statistics over {images} training images (one pass in batches of \
         {RECALIBRATION_BATCH}, momentum `None` during it, so every batch weighs the same; what \
         the pass costs is measured in the `overhead` section). The three are measured on the \
         same weights, so they are compared on the final weights, not over a window, and \
         paired by seed.\n\n{img}{table}{seen}\n",
        steps = recipe.steps,
        seeds = r.settings[0].runs.len(),
        batch = recipe.batch_size,
        images = r.recalibration_images,
        img = image("train_test.svg", "accuracy three ways against momentum"),
        table = table.render(),
    );
    Ok(Section {
        name: "train-test",
        title: "Training vs test mode: running statistics, momentum, recalibration".to_string(),
        claims,
        body,
    })
}

fn reading(r: &Results) -> (Vec<Claim>, String) {
    const CLAIM: &str = "BatchNorm behaves differently in training and at test time";
    let default = r.settings.iter().find(|s| s.momentum == Some(0.1));
    let modes = default.and_then(|s| difference(s, MEASURES[0].1, MEASURES[1].1));
    let claim = match &modes {
        // The claim is a difference, in either direction.
        Some(e) => Claim {
            text: CLAIM.to_string(),
            verdict: if e.side() == Side::Includes {
                Verdict::NotShown
            } else {
                Verdict::BorneOut
            },
            evidence: format!(
                "at the default momentum, evaluation mode minus batch statistics on the same \
                 weights: {}",
                effect(e, Unit::Points)
            ),
        },
        None => Claim::unmeasured(CLAIM, "every run at the default momentum diverged"),
    };
    // The momentum never reaches the weights (training normalises with batch statistics):
    // every momentum must train the same model, so the batch-statistics and recalibrated
    // accuracies must be equal on every row.
    let first = &r.settings[0];
    let same_weights = r.settings.iter().all(|s| {
        let same = |a: &Measured, b: &Measured| {
            (a.batch_statistics, a.recalibrated) == (b.batch_statistics, b.recalibrated)
        };
        s.runs.iter().zip(&first.runs).all(|(a, b)| same(a, b))
    });
    let gains: Vec<String> = r
        .settings
        .iter()
        .filter_map(|s| {
            let e = difference(s, MEASURES[2].1, MEASURES[0].1)?;
            Some(format!(
                "{} at {}",
                effect(&e, Unit::Points),
                momentum_name(s.momentum)
            ))
        })
        .collect();
    let direction = match modes.map(|e| e.side()) {
        Some(Side::Above) => "evaluation mode was the better of the two",
        Some(Side::Below) => "batch statistics were the better of the two",
        _ => "no difference between the two was shown",
    };
    let seen = format!(
        "**What was seen.** The momentum moves only the running statistics, never the weights: \
         {} At the default momentum, evaluation mode minus batch statistics was {}: {direction}. \
         What recalibrating changed against the running statistics left by training (paired \
         by seed): {}.",
        if same_weights {
            "the batch-statistics and recalibrated accuracies are indeed identical on every row."
        } else {
            "yet the batch-statistics or recalibrated accuracies differ between rows, which \
             they should not."
        },
        modes.map_or("not measured".to_string(), |e| effect(&e, Unit::Points)),
        list(&gains),
    );
    (vec![claim], seen)
}
