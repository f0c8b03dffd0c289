//! Sweeps (learning rate, init scale): one [`Pair`] per setting, the final accuracies of each
//! drawn against the setting and tabulated, and the settings that count as good.

use super::pairs::{failed, Outcome, Pair};
use super::series::sweep_series;
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis};
use crate::record::RunRecord;
use crate::report::Table;
use plotters::prelude::SeriesLabelPosition;
use std::path::Path;

/// A setting is good for a side when its mean final validation accuracy is within this of
/// the best mean of either side in the sweep, and no run of it failed.
pub const TOLERANCE: f64 = 0.01;

/// Writes `path`: the final test accuracy against the settings (categories), with and
/// without BatchNorm; runs that diverged as red crosses at the bottom.
pub fn accuracy_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    pairs: &[Pair],
) -> Result<(), StudyError> {
    let y_label = "final test accuracy (%)";
    setting_chart(
        path,
        [title, x_label, y_label],
        pairs,
        RunRecord::final_test,
    )
}

/// Writes `path`: `value` (a fraction, drawn in percent) against the settings
/// (categories), with and without BatchNorm, under `[title, x label, y label]`; runs that
/// diverged as red crosses at the bottom.
pub fn setting_chart(
    path: &Path,
    [title, x_label, y_label]: [&str; 3],
    pairs: &[Pair],
    value: fn(&RunRecord) -> Option<f64>,
) -> Result<(), StudyError> {
    let series = sweep_series(pairs, value, 100.0);
    let axes = Axes {
        title: title.to_string(),
        x: Axis::categories(x_label, pairs.iter().map(|p| p.setting.clone())),
        y: Axis::linear(y_label).range(0.0, 100.0),
        legend: SeriesLabelPosition::LowerLeft,
    };
    line_chart(path, &axes, &series)
}

/// Per setting: the final validation accuracy (what choices are made on), the final test
/// accuracy (the figure reported), and the runs that failed, of both sides.
pub fn accuracy_table(setting: &str, pairs: &[Pair]) -> Table {
    let mut table = Table::new(&[
        setting,
        "validation, without BatchNorm",
        "validation, with BatchNorm",
        "test, without BatchNorm",
        "test, with BatchNorm",
        "failed runs, without / with",
    ]);
    for pair in pairs {
        let cell = |bn, value: fn(&RunRecord) -> Option<f64>| {
            Outcome::of(pair.values(bn, value)).pct_cell("diverged")
        };
        let failures = [false, true].map(|bn| failed(pair.side(bn)));
        table.row([
            pair.setting.clone(),
            cell(false, RunRecord::final_val),
            cell(true, RunRecord::final_val),
            cell(false, RunRecord::final_test),
            cell(true, RunRecord::final_test),
            format!("{} / {} of {}", failures[0], failures[1], pair.bn.len()),
        ]);
    }
    table
}

/// The good settings of each side (`[without, with]`, indices into `pairs`) when only the
/// seeds at positions `draw` count (a bootstrap resample; every seed for the estimate).
pub fn good_settings(pairs: &[Pair], draw: &[usize]) -> [Vec<usize>; 2] {
    let mean = |p: &Pair, bn: bool| -> Option<f64> {
        let runs = p.side(bn);
        let values: Option<Vec<f64>> = draw
            .iter()
            .map(|&i| {
                runs.get(i)
                    .filter(|r| !r.failed())
                    .and_then(RunRecord::final_val)
            })
            .collect();
        let values = values?;
        Some(values.iter().sum::<f64>() / values.len() as f64)
    };
    let best = pairs
        .iter()
        .flat_map(|p| [mean(p, false), mean(p, true)])
        .flatten()
        .fold(f64::NEG_INFINITY, f64::max);
    [false, true].map(|bn| {
        (0..pairs.len())
            .filter(|&i| mean(&pairs[i], bn).is_some_and(|m| m >= best - TOLERANCE))
            .collect()
    })
}

/// Every seed position of a sweep's pairs (the seeds of its first setting).
pub fn all_seeds(pairs: &[Pair]) -> Vec<usize> {
    (0..pairs.first().map_or(0, |p| p.bn.len())).collect()
}

/// The settings of `indices` by name, in words.
pub fn names(pairs: &[Pair], indices: &[usize]) -> Vec<String> {
    indices.iter().map(|&i| pairs[i].setting.clone()).collect()
}

/// The settings where a run of a side failed, each with its count (`10 (5/5)`).
pub fn failures(pairs: &[Pair], bn: bool) -> Vec<String> {
    counted(pairs, bn, failed)
}

/// The settings where `count` of a side's runs is not 0, each with it (`10 (5/5)`).
pub fn counted(pairs: &[Pair], bn: bool, count: fn(&[RunRecord]) -> usize) -> Vec<String> {
    pairs
        .iter()
        .filter_map(|p| {
            let runs = p.side(bn);
            let k = count(runs);
            (k > 0).then(|| format!("{} ({k}/{})", p.setting, runs.len()))
        })
        .collect()
}
