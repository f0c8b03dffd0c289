//! `train-test`: "BatchNorm behaves differently in training and at test time". After
//! training, the test accuracy in evaluation mode (running statistics, as left by the
//! momentum), with batch statistics (training mode on test batches), and after `recalibrate`
//! (precise BatchNorm: the running statistics recomputed over the training images), for
//! several momentums of the running statistics.

use super::measured::{
    group, recipes, train_and_measure, values, Measured, Value, BATCH_STATISTICS, RECALIBRATED,
    RECALIBRATION_BATCH, RUNNING,
};
use super::series::shown;
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis, Series, BN, PALETTE};
use crate::recipe::{Norm, Recipe};
use crate::report::{
    effect, image, list, pct_summary, seeds, Claim, Expect, Judge, Section, Table, Unit,
};
use crate::schedule::{EvalPlan, TestAt};
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
    let mut eval = EvalPlan::last_only(steps);
    // The test accuracies are measured on the final weights, three ways, by `measure`.
    eval.test = TestAt::Never;
    Recipe {
        bn_momentum: momentum,
        eval,
        ..Recipe::reference(steps).bn(true)
    }
}

/// The recipes of every momentum, BatchNorm on.
fn by_momentum(study: &Study) -> Vec<Recipe> {
    MOMENTA.iter().map(|&m| recipe(study, m)).collect()
}

/// What it will train.
pub fn planned(study: &Study) -> Vec<Recipe> {
    recipes(study, &by_momentum(study), &[Norm::Batch])
}

/// Trains the reference recipe with BatchNorm at every momentum and measures it three ways.
pub fn run(study: &Study) -> Results {
    let recipes = planned(study);
    let progress = study.progress("train-test", recipes.len());
    let measured = train_and_measure(study, &recipes, &progress);
    let groups = group(measured, study, &by_momentum(study), &[Norm::Batch]);
    let settings = MOMENTA
        .iter()
        .zip(groups)
        .map(|(&momentum, runs)| Setting { momentum, runs })
        .collect();
    Results {
        // The whole batches of the training images (`recalibration_batches`).
        recalibration_images: study.data.train.len() / RECALIBRATION_BATCH * RECALIBRATION_BATCH,
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

/// The three accuracies, with their names in plots and tables.
const MEASURES: [(&str, Value); 3] = [
    ("eval mode, running statistics", RUNNING),
    ("batch statistics (train mode)", BATCH_STATISTICS),
    ("eval mode after recalibrate", RECALIBRATED),
];

fn summary(setting: &Setting, which: Value) -> Option<Summary> {
    Summary::of(values(&setting.runs, which).into_iter().flatten())
}

/// `a - b` of two measures of a setting, paired by seed.
fn difference(setting: &Setting, a: Value, b: Value) -> Option<Effect> {
    paired_difference(&values(&setting.runs, a), &values(&setting.runs, b))
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let colors = [BN, PALETTE[0], PALETTE[1]];
    let series: Vec<Series> = MEASURES
        .iter()
        .zip(colors)
        .map(|((name, which), color)| {
            let points = r.settings.iter().enumerate().map(|(i, s)| {
                let point = summary(s, *which).map_or(Summary::NONE, |b| shown(b, 100.0));
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
         statistics, {seeds} each. Then, on the final weights: the test accuracy in \
         evaluation mode; in training mode on test batches of {batch} (each batch normalised by \
         its own statistics, what the network saw in training; a last partial batch left out); \
         and in evaluation mode again after `tapegrad::layers::recalibrate` recomputed the \
         running statistics over {images} training images (one pass in batches of \
         {RECALIBRATION_BATCH}, momentum `None` during it, so every batch weighs the same; what \
         the pass costs is measured in the `overhead` section). The three are measured on the \
         same weights, so they are compared on the final weights, not over a window, and \
         paired by seed.\n\n{img}{table}{seen}\n",
        steps = recipe.steps,
        seeds = seeds(r.settings[0].runs.len()),
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
    let claim = Claim::judged(
        CLAIM,
        modes.as_ref(),
        Judge {
            what: "at the default momentum, evaluation mode minus batch statistics on the same \
                   weights",
            unit: Unit::Points,
            // The claim is a difference, in either direction.
            claimed: Expect::Either,
            missing: "every run at the default momentum diverged",
        },
    );
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
