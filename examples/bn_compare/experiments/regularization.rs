//! `regularization`: "BatchNorm regularizes". The gap between training and test accuracy with
//! BatchNorm, with Dropout, with both and with neither, on a training subset small enough to
//! be overfitted.

use super::pairs::{curve_series, Pair};
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis, Series, BN, NO_BN, PALETTE};
use crate::recipe::Recipe;
use crate::report::{image, pct_band, Section, Table, Verdict};
use crate::runner::{accuracy, run_observed, RunRecord};
use crate::stats::Band;
use crate::study::Study;
use plotters::prelude::{RGBColor, SeriesLabelPosition};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tapegrad::layers::Mode;

/// PyTorch's default Dropout probability, after each hidden activation.
const DROPOUT: f32 = 0.5;
/// A gap narrower by less than this (in accuracy) is read as no narrower.
const MARGIN: f64 = 0.003;

/// The runs: one pair without Dropout, one with.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// Training images (the first N of MNIST's training set).
    pub images: usize,
    /// `[without Dropout, with Dropout]`, each without and with BatchNorm.
    pub pairs: Vec<Pair>,
}

/// Trains the four combinations, measuring training accuracy along with test accuracy.
pub fn run(study: &Study) -> Results {
    let b = &study.budget;
    let data = study.data.with_train_images(b.regularization_images);
    let steps_per_epoch = data.train.len() / 64;
    let steps = b.regularization_epochs * steps_per_epoch;
    let eval_every = b.regularization_eval_every_epochs * steps_per_epoch;
    let progress = study.progress("regularization", 4 * study.seeds.len());
    let pairs = [0.0, DROPOUT]
        .iter()
        .map(|&dropout| {
            let recipe = Recipe {
                dropout,
                ..Recipe::reference(steps, eval_every)
            };
            let setting = format!("dropout {dropout}");
            let train = |recipe: &Recipe| {
                let mut train_accuracy = Vec::new();
                let (mut record, model) =
                    run_observed(recipe, &data, &progress, &mut |_, model| {
                        train_accuracy.push(accuracy(model, &data, &data.train, Mode::Eval, 1000));
                    });
                record.train_accuracy = train_accuracy;
                (record, model)
            };
            Pair::run_with(&setting, &recipe, &study.seeds, train).0
        })
        .collect();
    Results {
        images: data.train.len(),
        pairs,
    }
}

/// The four combinations: `(name, colour, pair index, with BatchNorm)`.
const COMBINATIONS: [(&str, RGBColor, usize, bool); 4] = [
    ("neither", NO_BN, 0, false),
    ("BatchNorm", BN, 0, true),
    ("Dropout 0.5", PALETTE[0], 1, false),
    ("BatchNorm + Dropout 0.5", PALETTE[1], 1, true),
];

/// `(step, train accuracy - test accuracy)` of a run.
fn gap_curve(r: &RunRecord) -> Vec<(usize, f64)> {
    let gaps = r
        .train_accuracy
        .iter()
        .zip(&r.test_accuracy)
        .map(|(a, b)| a - b);
    r.steps.iter().copied().zip(gaps).collect()
}

/// The band over seeds of a final value of each run of a combination.
fn final_band(runs: &[RunRecord], value: impl Fn(&RunRecord) -> Option<f64>) -> Option<Band> {
    Band::of(
        runs.iter()
            .filter(|r| r.diverged.is_none())
            .filter_map(value),
    )
}

fn last_gap(r: &RunRecord) -> Option<f64> {
    gap_curve(r).last().map(|g| g.1)
}

/// The plots, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let recipe = &r.pairs[0].bn[0].recipe;
    let steps_per_epoch = (r.images / recipe.batch_size) as f64;
    let curves = |curve: fn(&RunRecord) -> Vec<(usize, f64)>| -> Vec<Series> {
        COMBINATIONS
            .iter()
            .map(|&(name, color, pair, bn)| {
                let mut s = curve_series(name, r.pairs[pair].side(bn), curve, 100.0, 1);
                s.color = color;
                s.points.iter_mut().for_each(|p| p.0 /= steps_per_epoch);
                s.diverged.iter_mut().for_each(|x| *x /= steps_per_epoch);
                s
            })
            .collect()
    };
    let gap_axes = Axes {
        title: format!("Train minus test accuracy, {} training images", r.images),
        x: Axis::linear("epoch"),
        y: Axis::linear("train - test accuracy (points)"),
        legend: SeriesLabelPosition::LowerRight,
    };
    line_chart(
        &out.join("regularization_gap.svg"),
        &gap_axes,
        &curves(gap_curve),
    )?;
    let test_axes = Axes {
        title: "Test accuracy".to_string(),
        x: Axis::linear("epoch"),
        y: Axis::linear("test accuracy (%)"),
        legend: SeriesLabelPosition::LowerRight,
    };
    line_chart(
        &out.join("regularization_test.svg"),
        &test_axes,
        &curves(RunRecord::accuracy_curve),
    )?;

    let mut table = Table::new(&[
        "model",
        "final train accuracy",
        "final test accuracy",
        "gap (points)",
    ]);
    for (name, _, pair, bn) in COMBINATIONS {
        let runs = r.pairs[pair].side(bn);
        let cell = |b: Option<Band>| b.map_or("diverged".to_string(), pct_band);
        let gap = final_band(runs, last_gap)
            .map_or("diverged".to_string(), |b| format!("{:.2}", b.mean * 100.0));
        table.row([
            name.to_string(),
            cell(final_band(runs, |r| r.train_accuracy.last().copied())),
            cell(final_band(runs, RunRecord::final_accuracy)),
            gap,
        ]);
    }
    let (verdict, seen, summary) = reading(r);
    let body = format!(
        "The first {images} training images only, {epochs} epochs ({steps} steps of {batch}), \
         so that every model can fit them; Dropout {DROPOUT} (PyTorch's default) after each \
         hidden activation. Training accuracy is measured in evaluation mode (no Dropout, \
         running statistics) on those {images} images, like the test accuracy, every {every} \
         epochs.\n\n{gap_img}{test_img}{table}{seen}\n",
        images = r.images,
        epochs = recipe.steps as f64 / steps_per_epoch,
        steps = recipe.steps,
        batch = recipe.batch_size,
        every = recipe.eval_every as f64 / steps_per_epoch,
        gap_img = image("regularization_gap.svg", "train-test gap against epochs"),
        test_img = image("regularization_test.svg", "test accuracy against epochs"),
        table = table.render(),
    );
    Ok(Section {
        name: "regularization",
        title: "7. Regularization: the train-test gap with BatchNorm, Dropout, both, neither"
            .to_string(),
        claim: "BatchNorm regularizes".to_string(),
        verdict,
        summary,
        body,
    })
}

fn reading(r: &Results) -> (Verdict, String, String) {
    let stat = |i: usize, value: fn(&RunRecord) -> Option<f64>| {
        let (_, _, pair, bn) = COMBINATIONS[i];
        final_band(r.pairs[pair].side(bn), value).map_or(f64::NAN, |b| b.mean)
    };
    let gaps = [0, 1, 2, 3].map(|i| stat(i, last_gap));
    let tests = [0, 1, 2, 3].map(|i| stat(i, RunRecord::final_accuracy));
    let narrower = gaps[1] + MARGIN <= gaps[0];
    let better = tests[1] > tests[0];
    let verdict = match (narrower, better) {
        (true, true) => Verdict::BorneOut,
        (false, false) => Verdict::NotBorneOut,
        _ => Verdict::Mixed,
    };
    let p = |x: f64| format!("{:.2}", x * 100.0);
    let seen =
        format!(
        "**What was seen.** Final gap between training and test accuracy: {} points with neither, \
         {} with BatchNorm, {} with Dropout, {} with both. Test accuracy: {} % with neither, {} % \
         with BatchNorm, {} % with Dropout, {} % with both. {}",
        p(gaps[0]),
        p(gaps[1]),
        p(gaps[2]),
        p(gaps[3]),
        p(tests[0]),
        p(tests[1]),
        p(tests[2]),
        p(tests[3]),
        match verdict {
            Verdict::BorneOut => "BatchNorm narrowed the gap and raised the test accuracy, as a \
                regularizer does.",
            Verdict::Mixed if narrower => "BatchNorm narrowed the gap but did not raise the test \
                accuracy: only partly what a regularizer does.",
            Verdict::Mixed => "BatchNorm raised the test accuracy but did not narrow the gap \
                (it fits the training images at least as well): better optimisation rather than \
                regularization.",
            _ => "BatchNorm neither narrowed the gap nor raised the test accuracy: the claim was \
                not borne out here.",
        }
    );
    let summary = format!(
        "train-test gap: {} points with BN, {} with neither, {} with Dropout",
        p(gaps[1]),
        p(gaps[0]),
        p(gaps[2])
    );
    (verdict, seen, summary)
}
