//! `convergence`: "BatchNorm speeds up training". Validation accuracy and training loss
//! against steps, with and without BatchNorm at the same learning rate; the steps each needs
//! to reach 97 % and 98 % validation accuracy, and the final test accuracy.

use super::pairs::{run_pairs, side_name, Outcome, Pair};
use super::series::curve_series;
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis};
use crate::recipe::Recipe;
use crate::record::{RunRecord, BATCH_LOSS, VAL_ACCURACY};
use crate::report::{
    capitalise, effect, image, num_summary, seeds, Claim, Judge, Section, Table, Unit,
};
use crate::stats::{paired_log_ratio, Side};
use crate::study::Study;
use plotters::prelude::SeriesLabelPosition;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The validation accuracies whose first crossing is reported.
const THRESHOLDS: [f64; 2] = [0.97, 0.98];

/// The runs.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// Training images of an epoch.
    pub train_images: usize,
    /// The reference recipe without and with BatchNorm, per seed.
    pub runs: Pair,
}

/// The recipe every run follows (BatchNorm off).
fn recipe(study: &Study) -> Recipe {
    let b = &study.budget;
    Recipe::reference(b.convergence_steps).curve(b.convergence_eval_every)
}

/// What it will train.
pub fn planned(study: &Study) -> Vec<Recipe> {
    super::pairs::recipes(&[("lr 0.1".to_string(), recipe(study))], study)
}

/// Trains the reference recipe with and without BatchNorm.
pub fn run(study: &Study) -> Results {
    let settings = [("lr 0.1".to_string(), recipe(study))];
    let progress = study.progress("convergence", planned(study).len());
    let mut pairs = run_pairs(study, &progress, &settings);
    Results {
        train_images: study.data.train.len(),
        runs: pairs.remove(0),
    }
}

/// The step at which a run's validation accuracy crossed `threshold`.
fn crossing(threshold: f64) -> impl Fn(&RunRecord) -> Option<f64> {
    move |r| r.crossing(VAL_ACCURACY, threshold)
}

/// The plots, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let pair = &r.runs;
    let recipe = &pair.bn[0].recipe;
    let every = recipe.eval.every.unwrap_or(recipe.steps);
    let title = format!("Validation accuracy, SGD at lr {}", recipe.lr);
    accuracy_chart(&out.join("convergence_accuracy.svg"), &title, pair)?;
    let loss: Vec<_> = [false, true]
        .map(|bn| curve_series(side_name(bn), pair.side(bn), BATCH_LOSS, 1.0, 0))
        .into();
    let axes = Axes {
        title: format!("Training loss (mean over each {every} steps)"),
        x: Axis::linear("training step"),
        y: Axis::log("cross-entropy (log scale)"),
        legend: SeriesLabelPosition::UpperRight,
    };
    line_chart(&out.join("convergence_loss.svg"), &axes, &loss)?;

    let (claims, seen) = reading(pair, "BatchNorm speeds up training", &THRESHOLDS);
    let body =
        format!(
        "Both models train for {steps} steps ({epochs:.1} epochs of the {train} training images) \
         at the same learning rate; the validation accuracy is measured every {every} steps, and \
         the step at which it first reached a threshold is interpolated linearly between the two \
         evaluations around the crossing. {seeds} per model. Final test accuracy: the mean of the \
         final window.\n\n{acc_img}{loss_img}{table}{seen}\n",
        steps = recipe.steps,
        epochs = recipe.steps as f64 * recipe.batch_size as f64 / r.train_images as f64,
        train = r.train_images,
        seeds = seeds(pair.bn.len()),
        acc_img = image("convergence_accuracy.svg", "validation accuracy against steps"),
        loss_img = image("convergence_loss.svg", "training loss against steps"),
        table = crossings_table(pair, &THRESHOLDS).render(),
    );
    Ok(Section {
        name: "convergence",
        title: "Convergence: does BatchNorm speed up training?".to_string(),
        claims,
        body,
    })
}

/// Writes `path`: the validation accuracy of `pair`'s runs against steps, with and without
/// BatchNorm (mean and interval over seeds).
pub fn accuracy_chart(path: &Path, title: &str, pair: &Pair) -> Result<(), StudyError> {
    let recipe = &pair.bn[0].recipe;
    let every = recipe.eval.every.unwrap_or(recipe.steps);
    let accuracy: Vec<_> = [false, true]
        .map(|bn| curve_series(side_name(bn), pair.side(bn), VAL_ACCURACY, 100.0, every))
        .into();
    let axes = Axes {
        title: title.to_string(),
        x: Axis::linear("training step"),
        y: Axis::linear("validation accuracy (%)"),
        legend: SeriesLabelPosition::LowerRight,
    };
    line_chart(path, &axes, &accuracy)
}

/// Per side of `pair`: the steps to each of `thresholds` and the final test accuracy, each
/// with its interval over seeds.
pub fn crossings_table(pair: &Pair, thresholds: &[f64]) -> Table {
    let headings: Vec<String> = thresholds
        .iter()
        .map(|t| format!("steps to {:.0} % (validation)", t * 100.0))
        .collect();
    let mut header = vec![""];
    header.extend(headings.iter().map(String::as_str));
    header.push("final test accuracy");
    let mut table = Table::new(&header);
    for bn in [false, true] {
        let reach = thresholds.iter().map(|&t| {
            let o = Outcome::of(pair.values(bn, crossing(t)));
            match o.summary {
                Some(s) if o.missing == 0 => num_summary(s, 0),
                Some(s) => format!("{} ({}/{} never)", num_summary(s, 0), o.missing, o.runs),
                None => "never".to_string(),
            }
        });
        let mut row = vec![side_name(bn).to_string()];
        row.extend(reach);
        row.push(pair.final_test(bn).pct_cell("diverged"));
        table.row(row);
    }
    table
}

/// The claim `claim` (that BatchNorm speeds up training, of `pair`'s model) judged by the
/// steps to the first of `thresholds`, and the paragraph saying what was seen.
pub fn reading(pair: &Pair, claim: &str, thresholds: &[f64]) -> (Vec<Claim>, String) {
    let speedups: Vec<_> = thresholds
        .iter()
        .map(|&t| {
            let f = crossing(t);
            paired_log_ratio(&pair.values(false, &f), &pair.values(true, &f))
        })
        .collect();
    let mut sentences: Vec<String> = thresholds
        .iter()
        .zip(&speedups)
        .map(|(t, s)| match s {
            Some(e) => format!(
                "without BatchNorm the runs took {} as many steps to reach {:.0} % as with it",
                effect(e, Unit::Ratio),
                t * 100.0
            ),
            None => format!(
                "{:.0} % was not reached by both sides of any seed",
                t * 100.0
            ),
        })
        .collect();
    let final_diff = pair.bn_minus_plain(RunRecord::final_test);
    if let Some(d) = &final_diff {
        let sooner = speedups[0].is_some_and(|e| e.side() == Side::Above);
        let reading = match d.side() {
            Side::Includes if sooner => "no difference shown: sooner, not further",
            Side::Includes => "no difference shown",
            Side::Above => "BatchNorm ended higher",
            Side::Below => "BatchNorm ended lower",
        };
        sentences.push(format!(
            "the final test accuracy, with minus without BatchNorm, was {} ({reading})",
            effect(d, Unit::Points)
        ));
    }
    let first = thresholds[0] * 100.0;
    let what = format!("steps to {first:.0} % validation accuracy, without over with BatchNorm");
    let missing = format!("{first:.0} % was not reached by both sides of any seed");
    let claim = Claim::judged(
        claim,
        speedups[0].as_ref(),
        Judge::above(&what, Unit::Ratio, &missing),
    );
    let seen = format!("**What was seen.** {}.", capitalise(&sentences.join("; ")));
    (vec![claim], seen)
}
