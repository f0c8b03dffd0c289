//! The unit of most experiments: one setting trained with and without BatchNorm, once per
//! seed; and its summaries (a band over seeds, divergences) as table cells and plot series.

use crate::plots::{bn_color, Series};
use crate::recipe::Recipe;
use crate::report::{num_band, pct_band};
use crate::runner::{run, RunRecord};
use crate::stats::{by_step, Band};
use crate::study::{Progress, Study};
use serde::{Deserialize, Serialize};
use tapegrad::layers::Sequential;

/// One setting, run without and with BatchNorm for every seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pair {
    /// The setting's name (`0.1`, `batch 8`), as plots and tables show it.
    pub setting: String,
    /// The runs without BatchNorm, one per seed.
    pub no_bn: Vec<RunRecord>,
    /// The runs with BatchNorm, one per seed.
    pub bn: Vec<RunRecord>,
}

impl Pair {
    /// Runs `recipe` without and with BatchNorm for every seed of the study.
    pub fn run(setting: &str, recipe: &Recipe, study: &Study, progress: &Progress) -> Pair {
        Pair::run_models(setting, recipe, study, progress).0
    }

    /// [`Pair::run`], also returning the trained models: `[without, with]` BatchNorm, one
    /// per seed.
    pub fn run_models(
        setting: &str,
        recipe: &Recipe,
        study: &Study,
        progress: &Progress,
    ) -> (Pair, [Vec<Sequential>; 2]) {
        Pair::run_with(setting, recipe, &study.seeds, |r| {
            run(r, &study.data, progress)
        })
    }

    /// Trains `recipe` without and with BatchNorm for every seed with `train` (a runner
    /// that measures more than the test accuracy, or on other data).
    pub fn run_with(
        setting: &str,
        recipe: &Recipe,
        seeds: &[u64],
        mut train: impl FnMut(&Recipe) -> (RunRecord, Sequential),
    ) -> (Pair, [Vec<Sequential>; 2]) {
        let mut sides = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
        for (bn, (records, models)) in [false, true].into_iter().zip(&mut sides) {
            for &seed in seeds {
                let (record, model) = train(&recipe.bn(bn).seed(seed));
                records.push(record);
                models.push(model);
            }
        }
        let [(no_bn, plain_models), (bn, bn_models)] = sides;
        let pair = Pair {
            setting: setting.to_string(),
            no_bn,
            bn,
        };
        (pair, [plain_models, bn_models])
    }

    /// The runs with (`true`) or without BatchNorm.
    pub fn side(&self, bn: bool) -> &[RunRecord] {
        if bn {
            &self.bn
        } else {
            &self.no_bn
        }
    }

    /// The final test accuracy of one side over its seeds.
    pub fn final_accuracy(&self, bn: bool) -> Outcome {
        Outcome::of(self.side(bn).iter().map(RunRecord::final_accuracy))
    }
}

/// A measurement over seeds, some of which may have diverged (`None`).
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// The band of the runs that finished; `None` if none did.
    pub band: Option<Band>,
    /// How many runs diverged.
    pub diverged: usize,
    /// How many runs in all.
    pub runs: usize,
}

impl Outcome {
    /// The outcome of values that are `None` for runs that diverged.
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Outcome {
        let values: Vec<Option<f64>> = values.into_iter().collect();
        Outcome {
            band: Band::of(values.iter().flatten().copied()),
            diverged: values.iter().filter(|v| v.is_none()).count(),
            runs: values.len(),
        }
    }

    /// Whether every run finished.
    pub fn all_finished(&self) -> bool {
        self.diverged == 0
    }

    /// The mean if every run finished.
    pub fn clean_mean(&self) -> Option<f64> {
        self.band.filter(|_| self.all_finished()).map(|b| b.mean)
    }

    /// A table cell for a number of steps to a threshold (from [`steps_to`]).
    pub fn steps_cell(&self) -> String {
        match (self.band, self.diverged) {
            (Some(b), 0) => num_band(b, 0),
            (Some(b), d) => format!("{} ({d}/{} never)", num_band(b, 0), self.runs),
            (None, _) => "not reached".to_string(),
        }
    }

    /// A table cell for an accuracy: `97.12 % (96.90–97.30)`, with the runs that diverged.
    pub fn accuracy_cell(&self) -> String {
        match (self.band, self.diverged) {
            (Some(b), 0) => pct_band(b),
            (Some(b), d) => format!("{} ({d}/{} diverged)", pct_band(b), self.runs),
            (None, d) => format!("diverged ({d}/{})", self.runs),
        }
    }
}

/// The steps each run took to reach test accuracy `threshold` (the first evaluation at or
/// above it); a run that never did counts as `None`, as a diverged one in other outcomes.
pub fn steps_to(runs: &[RunRecord], threshold: f64) -> Outcome {
    Outcome::of(runs.iter().map(|r| r.steps_to(threshold).map(|s| s as f64)))
}

/// The name of a side in legends and tables.
pub fn side_name(bn: bool) -> &'static str {
    if bn {
        "with BatchNorm"
    } else {
        "without BatchNorm"
    }
}

/// For a sweep over `pairs` (category `i` at `x = i`): per side, a series of `value` over
/// seeds (multiplied by `scale`), with a red cross at each setting where a run diverged.
pub fn sweep_series(
    pairs: &[Pair],
    value: impl Fn(&RunRecord) -> Option<f64>,
    scale: f64,
) -> Vec<Series> {
    [false, true]
        .into_iter()
        .map(|bn| {
            let outcomes = pairs
                .iter()
                .map(|p| Outcome::of(p.side(bn).iter().map(&value)));
            let mut series = Series::new(side_name(bn), bn_color(bn), Vec::new());
            for (i, outcome) in outcomes.enumerate() {
                let band = outcome.band.map_or(Band::NONE, |b| b.scaled(scale));
                series.points.push((i as f64, band));
                if !outcome.all_finished() {
                    series.diverged.push(i as f64);
                }
            }
            series
        })
        .collect()
}

/// A series over training steps of `curve` (band over the runs, multiplied by `scale`),
/// from step `from` on, with a red cross at each step where a run diverged.
pub fn curve_series(
    name: &str,
    runs: &[RunRecord],
    curve: impl Fn(&RunRecord) -> Vec<(usize, f64)>,
    scale: f64,
    from: usize,
) -> Series {
    let curves = runs
        .iter()
        .map(|r| curve(r).into_iter().filter(|&(s, _)| s >= from).collect());
    let points = by_step(curves)
        .into_iter()
        .map(|(s, b)| (s as f64, b.scaled(scale)))
        .collect();
    let color = bn_color(runs.first().is_some_and(|r| r.recipe.batch_norm));
    let mut series = Series::new(name, color, points);
    series.diverged = runs
        .iter()
        .filter_map(|r| r.diverged.as_ref().map(|d| d.step as f64))
        .collect();
    series
}
