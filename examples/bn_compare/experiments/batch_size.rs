//! `batch-size`: "BatchNorm depends on the batch size". Batches of 2 to 256 for the same
//! number of training samples, the learning rate scaled with the batch (Goyal et al.'s
//! linear rule, 0.1 at batch 64). Beside BatchNorm, its remedies: LayerNorm (no batch
//! statistics at all) and `recalibrate`; and on the BatchNorm models, the test accuracy
//! three ways, which tells whether a small batch hurts through its running statistics or
//! through training itself.

use super::measured::{
    group, recipes, train_and_measure, values, Measured, Value, BATCH_STATISTICS, FINAL_TEST,
    RECALIBRATED, RECALIBRATION_BATCH, RUNNING,
};
use super::pairs::{side_name, Outcome};
use super::series::shown;
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis, Series, BN, NO_BN, PALETTE};
use crate::recipe::{Norm, Recipe};
use crate::report::{effect, image, seeds, Claim, Expect, Judge, Section, Table, Unit};
use crate::stats::{paired_difference, Effect, Summary};
use crate::study::Study;
use plotters::prelude::{RGBColor, SeriesLabelPosition};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The batch sizes.
const SIZES: [usize; 6] = [2, 4, 8, 16, 64, 256];
/// The batch size at which the learning rate is the reference 0.1.
const REFERENCE: usize = 64;
/// All runs of one batch size, one per seed each.
#[derive(Serialize, Deserialize)]
pub struct Setting {
    /// The batch size.
    pub batch_size: usize,
    /// Without normalisation.
    pub plain: Vec<Measured>,
    /// With BatchNorm.
    pub bn: Vec<Measured>,
    /// With LayerNorm.
    pub ln: Vec<Measured>,
}

/// The runs.
pub type Results = Vec<Setting>;

/// The recipe of one batch size (no normalisation).
fn recipe(study: &Study, batch_size: usize) -> Recipe {
    let steps = study.budget.batch_size_samples / batch_size;
    Recipe {
        batch_size,
        lr: 0.1 * batch_size as f64 / REFERENCE as f64,
        ..Recipe::reference(steps)
    }
}

/// The normalisations compared at every batch size, in the order of a [`Setting`]'s groups.
const NORMS: [Norm; 3] = [Norm::None, Norm::Batch, Norm::Layer];

fn recipes_by_size(study: &Study) -> Vec<Recipe> {
    SIZES.iter().map(|&size| recipe(study, size)).collect()
}

/// What it will train: per batch size, every seed without normalisation, with BatchNorm,
/// with LayerNorm.
pub fn planned(study: &Study) -> Vec<Recipe> {
    recipes(study, &recipes_by_size(study), &NORMS)
}

/// Trains every batch size three ways, and measures the BatchNorm models.
pub fn run(study: &Study) -> Results {
    let recipes = planned(study);
    let progress = study.progress("batch-size", recipes.len());
    let measured = train_and_measure(study, &recipes, &progress);
    let mut groups = group(measured, study, &recipes_by_size(study), &NORMS).into_iter();
    SIZES
        .iter()
        .map(|&batch_size| Setting {
            batch_size,
            plain: groups.next().expect("a group per size and norm"),
            bn: groups.next().expect("a group per size and norm"),
            ln: groups.next().expect("a group per size and norm"),
        })
        .collect()
}

/// A line of the plot: its name and colour, the runs of a setting it draws and their number.
type Line = (&'static str, RGBColor, fn(&Setting) -> &[Measured], Value);

/// BatchNorm's advantage at a batch size: its final test accuracy minus the plain one's,
/// paired by seed.
fn advantage(s: &Setting) -> Option<Effect> {
    paired_difference(&values(&s.bn, FINAL_TEST), &values(&s.plain, FINAL_TEST))
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let samples = r[0].bn[0].run.recipe.steps * r[0].batch_size;
    let lines: [Line; 4] = [
        (side_name(false), NO_BN, |s| &s.plain, FINAL_TEST),
        (side_name(true), BN, |s| &s.bn, FINAL_TEST),
        (
            "BatchNorm, recalibrated",
            PALETTE[1],
            |s| &s.bn,
            RECALIBRATED,
        ),
        ("with LayerNorm", PALETTE[0], |s| &s.ln, FINAL_TEST),
    ];
    let series: Vec<Series> = lines
        .iter()
        .map(|&(name, color, runs, value)| {
            let points = r.iter().enumerate().map(|(i, s)| {
                let o = Outcome::of(values(runs(s), value));
                (
                    i as f64,
                    o.summary.map_or(Summary::NONE, |s| shown(s, 100.0)),
                )
            });
            Series::new(name, color, points.collect())
        })
        .collect();
    let axes = Axes {
        title: format!("Final test accuracy after {samples} training samples"),
        x: Axis::categories("batch size", r.iter().map(|s| s.batch_size.to_string())),
        y: Axis::linear("final test accuracy (%)"),
        legend: SeriesLabelPosition::LowerRight,
    };
    line_chart(&out.join("batch_size.svg"), &axes, &series)?;

    let mut table = Table::new(&[
        "batch",
        "lr",
        "without BatchNorm",
        "BatchNorm",
        "LayerNorm",
        "BatchNorm minus without",
        "BatchNorm, last weights: running / recalibrated / batch statistics",
    ]);
    for s in r {
        let cell = |runs: &[Measured], v: Value| Outcome::of(values(runs, v)).pct_cell("diverged");
        let mean = |v: Value| {
            Outcome::of(values(&s.bn, v))
                .summary
                .map_or("–".to_string(), |s| format!("{:.2}", s.mean * 100.0))
        };
        table.row([
            s.batch_size.to_string(),
            format!("{:.4}", s.bn[0].run.recipe.lr),
            cell(&s.plain, FINAL_TEST),
            cell(&s.bn, FINAL_TEST),
            cell(&s.ln, FINAL_TEST),
            advantage(s).map_or("–".to_string(), |e| effect(&e, Unit::Points)),
            format!(
                "{} / {} / {}",
                mean(RUNNING),
                mean(RECALIBRATED),
                mean(BATCH_STATISTICS)
            ),
        ]);
    }
    let (claims, seen) = reading(r);
    let body = format!(
        "Every run sees {samples} training samples (the steps are that divided by the batch \
         size), the learning rate 0.1 x batch / {REFERENCE}, {seeds} per batch size. \
         LayerNorm (`examples/extending`, PyTorch's `nn.LayerNorm`) takes BatchNorm's place \
         in the third model: it normalises each sample by its own statistics, so the batch \
         size cannot reach it. On each BatchNorm model's final weights the test accuracy is \
         measured three ways: in evaluation mode with the running statistics training left \
         (gathered from batches of its own size, momentum 0.1); in evaluation mode after \
         `recalibrate` recomputed them over every training image (batches of \
         {RECALIBRATION_BATCH}; its time is in the `overhead` section); and in training mode on \
         test batches of the training batch size (batch statistics, as in training). If \
         recalibration recovers the accuracy, the small batch hurt through its running \
         statistics; if not, through training.\n\n{img}{table}{seen}\n",
        seeds = seeds(r[0].bn.len()),
        img = image("batch_size.svg", "final accuracy against batch size"),
        table = table.render(),
    );
    Ok(Section {
        name: "batch-size",
        title: "Batch size: does BatchNorm depend on it, and what helps?".to_string(),
        claims,
        body,
    })
}

fn reading(r: &Results) -> (Vec<Claim>, String) {
    const CLAIM: &str = "BatchNorm depends on the batch size";
    let at = |size: usize| r.iter().find(|s| s.batch_size == size);
    let (small, reference) = (at(SIZES[0]), at(REFERENCE));
    // Per seed, the advantage at the smallest batch minus the advantage at the reference.
    let change = small.zip(reference).and_then(|(s, r)| {
        let adv = |s: &Setting| -> Vec<Option<f64>> {
            s.bn.iter()
                .zip(&s.plain)
                .map(|(b, p)| Some(b.run.final_test()? - p.run.final_test()?))
                .collect()
        };
        paired_difference(&adv(s), &adv(r))
    });
    let what = format!(
        "BatchNorm's advantage at batch {} minus its advantage at batch {REFERENCE}",
        SIZES[0]
    );
    let claim = Claim::judged(
        CLAIM,
        change.as_ref(),
        Judge {
            what: &what,
            unit: Unit::Points,
            claimed: Expect::Below,
            missing: "runs diverged at the batch sizes compared",
        },
    );
    let text =
        |e: Option<Effect>| e.map_or("not measured".to_string(), |e| effect(&e, Unit::Points));
    let advantages: Vec<String> = r
        .iter()
        .map(|s| format!("{} at batch {}", text(advantage(s)), s.batch_size))
        .collect();
    let mut seen = format!(
        "**What was seen.** BatchNorm's advantage (its final test accuracy minus the plain \
         network's, paired by seed): {}. ",
        advantages.join("; ")
    );
    if let Some(s) = small {
        let diff = |a: &[Measured], va: Value, b: &[Measured], vb: Value| {
            text(paired_difference(&values(a, va), &values(b, vb)))
        };
        seen += &format!(
            "At batch {}: recalibrating the running statistics changed the BatchNorm model's \
             test accuracy by {}, and normalising with batch statistics as in training by {} \
             (both against the running statistics, same weights); LayerNorm minus BatchNorm, \
             {}; LayerNorm minus the plain network, {}.",
            s.batch_size,
            diff(&s.bn, RECALIBRATED, &s.bn, RUNNING),
            diff(&s.bn, BATCH_STATISTICS, &s.bn, RUNNING),
            diff(&s.ln, FINAL_TEST, &s.bn, FINAL_TEST),
            diff(&s.ln, FINAL_TEST, &s.plain, FINAL_TEST),
        );
    }
    (vec![claim], seen)
}
