//! Panels (b) and (c) of the paper's Figure 1: the input of the last hidden layer's sigmoids,
//! its 15th, 50th and 85th percentiles over the test images, at every evaluation.

use crate::data::Dataset;
use crate::recipe::Recipe;
use crate::stats::Summary;
use serde::{Deserialize, Serialize};
use tapegrad::data::BatchConfig;
use tapegrad::layers::{Activation, Mode, Sequential};
use tapegrad::prelude::Tape;

/// The paper's percentiles.
pub const PERCENTILES: [f64; 3] = [15.0, 50.0, 85.0];
/// The sigmoid whose input is plotted: the first of the last hidden layer (not chosen).
pub const UNIT: usize = 0;

/// The inputs of the last hidden layer's sigmoids over training, for one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Probe {
    /// Whether the run had BatchNorm.
    pub batch_norm: bool,
    /// Its seed.
    pub seed: u64,
    /// The evaluated steps.
    pub steps: Vec<usize>,
    /// At those steps, the 15th, 50th and 85th percentiles of sigmoid [`UNIT`]'s input over
    /// the test images.
    pub unit_percentiles: Vec<[f64; 3]>,
    /// Per sigmoid of the layer: the range (largest minus smallest) of its median input over
    /// the evaluations: how far the centre of its distribution moved.
    pub median_range: Vec<f64>,
    /// Per sigmoid: the range of its 85th minus 15th percentile over the evaluations: how
    /// much the width of its distribution changed.
    pub width_range: Vec<f64>,
}

impl Probe {
    /// The mean over the layer's sigmoids of a per-sigmoid range.
    pub fn mean(values: &[f64]) -> Option<f64> {
        Summary::of(values.iter().copied()).map(|s| s.mean)
    }
}

/// Collects, at each evaluation, the percentiles of every sigmoid's input.
pub struct Prober {
    seen: Vec<(usize, Vec<[f64; 3]>)>,
}

impl Prober {
    /// Nothing seen yet.
    pub fn new() -> Prober {
        Prober { seen: Vec::new() }
    }

    /// Records the percentiles of `model`'s last sigmoid inputs at `step`, unless one is not
    /// finite (a network on its way to diverging; JSON could not hold it).
    pub fn observe(&mut self, step: usize, model: &mut Sequential, data: &Dataset) {
        let per_unit: Vec<[f64; 3]> = sigmoid_inputs(model, data)
            .into_iter()
            .map(|mut v| percentiles(&mut v))
            .collect();
        if per_unit.iter().flatten().all(|p| p.is_finite()) {
            self.seen.push((step, per_unit));
        }
    }

    /// The probe of the run of `recipe`.
    pub fn finish(self, recipe: &Recipe) -> Probe {
        let seen = &self.seen;
        let units = seen.first().map_or(0, |s| s.1.len());
        let range = |unit: usize, f: fn(&[f64; 3]) -> f64| {
            let values = seen.iter().map(|(_, per_unit)| f(&per_unit[unit]));
            Summary::of(values).map_or(0.0, |s| s.max - s.min)
        };
        Probe {
            batch_norm: recipe.batch_norm(),
            seed: recipe.seed,
            steps: seen.iter().map(|s| s.0).collect(),
            unit_percentiles: seen.iter().map(|s| s.1[UNIT]).collect(),
            median_range: (0..units).map(|u| range(u, |p| p[1])).collect(),
            width_range: (0..units).map(|u| range(u, |p| p[2] - p[0])).collect(),
        }
    }
}

/// The three [`PERCENTILES`] of `values` (sorted here once), interpolated as numpy does.
fn percentiles(values: &mut [f32]) -> [f64; 3] {
    values.sort_by(f32::total_cmp);
    PERCENTILES.map(|p| {
        let rank = p / 100.0 * (values.len() - 1) as f64;
        let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
        let (a, b) = (f64::from(values[low]), f64::from(values[high]));
        a + (b - a) * (rank - low as f64)
    })
}

/// Per sigmoid of the last hidden layer, its inputs over every test image, the network in
/// evaluation mode (running statistics): the trained network, as Figure 1(b, c) shows it.
fn sigmoid_inputs(model: &mut Sequential, data: &Dataset) -> Vec<Vec<f32>> {
    let last = (0..model.len())
        .rev()
        .find(|&i| model.get_as::<Activation>(i).is_some());
    let last = last.expect("the model has a hidden layer");
    let config = BatchConfig::sequential(1000).normalization(data.normalization);
    let mut batches = data.test.batches(config);
    let mut tape = Tape::new();
    let mut units: Vec<Vec<f32>> = Vec::new();
    while let Some(batch) = batches.next_batch() {
        tape.reset();
        let x = tape.no_grad(|tape| {
            let shape = [batch.len(), data.test.pixels_per_image()];
            let mut x = tape.constant_from_slice(&shape, batch.images);
            for layer in model.iter_mut().take(last) {
                x = layer.forward(tape, x, Mode::Eval);
            }
            x
        });
        let value = tape.value(x);
        let width = value.as_matrix().1;
        units.resize(width, Vec::new());
        for row in value.data().chunks_exact(width) {
            units.iter_mut().zip(row).for_each(|(u, &v)| u.push(v));
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_numpy() {
        // numpy.percentile([1, 2, 3, 4], [15, 50, 85]) = [1.45, 2.5, 3.55]
        let got = percentiles(&mut [4.0, 1.0, 3.0, 2.0]);
        for (g, want) in got.iter().zip([1.45, 2.5, 3.55]) {
            assert!((g - want).abs() < 1e-6, "{got:?}");
        }
    }
}
