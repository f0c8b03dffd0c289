//! Sweeps (learning rate, init scale, batch size): one [`Pair`] per setting, the final test
//! accuracy of each drawn against the setting and tabulated.

use super::pairs::{side_name, sweep_series, Pair};
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis};
use crate::recipe::Recipe;
use crate::report::Table;
use crate::runner::RunRecord;
use crate::study::Study;
use plotters::prelude::SeriesLabelPosition;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The runs of a sweep, one pair per setting, in the order of the settings.
#[derive(Serialize, Deserialize)]
pub struct Sweep {
    /// One per setting.
    pub pairs: Vec<Pair>,
}

/// Runs every `(setting, recipe)` with and without BatchNorm for every seed, under one
/// progress bar named `name`.
pub fn run_sweep(study: &Study, name: &str, settings: &[(String, Recipe)]) -> Sweep {
    let progress = study.progress(name, 2 * settings.len() * study.seeds.len());
    let pairs = settings
        .iter()
        .map(|(setting, recipe)| Pair::run(setting, recipe, study, &progress))
        .collect();
    Sweep { pairs }
}

/// Writes `path`: the final test accuracy against the settings (categories), with and
/// without BatchNorm; runs that diverged as red crosses at the bottom.
pub fn accuracy_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    pairs: &[Pair],
) -> Result<(), StudyError> {
    let series = sweep_series(pairs, RunRecord::final_accuracy, 100.0);
    let axes = Axes {
        title: title.to_string(),
        x: Axis::categories(x_label, pairs.iter().map(|p| p.setting.clone())),
        y: Axis::linear("final test accuracy (%)").range(0.0, 100.0),
        legend: SeriesLabelPosition::LowerLeft,
    };
    line_chart(path, &axes, &series)
}

/// The final test accuracy per setting: `setting | without BatchNorm | with BatchNorm`.
pub fn accuracy_table(setting: &str, pairs: &[Pair]) -> Table {
    let mut table = Table::new(&[setting, side_name(false), side_name(true)]);
    for pair in pairs {
        table.row([
            pair.setting.clone(),
            pair.final_accuracy(false).accuracy_cell(),
            pair.final_accuracy(true).accuracy_cell(),
        ]);
    }
    table
}

/// The settings at which a side is "good": every seed finished and the mean final accuracy
/// is within `tolerance` of the best mean of either side in the sweep.
pub fn good_settings(pairs: &[Pair], bn: bool, tolerance: f64) -> Vec<usize> {
    let best = pairs
        .iter()
        .flat_map(|p| [p.final_accuracy(false), p.final_accuracy(true)])
        .filter_map(|o| o.clean_mean())
        .fold(0.0, f64::max);
    (0..pairs.len())
        .filter(|&i| {
            let mean = pairs[i].final_accuracy(bn).clean_mean();
            mean.is_some_and(|m| m >= best - tolerance)
        })
        .collect()
}
