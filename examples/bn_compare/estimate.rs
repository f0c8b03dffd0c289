//! The wall time of a study, estimated before it runs from a cost model of one training step
//! and one evaluation, so that a budget can be checked without running it, and so that a run
//! over a minute gets fewer seeds.
//!
//! The constants are seconds of CPU on one core of the machine the study is measured on (the
//! 2-core AMD EPYC VM of `docs/PERFORMANCE.md`), fitted to the steps and evaluations that
//! `calibration_test.rs` times on one thread: batches of 2 to 256 of the 784-256-256-10 ReLU
//! MLP without normalisation, with BatchNorm, with LayerNorm and with ghost batches, and
//! the 784-100-100-100-10 sigmoid MLP, and batches of 64 of PyTorch's MNIST example net
//! with and without BatchNorm. Elsewhere the estimate is off by the machine's speed.

use crate::data::Dataset;
use crate::recipe::{Arch, Norm, Recipe};
use crate::study::Study;
use tapegrad::layers::Activation;

/// Per step and per Linear layer: the tape, the ops' set-up, the optimizer's walk.
const STEP_PER_LAYER: f64 = 26e-6;
/// Per parameter and step: the weight gradients' outer products and the SGD update.
const STEP_PER_PARAM: f64 = 6.75e-10;
/// Per multiply-add of one sample's forward, in a training step (forward and backward).
const TRAIN_PER_MAC: f64 = 5.95e-11;
/// Per normalisation layer and step (BatchNorm's statistics, the op's set-up).
const NORM_PER_LAYER: f64 = 6.5e-6;
/// Per hidden unit and sample in a training step: BatchNorm's passes.
const BATCH_NORM_PER_UNIT: f64 = 0.6e-9;
/// Per hidden unit and sample in a training step: LayerNorm's (an op of its own, unfused).
const LAYER_NORM_PER_UNIT: f64 = 5e-9;
/// Per Linear layer and ghost batch beyond the first: a forward and backward of its own.
const GHOST_PER_LAYER: f64 = 63e-6;
/// Per multiply-add of one sample in evaluation (forward only, batches of 1000).
const EVAL_PER_MAC: f64 = 3.53e-11;
/// Per sigmoid unit of one sample in evaluation (the exponential).
const EVAL_PER_SIGMOID: f64 = 7e-9;

/// Per sample of a training step of the CNN (its two convolutions are most of it).
const CNN_TRAIN_PER_SAMPLE: f64 = 1.39e-3;
/// Per sample of a training step of the CNN, added by its three BatchNorms.
const CNN_BATCH_NORM_PER_SAMPLE: f64 = 0.23e-3;
/// Per image of the CNN's evaluation (forward only, batches of 100).
const CNN_EVAL_PER_IMAGE: f64 = 0.6e-3;

/// `(multiply-adds per sample, hidden units, parameters, Linear layers)` of a recipe's model.
fn shape(recipe: &Recipe, inputs: usize) -> (f64, f64, f64, f64) {
    let mut widths = vec![inputs];
    widths.extend(&recipe.hidden);
    widths.push(10);
    let macs: usize = widths.windows(2).map(|w| w[0] * w[1]).sum();
    let units: usize = recipe.hidden.iter().sum();
    let params = macs + widths[1..].iter().sum::<usize>();
    (
        macs as f64,
        units as f64,
        params as f64,
        (widths.len() - 1) as f64,
    )
}

/// Seconds of one training step of `recipe` on one core.
pub fn step_seconds(recipe: &Recipe, inputs: usize) -> f64 {
    if recipe.arch == Arch::Cnn {
        let bn = if recipe.batch_norm() {
            CNN_BATCH_NORM_PER_SAMPLE
        } else {
            0.0
        };
        return recipe.batch_size as f64 * (CNN_TRAIN_PER_SAMPLE + bn);
    }
    let (macs, units, params, layers) = shape(recipe, inputs);
    let norms = recipe.hidden.len() as f64;
    let per_unit = match recipe.norm {
        Norm::None => 0.0,
        Norm::Batch => BATCH_NORM_PER_UNIT,
        Norm::Layer => LAYER_NORM_PER_UNIT,
    };
    let norm = if recipe.norm == Norm::None {
        0.0
    } else {
        norms * NORM_PER_LAYER
    };
    let parts = recipe
        .ghost_batch
        .map_or(1, |g| recipe.batch_size.div_ceil(g)) as f64;
    let batch = recipe.batch_size as f64;
    layers * STEP_PER_LAYER
        + params * STEP_PER_PARAM
        + norm
        + (parts - 1.0) * layers * GHOST_PER_LAYER
        + batch * (macs * TRAIN_PER_MAC + units * per_unit)
}

/// Seconds of one evaluation pass of `recipe`'s model over `images` on one core.
pub fn eval_seconds(recipe: &Recipe, inputs: usize, images: usize) -> f64 {
    if recipe.arch == Arch::Cnn {
        return images as f64 * CNN_EVAL_PER_IMAGE;
    }
    let (macs, units, _, _) = shape(recipe, inputs);
    let sigmoids = if recipe.activation == Activation::Sigmoid {
        units
    } else {
        0.0
    };
    images as f64 * (EVAL_PER_MAC * macs + EVAL_PER_SIGMOID * sigmoids)
}

/// Seconds of the whole run of `recipe` on `data` on one core: its steps and every
/// evaluation its plan makes.
pub fn run_seconds(recipe: &Recipe, data: &Dataset) -> f64 {
    let inputs = data.train.pixels_per_image();
    let plan = &recipe.eval;
    let window = plan.window_steps(recipe.steps);
    let images: usize = plan
        .steps(recipe.steps)
        .iter()
        .map(|s| {
            let in_window = window.contains(s);
            let (val, test) = (plan.validation_always || in_window, plan.test.at(in_window));
            let count = |on: bool, n: usize| if on { n } else { 0 };
            count(val, data.validation.len())
                + count(test, data.test.len())
                + count(plan.on_train, data.train.len())
        })
        .sum();
    recipe.steps as f64 * step_seconds(recipe, inputs) + eval_seconds(recipe, inputs, images)
}

/// Seconds, on one core, of what `batch-size` and `train-test` measure on the final weights
/// of each BatchNorm run: a recalibration pass over the training images and two passes over
/// the test images.
pub fn measure_seconds(recipes: &[Recipe], data: &Dataset) -> f64 {
    let inputs = data.train.pixels_per_image();
    let images = data.train.len() + 2 * data.test.len();
    let bn = recipes.iter().filter(|r| r.batch_norm());
    bn.map(|r| eval_seconds(r, inputs, images)).sum()
}

/// Seconds, on one core, of `paper-fig1`'s probes: at each curve evaluation, one more pass
/// over the test images and a sort of every sigmoid's inputs.
pub fn probe_seconds(recipes: &[Recipe], data: &Dataset) -> f64 {
    let inputs = data.train.pixels_per_image();
    let per_probe = |r: &Recipe| {
        let units = *r.hidden.last().unwrap_or(&0) as f64;
        let sort = units * data.test.len() as f64 * (data.test.len() as f64).log2() * 2e-9;
        eval_seconds(r, inputs, data.test.len()) + sort
    };
    let probes = |r: &Recipe| (r.steps / r.eval.every.unwrap_or(usize::MAX).max(1) + 1) as f64;
    recipes.iter().map(|r| probes(r) * per_probe(r)).sum()
}

/// Wall seconds of `overhead`, which runs alone on every thread: the timed training pairs
/// (2 threads run a batch-64 step about 1.2 times as fast as one), the inference repeats
/// (three models over the test images, and one image at a time), three recalibration passes.
pub fn overhead_seconds(recipes: &[Recipe], study: &Study) -> f64 {
    let data = &study.data;
    let b = &study.budget;
    let inputs = data.train.pixels_per_image();
    let speedup = if study.workers > 1 { 1.2 } else { 1.0 };
    let train: f64 = recipes
        .iter()
        .map(|r| r.steps as f64 * step_seconds(r, inputs))
        .sum();
    let Some(r) = recipes.last() else { return 0.0 };
    let layers = (r.hidden.len() + 1) as f64;
    let one_image = eval_seconds(r, inputs, 1) + 2.0 * layers * STEP_PER_LAYER;
    let inference = b.inference_repeats as f64
        * 3.0
        * (eval_seconds(r, inputs, data.test.len()) + b.latency_images as f64 * one_image);
    let recalibration = 3.0 * eval_seconds(r, inputs, data.train.len());
    (train + inference + recalibration) / speedup
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_grow_with_what_a_step_does() {
        let r = Recipe::reference(100);
        let base = step_seconds(&r, 784);
        assert!(step_seconds(&r.bn(true), 784) > base);
        let ghost = Recipe {
            ghost_batch: Some(8),
            ..r.bn(true)
        };
        assert!(step_seconds(&ghost, 784) > step_seconds(&r.bn(true), 784));
        let big = Recipe {
            batch_size: 256,
            ..r.clone()
        };
        assert!(step_seconds(&big, 784) > 2.0 * base);
        assert!(eval_seconds(&r, 784, 2000) > eval_seconds(&r, 784, 1000));
    }
}
