//! `overhead`: "BatchNorm costs computation" and "BatchNorm adds parameters". Training time
//! per step with and without BatchNorm, inference time with it, folded into the Linear before
//! it (`fold_batchnorm`, checked to give the same outputs) and without it, each as a paired
//! ratio with its interval; what a recalibration pass takes; parameters, buffers and memory
//! counted.

use super::footprint::{footprint, Footprint};
use super::measured::{recalibration_batches, RECALIBRATION_BATCH};
use super::pairs::side_name;
use super::timing::{infer_in_turns, train_in_turns, BLOCK};
use crate::data::{first, Dataset};
use crate::error::StudyError;
use crate::model::build;
use crate::plots::{bar_chart, bn_color, Bar, PALETTE};
use crate::recipe::{Norm, Recipe};
use crate::report::{
    effect, image, num_summary, seeds, Claim, Expect, Judge, Section, Table, Unit,
};
use crate::stats::{paired_log_ratio, Effect, Summary};
use crate::study::Study;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tapegrad::data::{BatchConfig, Split};
use tapegrad::layers::{fold_batchnorm, recalibrate, Mode, Module, Sequential};
use tapegrad::prelude::Tape;

/// The folded model must give the original's outputs to this (absolute and relative).
const FOLD_TOLERANCE: f64 = 1e-5;
/// Repeats of the timed recalibration pass.
const RECALIBRATION_REPEATS: usize = 3;

/// One seed's pair of models trained in turns: per block of [`BLOCK`] steps, the seconds of
/// `[without, with]` BatchNorm.
#[derive(Serialize, Deserialize)]
pub struct TrainTiming {
    /// The seed of both models.
    pub seed: u64,
    /// Per block.
    pub blocks: Vec<[f64; 2]>,
}

/// Inference at one batch size: per repeat, the seconds of every image through each model.
#[derive(Serialize, Deserialize)]
pub struct InferenceTiming {
    /// Images per forward pass.
    pub batch_size: usize,
    /// Images per timed pass.
    pub images: usize,
    /// Per repeat, `[with BatchNorm, folded, without]`.
    pub seconds: Vec<[f64; 3]>,
}

/// The measurements.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// What was trained (with and without BatchNorm).
    pub recipe: Recipe,
    /// Training steps in one epoch of the training images.
    pub steps_per_epoch: usize,
    /// One per seed.
    pub training: Vec<TrainTiming>,
    /// At batch 1000 and batch 1.
    pub inference: Vec<InferenceTiming>,
    /// Training images one recalibration pass forwards.
    pub recalibration_images: usize,
    /// Seconds of each timed recalibration pass.
    pub recalibration_seconds: Vec<f64>,
    /// The largest `|folded - original|` over every test logit, in evaluation mode.
    pub fold_max_abs_diff: f64,
    /// The largest `|folded - original| / max(1, |original|)`.
    pub fold_max_rel_diff: f64,
    /// Parameters, buffers and memory of each model.
    pub footprints: Vec<Footprint>,
}

/// The names of the three inference models, in the order they are timed.
const MODELS: [&str; 3] = ["with BatchNorm", "BatchNorm folded", "without BatchNorm"];

/// What it will train (the timed pairs; all seeds: a pair takes seconds).
pub fn planned(study: &Study) -> Vec<Recipe> {
    let recipe = Recipe::reference(study.budget.overhead_steps);
    study
        .seeds
        .iter()
        .flat_map(|&s| [recipe.bn(false).seed(s), recipe.bn(true).seed(s)])
        .collect()
}

/// Times training, checks the folding, times inference and recalibration, counts memory.
/// Runs alone, on every thread of the pool.
pub fn run(study: &Study) -> Results {
    let b = &study.budget;
    let recipe = Recipe::reference(b.overhead_steps);
    let progress = study.progress("overhead", study.seeds.len());
    let data = &study.data;
    let mut first_models = None;
    let mut training = Vec::new();
    for &seed in &study.seeds {
        let recipes = [recipe.bn(false).seed(seed), recipe.bn(true).seed(seed)];
        let turns = train_in_turns(&recipes, data, recipe.steps);
        let blocks = turns.blocks.iter().map(|b| [b[0], b[1]]).collect();
        training.push(TrainTiming { seed, blocks });
        first_models.get_or_insert(turns.models);
        progress.bar.inc(1);
    }
    let [mut plain, mut bn]: [Sequential; 2] = first_models
        .expect("at least one seed")
        .try_into()
        .unwrap_or_else(|_| unreachable!("two recipes, two models"));
    let mut folded = (fold_batchnorm(&bn).expect("the MLP has only built-in layers")).model;
    let (abs, rel) = fold_difference(&mut bn, &mut folded, data);
    let inference = time_inference(&mut [&mut bn, &mut folded, &mut plain], study);
    let batches = recalibration_batches(data);
    // Last use of the BatchNorm model's running statistics above: recalibrating may move them.
    let recalibration_seconds = (0..RECALIBRATION_REPEATS)
        .map(|_| {
            let started = Instant::now();
            recalibrate(&mut bn, &batches);
            started.elapsed().as_secs_f64()
        })
        .collect();
    let inputs = data.train.pixels_per_image();
    let no_bias = Recipe {
        bias_before_norm: false,
        ..recipe.bn(true)
    };
    let footprints = vec![
        footprint(MODELS[2], &mut plain, data, true),
        footprint(MODELS[0], &mut bn, data, true),
        footprint(MODELS[1], &mut folded, data, false),
        footprint(
            "with BatchNorm, no bias before it",
            &mut build(&no_bias, inputs),
            data,
            true,
        ),
        footprint(
            "with LayerNorm",
            &mut build(&recipe.with_norm(Norm::Layer), inputs),
            data,
            true,
        ),
    ];
    Results {
        steps_per_epoch: data.train.len() / recipe.batch_size,
        recipe,
        training,
        inference,
        recalibration_images: batches.len() * RECALIBRATION_BATCH,
        recalibration_seconds,
        fold_max_abs_diff: abs,
        fold_max_rel_diff: rel,
        footprints,
    }
}

/// The three models over the test images in batches of 1000 and over the first images one at
/// a time, taking turns batch by batch, once per repeat.
fn time_inference(models: &mut [&mut Sequential; 3], study: &Study) -> Vec<InferenceTiming> {
    let data = &study.data;
    let latency = first(&data.test, Some(study.budget.latency_images));
    let passes: [(usize, &Split); 2] = [(1000, &data.test), (1, &latency)];
    let mut timings: Vec<InferenceTiming> = passes
        .iter()
        .map(|&(batch_size, split)| InferenceTiming {
            batch_size,
            images: split.len(),
            seconds: Vec::new(),
        })
        .collect();
    for _ in 0..study.budget.inference_repeats {
        for (timing, &(batch_size, split)) in timings.iter_mut().zip(&passes) {
            let s = infer_in_turns(models, data, split, batch_size);
            timing.seconds.push([s[0], s[1], s[2]]);
        }
    }
    timings
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

/// Per block, the seconds of one side, for a paired ratio.
fn block_seconds(r: &Results, bn: bool) -> Vec<Option<f64>> {
    let side = usize::from(bn);
    r.training
        .iter()
        .flat_map(|t| t.blocks.iter().map(move |b| Some(b[side])))
        .collect()
}

/// Seconds per epoch of one side, one value per seed.
fn epoch_seconds(r: &Results, bn: bool) -> Option<Summary> {
    let side = usize::from(bn);
    Summary::of(r.training.iter().filter(|t| !t.blocks.is_empty()).map(|t| {
        let total: f64 = t.blocks.iter().map(|b| b[side]).sum();
        total / (t.blocks.len() * BLOCK) as f64 * r.steps_per_epoch as f64
    }))
}

/// The time ratio of model `which` (an index of [`MODELS`]) over the model without
/// BatchNorm, paired by repeat.
fn inference_ratio(t: &InferenceTiming, which: usize) -> Option<Effect> {
    let side = |i: usize| t.seconds.iter().map(|s| Some(s[i])).collect::<Vec<_>>();
    paired_log_ratio(&side(which), &side(2))
}

/// Microseconds per image of one model over the repeats.
fn micros_per_image(t: &InferenceTiming, which: usize) -> Option<Summary> {
    Summary::of(t.seconds.iter().map(|s| s[which] * 1e6 / t.images as f64))
}

/// The plots, the tables and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let train: Vec<Bar> = [false, true]
        .into_iter()
        .filter_map(|bn| {
            let value = epoch_seconds(r, bn)?;
            Some(Bar {
                label: side_name(bn).to_string(),
                text: format!("{:.2} s", value.mean),
                value,
                color: bn_color(bn),
            })
        })
        .collect();
    bar_chart(
        &out.join("overhead_train.svg"),
        &format!(
            "Training time per epoch ({} steps of 64)",
            r.steps_per_epoch
        ),
        "seconds per epoch",
        &train,
    )?;
    let colors = [bn_color(true), PALETTE[0], bn_color(false)];
    let mut images = vec![image("overhead_train.svg", "training time per epoch")];
    let mut timing = Table::new(&[
        "measure",
        "without BatchNorm",
        "with BatchNorm",
        "BatchNorm folded",
        "with / without",
        "folded / without",
    ]);
    let train_ratio = paired_log_ratio(&block_seconds(r, true), &block_seconds(r, false));
    let cell = |s: Option<Summary>, d| s.map_or("–".to_string(), |s| num_summary(s, d));
    let per_step = |bn| {
        let steps = (r.training.first().map_or(0, |t| t.blocks.len()) * BLOCK).max(1) as f64;
        let per_seed = r
            .training
            .iter()
            .map(|t| t.blocks.iter().map(|b| b[usize::from(bn)]).sum::<f64>() * 1e3 / steps);
        Summary::of(per_seed)
    };
    timing.row([
        "ms per training step (batch 64)".to_string(),
        cell(per_step(false), 3),
        cell(per_step(true), 3),
        "–".to_string(),
        train_ratio.map_or("–".to_string(), |e| effect(&e, Unit::Ratio)),
        "–".to_string(),
    ]);
    timing.row([
        "seconds per training epoch".to_string(),
        cell(epoch_seconds(r, false), 3),
        cell(epoch_seconds(r, true), 3),
        "–".to_string(),
        "(as above)".to_string(),
        "–".to_string(),
    ]);
    for t in &r.inference {
        let bars: Vec<Bar> = (0..3)
            .filter_map(|i| {
                let value = micros_per_image(t, i)?;
                Some(Bar {
                    label: MODELS[i].to_string(),
                    text: format!("{:.1} µs", value.mean),
                    value,
                    color: colors[i],
                })
            })
            .collect();
        let file = format!("overhead_inference_b{}.svg", t.batch_size);
        let title = format!("Inference time per image, batches of {}", t.batch_size);
        bar_chart(&out.join(&file), &title, "microseconds per image", &bars)?;
        images.push(image(&file, &title));
        let ratio =
            |i| inference_ratio(t, i).map_or("–".to_string(), |e| effect(&e, Unit::Ratio));
        timing.row([
            format!("µs per image, inference at batch {}", t.batch_size),
            cell(micros_per_image(t, 2), 2),
            cell(micros_per_image(t, 0), 2),
            cell(micros_per_image(t, 1), 2),
            ratio(0),
            ratio(1),
        ]);
    }
    let mut sizes = Table::new(&[
        "model",
        "parameters",
        "buffer scalars",
        "saved for the backward, batch 64 (KiB)",
        "peak of a training step (KiB)",
        "peak of inference, batch 1000 (KiB)",
    ]);
    let kib =
        |b: Option<usize>| b.map_or("–".to_string(), |b| format!("{:.0}", b as f64 / 1024.0));
    for f in &r.footprints {
        sizes.row([
            f.model.clone(),
            f.params.to_string(),
            f.buffers.to_string(),
            kib(f.saved_bytes),
            kib(f.step_peak_bytes),
            kib(Some(f.inference_peak_bytes)),
        ]);
    }
    let (claims, seen) = reading(r, train_ratio);
    let body = format!(
        "Measured alone, on every thread of the pool, after the other experiments' runs. \
         Training: per seed ({seeds}), the models with and without BatchNorm train side \
         by side on the same batches, taking turns step by step, for {steps} steps each (only \
         the steps are timed); the ratio's interval is over the blocks of {BLOCK} steps (paired \
         t on the log ratios of the two models' times in the same block). Inference: seed {seed}'s \
         two models and the BatchNorm one folded (`tapegrad::layers::fold_batchnorm`), in \
         evaluation mode, over the {test} test images in batches of 1000 and over {latency} \
         images one at a time, the three taking turns batch by batch; {repeats} repeats, the \
         ratio's interval over them. Memory is counted at the allocator (the study installs a \
         counting global allocator): on a fresh tape, the bytes a training step's forward \
         allocated and still held when the backward started (what the tape keeps for the \
         backward, the input batch's copy included), and the most held during the step; not \
         RSS, which the allocator's reuse and the page cache blur.\n\n{images}{timing}{sizes}{seen}\n",
        seeds = seeds(r.training.len()),
        steps = r.recipe.steps,
        seed = r.training.first().map_or(0, |t| t.seed),
        test = r.inference.first().map_or(0, |t| t.images),
        latency = r.inference.get(1).map_or(0, |t| t.images),
        repeats = r.inference.first().map_or(0, |t| t.seconds.len()),
        images = images.concat(),
        timing = timing.render(),
        sizes = sizes.render(),
    );
    Ok(Section {
        name: "overhead",
        title: "Cost: time, memory and parameters, and folding BatchNorm away".to_string(),
        claims,
        body,
    })
}

fn reading(r: &Results, train_ratio: Option<Effect>) -> (Vec<Claim>, String) {
    let find = |name: &str| r.footprints.iter().find(|f| f.model == name);
    let (plain, bn) = (find(MODELS[2]), find(MODELS[0]));
    let mut claims = vec![Claim::judged(
        "BatchNorm costs computation",
        train_ratio.as_ref(),
        Judge {
            what: "training time per step, with over without BatchNorm",
            unit: Unit::Ratio,
            claimed: Expect::Above,
            missing: "no block of steps was timed",
        },
    )];
    if let (Some(plain), Some(bn)) = (plain, bn) {
        let added = bn.params as f64 - plain.params as f64;
        claims.push(Claim::judged(
            "BatchNorm adds parameters and memory",
            Some(&Effect::exact(added, 0.0)),
            Judge {
                what: "parameters added",
                unit: Unit::Plain(0, "parameters"),
                claimed: Expect::Above,
                missing: "",
            },
        ));
    }
    let inference: Vec<String> = r
        .inference
        .iter()
        .map(|t| {
            let ratio =
                |i| inference_ratio(t, i).map_or("–".to_string(), |e| effect(&e, Unit::Ratio));
            format!(
                "at batch {}, {} with BatchNorm and {} folded",
                t.batch_size,
                ratio(0),
                ratio(1)
            )
        })
        .collect();
    let memory = match (plain, bn) {
        (Some(p), Some(b)) => format!(
            "BatchNorm added {} parameters ({} to {}) and {} buffer scalars; a training step's \
             saved activations went from {:.0} KiB to {:.0} KiB ({:.2}x) and its peak from \
             {:.0} KiB to {:.0} KiB. ",
            b.params - p.params,
            p.params,
            b.params,
            b.buffers - p.buffers,
            p.saved_bytes.unwrap_or(0) as f64 / 1024.0,
            b.saved_bytes.unwrap_or(0) as f64 / 1024.0,
            b.saved_bytes.unwrap_or(0) as f64 / p.saved_bytes.unwrap_or(1).max(1) as f64,
            p.step_peak_bytes.unwrap_or(0) as f64 / 1024.0,
            b.step_peak_bytes.unwrap_or(0) as f64 / 1024.0,
        ),
        _ => String::new(),
    };
    let recalibration = Summary::of(r.recalibration_seconds.iter().copied());
    let epoch = epoch_seconds(r, true);
    let recalibration = match (recalibration, epoch) {
        (Some(s), Some(e)) => format!(
            "A recalibration pass over {} training images took {} s, {:.2} of a training epoch \
             with BatchNorm. ",
            r.recalibration_images,
            num_summary(s, 3),
            s.mean / e.mean
        ),
        _ => String::new(),
    };
    let folded_ok = r.fold_max_abs_diff <= FOLD_TOLERANCE || r.fold_max_rel_diff <= FOLD_TOLERANCE;
    let seen = format!(
        "**What was seen.** Training time per step, with over without BatchNorm: {}. In \
         inference, time relative to the model without BatchNorm: {}. {memory}{recalibration}\
         Folding changed the logits by at most {:.1e} (absolute) and {:.1e} (relative to \
         max(1, |logit|)), {} the 1e-5 required.",
        train_ratio.map_or("not measured".to_string(), |e| effect(&e, Unit::Ratio)),
        inference.join("; "),
        r.fold_max_abs_diff,
        r.fold_max_rel_diff,
        if folded_ok { "within" } else { "**outside**" },
    );
    (claims, seen)
}
