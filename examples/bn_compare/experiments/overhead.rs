//! `overhead`: "BatchNorm costs computation". Training time per epoch with and without
//! BatchNorm; inference time with BatchNorm, with BatchNorm folded into the Linear before it
//! (`fold_batchnorm`, checked to give the same outputs), and without BatchNorm.

use super::pairs::side_name;
use super::timing::{infer_in_turns, train_in_turns};
use crate::error::StudyError;
use crate::plots::{bar_chart, bn_color, Bar, PALETTE};
use crate::recipe::Recipe;
use crate::report::{image, num_band, Section, Table, Verdict};
use crate::stats::Band;
use crate::study::{first, Dataset, Study};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tapegrad::data::{BatchConfig, Split};
use tapegrad::layers::{fold_batchnorm, Mode, Module, Sequential};
use tapegrad::prelude::Tape;

/// Steps in one epoch of the 60,000 MNIST training images at batch 64 (last batch dropped).
const STEPS_PER_EPOCH: usize = 60_000 / 64;
/// The folded model must give the original's outputs to this (absolute and relative).
const FOLD_TOLERANCE: f64 = 1e-5;
/// A time ratio within this of 1 is read as "the same cost".
const SAME: f64 = 0.05;

/// The inference time of one model at one batch size, once per repeat.
#[derive(Serialize, Deserialize)]
pub struct Timing {
    /// `with BatchNorm`, `BatchNorm folded`, `without BatchNorm`.
    pub model: String,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Images per timed pass.
    pub images: usize,
    /// Wall time of each pass.
    pub seconds: Vec<f64>,
}

impl Timing {
    /// Microseconds per image over the repeats.
    fn micros_per_image(&self) -> Band {
        let per_image = self.seconds.iter().map(|s| s * 1e6 / self.images as f64);
        Band::of(per_image).expect("at least one repeat")
    }
}

/// The training time of one seed's pair of models, trained in turns.
#[derive(Serialize, Deserialize)]
pub struct TrainTiming {
    /// The seed of both models.
    pub seed: u64,
    /// Steps each model took.
    pub steps: usize,
    /// Seconds in the training steps of the model without BatchNorm.
    pub seconds_without: f64,
    /// Seconds in the training steps of the model with BatchNorm.
    pub seconds_with: f64,
}

impl TrainTiming {
    /// Seconds per epoch of one of the two models.
    fn epoch_seconds(&self, bn: bool) -> f64 {
        let seconds = if bn {
            self.seconds_with
        } else {
            self.seconds_without
        };
        seconds / self.steps.max(1) as f64 * STEPS_PER_EPOCH as f64
    }
}

/// The measurements.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// What was trained (with and without BatchNorm).
    pub recipe: Recipe,
    /// One per seed.
    pub training: Vec<TrainTiming>,
    /// The largest `|folded - original|` over every test logit, in evaluation mode.
    pub fold_max_abs_diff: f64,
    /// The largest `|folded - original| / max(1, |original|)`.
    pub fold_max_rel_diff: f64,
    /// Inference timings of seed 0's models, per repeat.
    pub inference: Vec<Timing>,
}

/// The names of the three inference models, in the order they are timed.
const MODELS: [&str; 3] = ["with BatchNorm", "BatchNorm folded", "without BatchNorm"];

/// Times training, checks the folding, times inference.
pub fn run(study: &Study) -> Results {
    let b = &study.budget;
    let recipe = Recipe::reference(b.overhead_steps, b.overhead_steps);
    let progress = study.progress("overhead", study.seeds.len());
    let data = &study.data;
    let mut first_models = None;
    let mut training = Vec::new();
    for &seed in &study.seeds {
        let recipes = [recipe.bn(false).seed(seed), recipe.bn(true).seed(seed)];
        let turns = train_in_turns(&recipes, data, recipe.steps);
        training.push(TrainTiming {
            seed,
            steps: turns.steps,
            seconds_without: turns.seconds[0],
            seconds_with: turns.seconds[1],
        });
        first_models.get_or_insert(turns.models);
        progress.bar.inc(1);
    }
    let [mut plain, mut bn]: [Sequential; 2] = first_models
        .expect("at least one seed")
        .try_into()
        .unwrap_or_else(|_| unreachable!("two recipes, two models"));
    let mut folded = (fold_batchnorm(&bn).expect("the MLP has only built-in layers")).model;
    let (abs, rel) = fold_difference(&mut bn, &mut folded, data);

    let latency = first(&data.test, Some(b.latency_images));
    let passes: [(usize, &Split); 2] = [(1000, &data.test), (1, &latency)];
    let mut inference: Vec<Timing> = passes
        .iter()
        .flat_map(|&(batch_size, split)| {
            MODELS.map(|model| Timing {
                model: model.to_string(),
                batch_size,
                images: split.len(),
                seconds: Vec::new(),
            })
        })
        .collect();
    for _ in 0..b.inference_repeats {
        for (pass, &(batch_size, split)) in passes.iter().enumerate() {
            let mut models = [&mut bn, &mut folded, &mut plain];
            let seconds = infer_in_turns(&mut models, data, split, batch_size);
            for (timing, s) in inference[pass * 3..].iter_mut().zip(seconds) {
                timing.seconds.push(s);
            }
        }
    }
    Results {
        recipe,
        training,
        fold_max_abs_diff: abs,
        fold_max_rel_diff: rel,
        inference,
    }
}

/// The largest absolute and relative (to `max(1, |logit|)`) difference between the test
/// logits of `bn` and of `folded`, in evaluation mode.
fn fold_difference(bn: &mut Sequential, folded: &mut Sequential, data: &Dataset) -> (f64, f64) {
    let logits = |model: &mut Sequential| {
        let mut tape = Tape::new();
        let config = BatchConfig::sequential(1000).normalization(data.normalization);
        let mut batches = data.test.batches(config);
        let mut all = Vec::new();
        while let Some(batch) = batches.next_batch() {
            tape.reset();
            let shape = [batch.len(), data.test.pixels_per_image()];
            let y = tape.no_grad(|tape| {
                let x = tape.constant_from_slice(&shape, batch.images);
                model.forward(tape, x, Mode::Eval)
            });
            all.extend_from_slice(tape.value(y).data());
        }
        all
    };
    let (original, merged) = (logits(bn), logits(folded));
    original
        .iter()
        .zip(&merged)
        .fold((0f64, 0f64), |(abs, rel), (&a, &f)| {
            let d = (a as f64 - f as f64).abs();
            (abs.max(d), rel.max(d / (a as f64).abs().max(1.0)))
        })
}

/// Seconds per epoch of one side over the seeds.
fn epoch_seconds(r: &Results, bn: bool) -> Band {
    Band::of(r.training.iter().map(|t| t.epoch_seconds(bn))).expect("at least one seed")
}

/// The fastest pass's time per image: the least disturbed by other load.
fn best(r: &Results, model: &str, batch_size: usize) -> f64 {
    let t = r
        .inference
        .iter()
        .find(|t| t.model == model && t.batch_size == batch_size);
    t.map_or(f64::NAN, |t| t.micros_per_image().min)
}

/// The plots, the tables and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let train = [false, true].map(|bn| {
        let value = epoch_seconds(r, bn);
        let text = format!("{:.2} s", value.mean);
        let label = side_name(bn).to_string();
        Bar {
            label,
            value,
            color: bn_color(bn),
            text,
        }
    });
    bar_chart(
        &out.join("overhead_train.svg"),
        "Training time per epoch (60,000 images, batch 64)",
        "seconds per epoch",
        &train,
    )?;
    let colors = [bn_color(true), PALETTE[0], bn_color(false)];
    let mut images = vec![image("overhead_train.svg", "training time per epoch")];
    let mut table = Table::new(&[
        "batch",
        "model",
        "µs per image (mean, range over repeats)",
        "fastest pass, relative to no BatchNorm",
    ]);
    for batch_size in [1000, 1] {
        let timings: Vec<&Timing> = r
            .inference
            .iter()
            .filter(|t| t.batch_size == batch_size)
            .collect();
        let bars: Vec<Bar> = timings
            .iter()
            .zip(colors)
            .map(|(t, color)| {
                let value = t.micros_per_image();
                let text = format!("{:.1} µs", value.mean);
                Bar {
                    label: t.model.clone(),
                    value,
                    color,
                    text,
                }
            })
            .collect();
        let file = format!("overhead_inference_b{batch_size}.svg");
        let title = format!("Inference time per image, batches of {batch_size}");
        bar_chart(&out.join(&file), &title, "microseconds per image", &bars)?;
        images.push(image(&file, &title));
        let reference = best(r, side_name(false), batch_size);
        for t in timings {
            let ratio = best(r, &t.model, batch_size) / reference;
            table.row([
                batch_size.to_string(),
                t.model.clone(),
                num_band(t.micros_per_image(), 2),
                format!("{ratio:.2}x"),
            ]);
        }
    }
    let (verdict, seen, summary) = reading(r);
    let recipe = &r.recipe;
    let body = format!(
        "Training: per seed, the models with and without BatchNorm train side by side on the \
         same batches, taking turns step by step, for {steps} steps each (only the training \
         steps are timed), scaled to an epoch of {STEPS_PER_EPOCH} steps. Inference: seed 0's \
         two models and the BatchNorm one folded (`tapegrad::layers::fold_batchnorm`), in \
         evaluation mode, over the {test} test images in batches of 1000 and over {latency} \
         images one at a time, the three taking turns batch by batch; {repeats} repeats. Taking \
         turns makes a burst of other load fall on every model alike. Ratios use each model's \
         fastest repeat.\n\n{images}{table}{seen}\n",
        steps = recipe.steps,
        test = r
            .inference
            .iter()
            .find(|t| t.batch_size == 1000)
            .map_or(0, |t| t.images),
        latency = r
            .inference
            .iter()
            .find(|t| t.batch_size == 1)
            .map_or(0, |t| t.images),
        repeats = r.inference.first().map_or(0, |t| t.seconds.len()),
        images = images.concat(),
        table = table.render(),
    );
    Ok(Section {
        name: "overhead",
        title: "6. Overhead: what BatchNorm costs, and folding it away".to_string(),
        claim: "BatchNorm costs computation".to_string(),
        verdict,
        summary,
        body,
    })
}

fn reading(r: &Results) -> (Verdict, String, String) {
    let (no, bn) = (epoch_seconds(r, false), epoch_seconds(r, true));
    let train_ratio = bn.mean / no.mean;
    let seed_ratios = Band::of(
        r.training
            .iter()
            .map(|t| t.seconds_with / t.seconds_without),
    );
    let seed_ratios = seed_ratios.expect("at least one seed");
    let timing = |model: &str, batch| {
        let t = r
            .inference
            .iter()
            .find(|t| t.model == model && t.batch_size == batch);
        t.map(Timing::micros_per_image)
    };
    let inference: Vec<String> = [1000, 1]
        .iter()
        .map(|&batch| {
            let plain = timing(side_name(false), batch);
            let describe = |model: &str| {
                let ratio = best(r, model, batch) / best(r, side_name(false), batch);
                let overlap = match (timing(model, batch), plain) {
                    (Some(a), Some(b)) => a.min <= b.max && b.min <= a.max,
                    _ => false,
                };
                let noise = if overlap {
                    ", within the spread of the repeats"
                } else {
                    ""
                };
                format!("{ratio:.2}x{noise}")
            };
            format!(
                "in batches of {batch}, {} with BatchNorm and {} folded",
                describe(side_name(true)),
                describe("BatchNorm folded")
            )
        })
        .collect();
    let folded_ok = r.fold_max_abs_diff <= FOLD_TOLERANCE || r.fold_max_rel_diff <= FOLD_TOLERANCE;
    let verdict = if train_ratio >= 1.0 + SAME {
        Verdict::BorneOut
    } else {
        Verdict::NotBorneOut
    };
    let (fastest, slowest) = (seed_ratios.min, seed_ratios.max);
    let seen = format!(
        "**What was seen.** A training epoch took {:.2} s with BatchNorm and {:.2} s without: \
         {train_ratio:.2}x ({fastest:.2}x to {slowest:.2}x over the seeds' pairs of runs). In \
         inference, the time per image relative to the model without BatchNorm was {}. Where a \
         ratio is within the spread of the repeats, the load on the machine hid any \
         difference. Folding changed the logits by at most {:.1e} (absolute) and {:.1e} \
         (relative to max(1, |logit|)), {} the 1e-5 required.",
        bn.mean,
        no.mean,
        inference.join("; "),
        r.fold_max_abs_diff,
        r.fold_max_rel_diff,
        if folded_ok { "within" } else { "**outside**" },
    );
    let relative = |model| best(r, model, 1000) / best(r, side_name(false), 1000);
    let (with_bn, folded) = (relative(side_name(true)), relative("BatchNorm folded"));
    let summary = format!(
        "training {train_ratio:.2}x the time per epoch; inference (batch 1000) {with_bn:.2}x \
         with BN, {folded:.2}x folded"
    );
    (verdict, seen, summary)
}
