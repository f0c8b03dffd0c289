//! `convergence`: "BatchNorm speeds up training". Test accuracy and training loss against
//! steps, with and without BatchNorm at the same learning rate, and the steps each needs to
//! reach 97 % and 98 %.

use super::pairs::{curve_series, side_name, steps_to, Pair};
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis};
use crate::recipe::Recipe;
use crate::report::{image, pct, Section, Table, Verdict};
use crate::runner::RunRecord;
use crate::study::Study;
use plotters::prelude::SeriesLabelPosition;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The accuracies whose first crossing is reported.
const THRESHOLDS: [f64; 2] = [0.97, 0.98];

/// The runs.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// The reference recipe without and with BatchNorm, per seed.
    pub runs: Pair,
}

/// Trains the reference recipe with and without BatchNorm.
pub fn run(study: &Study) -> Results {
    let b = &study.budget;
    let recipe = Recipe::reference(b.convergence_steps, b.convergence_eval_every);
    let progress = study.progress("convergence", 2 * study.seeds.len());
    Results {
        runs: Pair::run("lr 0.1", &recipe, study, &progress),
    }
}

/// The plots, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let pair = &r.runs;
    let recipe = &pair.bn[0].recipe;
    let first_eval = recipe.eval_every;
    let accuracy: Vec<_> = [false, true]
        .map(|bn| {
            curve_series(
                side_name(bn),
                pair.side(bn),
                RunRecord::accuracy_curve,
                100.0,
                first_eval,
            )
        })
        .into();
    let axes = Axes {
        title: format!("Test accuracy, SGD at lr {}", recipe.lr),
        x: Axis::linear("training step"),
        y: Axis::linear("test accuracy (%)"),
        legend: SeriesLabelPosition::LowerRight,
    };
    line_chart(&out.join("convergence_accuracy.svg"), &axes, &accuracy)?;
    let loss: Vec<_> = [false, true]
        .map(|bn| curve_series(side_name(bn), pair.side(bn), RunRecord::loss_curve, 1.0, 0))
        .into();
    let axes = Axes {
        title: format!("Training loss (mean over each {first_eval} steps)"),
        x: Axis::linear("training step"),
        y: Axis::log("cross-entropy (log scale)"),
        legend: SeriesLabelPosition::UpperRight,
    };
    line_chart(&out.join("convergence_loss.svg"), &axes, &loss)?;

    let mut table = Table::new(&["", "steps to 97 %", "steps to 98 %", "final test accuracy"]);
    for bn in [false, true] {
        let runs = pair.side(bn);
        let reach = THRESHOLDS.map(|t| steps_to(runs, t).steps_cell());
        let acc = pair.final_accuracy(bn).accuracy_cell();
        table.row([
            side_name(bn).to_string(),
            reach[0].clone(),
            reach[1].clone(),
            acc,
        ]);
    }

    let (verdict, seen) = reading(pair);
    let body = format!(
        "Both models train for {steps} steps ({epochs:.1} epochs) at the same learning rate; the \
         test accuracy is measured every {first_eval} steps, so a step count to a threshold is \
         the first evaluation at or above it (a multiple of {first_eval}). Mean over seeds, \
         with the range in parentheses.\n\n{acc_img}{loss_img}{table}{seen}\n",
        steps = recipe.steps,
        epochs = recipe.steps as f64 * recipe.batch_size as f64 / 60_000.0,
        acc_img = image("convergence_accuracy.svg", "test accuracy against steps"),
        loss_img = image("convergence_loss.svg", "training loss against steps"),
        table = table.render(),
    );
    Ok(Section {
        name: "convergence",
        title: "1. Convergence: does BatchNorm speed up training?".to_string(),
        claim: "BatchNorm speeds up training".to_string(),
        verdict,
        summary: summary(pair),
        body,
    })
}

/// The verdict and the paragraph saying what was seen.
fn reading(pair: &Pair) -> (Verdict, String) {
    let ratios = THRESHOLDS.map(|t| {
        let (no, bn) = (steps_to(&pair.no_bn, t), steps_to(&pair.bn, t));
        (t, no.clean_mean(), bn.clean_mean())
    });
    let mut sentences = Vec::new();
    let mut faster = Vec::new();
    for (t, no, bn) in ratios {
        let t = pct(t);
        match (no, bn) {
            (Some(no), Some(bn)) => {
                let ratio = no / bn;
                faster.push(ratio >= 1.25);
                sentences.push(format!(
                    "{t} took {bn:.0} steps with BatchNorm and {no:.0} without ({ratio:.1}x)"
                ));
            }
            (None, Some(bn)) => {
                faster.push(true);
                sentences.push(format!(
                    "{t} took {bn:.0} steps with BatchNorm and was not reached by every seed without it"
                ));
            }
            (Some(no), None) => {
                faster.push(false);
                sentences.push(format!(
                    "{t} took {no:.0} steps without BatchNorm and was not reached by every seed with it"
                ));
            }
            (None, None) => sentences.push(format!("{t} was not reached by every seed of either")),
        }
    }
    let [early, late] = lower_loss_fractions(pair);
    let verdict = match (faster.iter().all(|&f| f), faster.iter().any(|&f| f)) {
        (true, true) => Verdict::BorneOut,
        (false, true) => Verdict::Mixed,
        _ => Verdict::NotBorneOut,
    };
    let (final_bn, final_no) = (pair.final_accuracy(true), pair.final_accuracy(false));
    let overlap = match (final_bn.band, final_no.band) {
        (Some(a), Some(b)) => a.min <= b.max && b.min <= a.max,
        _ => false,
    };
    let limits = match (overlap, late < 0.5) {
        (true, true) => {
            " The final accuracies overlap over the seeds, and in the second half \
            the plain network's training loss was mostly the lower one: BatchNorm got there \
            sooner, not further."
        }
        (true, false) => {
            " The final accuracies overlap over the seeds: BatchNorm got there \
            sooner, not further."
        }
        (false, true) => {
            " In the second half the plain network's training loss was mostly \
            the lower one."
        }
        (false, false) => "",
    };
    let seen = format!(
        "**What was seen.** {}. The mean training loss with BatchNorm was below the one without \
         at {:.0} % of the evaluations in the first half of training and at {:.0} % in the \
         second half. Final test accuracy: {} with BatchNorm, {} without.{limits}",
        sentences.join("; "),
        early * 100.0,
        late * 100.0,
        final_bn.accuracy_cell(),
        final_no.accuracy_cell(),
    );
    (verdict, seen)
}

/// The fraction of evaluations at which the mean training loss with BatchNorm was lower,
/// in the first and in the second half of training.
fn lower_loss_fractions(pair: &Pair) -> [f64; 2] {
    let mean = |bn| crate::stats::by_step(pair.side(bn).iter().map(RunRecord::loss_curve));
    let (no, bn) = (mean(false), mean(true));
    let half = pair.bn[0].recipe.steps / 2;
    let compared: Vec<(usize, bool)> = no
        .iter()
        .zip(&bn)
        .filter(|(a, b)| a.0 == b.0)
        .map(|(a, b)| (a.0, b.1.mean < a.1.mean))
        .collect();
    [false, true].map(|second| {
        let part: Vec<bool> = compared
            .iter()
            .filter(|(step, _)| (*step > half) == second)
            .map(|c| c.1)
            .collect();
        part.iter().filter(|&&lower| lower).count() as f64 / part.len().max(1) as f64
    })
}

fn summary(pair: &Pair) -> String {
    let cell = |bn| steps_to(pair.side(bn), THRESHOLDS[0]).steps_cell();
    format!(
        "steps to 97 % test accuracy: {} with BN, {} without",
        cell(true),
        cell(false)
    )
}
