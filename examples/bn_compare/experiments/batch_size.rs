//! `batch-size`: "BatchNorm depends on the batch size". Batches of 2 to 256 for the same
//! number of training samples, the learning rate scaled with the batch (Goyal et al.'s
//! linear rule, 0.1 at batch 64). Beside BatchNorm, its remedies: LayerNorm (no batch
//! statistics at all) and `recalibrate`; and on the BatchNorm models, the test accuracy
//! three ways, which tells whether a small batch hurts through its running statistics or
//! through training itself.

use super::pairs::{side_name, Outcome};
use crate::data::Dataset;
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis, Series, BN, NO_BN, PALETTE};
use crate::recipe::{Norm, Recipe};
use crate::record::RunRecord;
use crate::report::{effect, image, Claim, Section, Table, Unit};
use crate::runner::{evaluate, evaluate_in_batches, run as train};
use crate::stats::{paired_difference, Effect, Side, Summary};
use crate::study::Study;
use plotters::prelude::SeriesLabelPosition;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tapegrad::core::Tensor;
use tapegrad::data::BatchConfig;
use tapegrad::layers::{recalibrate, Mode, Sequential};

/// The batch sizes.
const SIZES: [usize; 6] = [2, 4, 8, 16, 64, 256];
/// The batch size at which the learning rate is the reference 0.1.
const REFERENCE: usize = 64;
/// Images per batch `recalibrate` is given (the running statistics it computes are unbiased
/// whatever the batch; large batches are faster).
pub const RECALIBRATION_BATCH: usize = 1000;

/// One run, and for a BatchNorm model its test accuracy measured on its final weights.
#[derive(Serialize, Deserialize)]
pub struct Measured {
    /// The training run.
    pub run: RunRecord,
    /// Evaluation mode with the running statistics training left (the last evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<f64>,
    /// Evaluation mode after `recalibrate` over every training image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalibrated: Option<f64>,
    /// Training mode on test batches of the training batch size: each batch normalised by
    /// its own statistics, as in training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_statistics: Option<f64>,
}

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

/// What it will train: per batch size, every seed without normalisation, with BatchNorm,
/// with LayerNorm.
pub fn planned(study: &Study) -> Vec<Recipe> {
    SIZES
        .iter()
        .flat_map(|&size| {
            let recipe = recipe(study, size);
            let seeds = study.seeds_for(&recipe).to_vec();
            [Norm::None, Norm::Batch, Norm::Layer]
                .into_iter()
                .flat_map(move |norm| {
                    let r = recipe.with_norm(norm);
                    seeds.clone().into_iter().map(move |s| r.seed(s))
                })
        })
        .collect()
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

/// The three test accuracies of a trained BatchNorm model (see [`Measured`]). The
/// training-mode pass moves the running statistics, so it comes last.
pub fn measure(
    model: &mut Sequential,
    data: &Dataset,
    recalibration: &[Tensor],
    batch_size: usize,
) -> [f64; 3] {
    let running = evaluate(model, data, &data.test, Mode::Eval).accuracy;
    recalibrate(model, recalibration);
    let recalibrated = evaluate(model, data, &data.test, Mode::Eval).accuracy;
    let batch = evaluate_in_batches(model, data, &data.test, Mode::Train, batch_size).accuracy;
    [running, recalibrated, batch]
}

/// Trains every batch size three ways, and measures the BatchNorm models.
pub fn run(study: &Study) -> Results {
    let recipes = planned(study);
    let progress = study.progress("batch-size", recipes.len());
    let recalibration = recalibration_batches(&study.data);
    let mut measured = study
        .map(&recipes, |recipe| {
            let (run, mut model) = train(recipe, &study.data, &progress);
            let mut m = Measured {
                run,
                running: None,
                recalibrated: None,
                batch_statistics: None,
            };
            if recipe.batch_norm() && m.run.diverged.is_none() {
                let [a, b, c] = measure(&mut model, &study.data, &recalibration, recipe.batch_size);
                (m.running, m.recalibrated, m.batch_statistics) = (Some(a), Some(b), Some(c));
            }
            m
        })
        .into_iter();
    SIZES
        .iter()
        .map(|&size| {
            let n = study.seeds_for(&recipe(study, size)).len();
            let mut take = || measured.by_ref().take(n).collect::<Vec<_>>();
            Setting {
                batch_size: size,
                plain: take(),
                bn: take(),
                ln: take(),
            }
        })
        .collect()
}

/// Reads one number of a measured run.
type Value = fn(&Measured) -> Option<f64>;

const FINAL_TEST: Value = |m| m.run.final_test();
const RECALIBRATED: Value = |m| m.recalibrated;
const RUNNING: Value = |m| m.running;
const BATCH_STATISTICS: Value = |m| m.batch_statistics;

fn values(runs: &[Measured], value: Value) -> Vec<Option<f64>> {
    runs.iter().map(value).collect()
}

/// BatchNorm's advantage at a batch size: its final test accuracy minus the plain one's,
/// paired by seed.
fn advantage(s: &Setting) -> Option<Effect> {
    paired_difference(&values(&s.bn, FINAL_TEST), &values(&s.plain, FINAL_TEST))
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let samples = r[0].bn[0].run.recipe.steps * r[0].batch_size;
    let lines: [(&str, _, fn(&Setting) -> &[Measured], Value); 4] = [
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
                    o.summary.map_or(Summary::NONE, |s| s.scaled(100.0)),
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
         size), the learning rate 0.1 x batch / {REFERENCE}, {seeds} seeds per batch size. \
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
        seeds = r[0].bn.len(),
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
    let claim = match &change {
        Some(e) => Claim::judged(
            CLAIM,
            &format!(
                "BatchNorm's advantage at batch {} minus its advantage at batch {REFERENCE}",
                SIZES[0]
            ),
            e,
            Unit::Points,
            Side::Below,
        ),
        None => Claim::unmeasured(CLAIM, "runs diverged at the batch sizes compared"),
    };
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
