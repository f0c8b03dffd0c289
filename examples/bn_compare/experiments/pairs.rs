//! The unit of most experiments: one setting trained with and without BatchNorm, once per
//! seed; its summaries over seeds (as table cells) and its paired effects.

use crate::recipe::Recipe;
use crate::record::RunRecord;
use crate::report::pct_summary;
use crate::stats::{paired_difference, Effect, Summary};
use crate::study::{Progress, Study};
use serde::{Deserialize, Serialize};

/// One setting, run without and with BatchNorm for every seed (the same seeds, in order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pair {
    /// The setting's name (`0.1`, `8`), as plots and tables show it.
    pub setting: String,
    /// The runs without BatchNorm, one per seed.
    pub no_bn: Vec<RunRecord>,
    /// The runs with BatchNorm, one per seed.
    pub bn: Vec<RunRecord>,
}

impl Pair {
    /// The runs with (`true`) or without BatchNorm.
    pub fn side(&self, bn: bool) -> &[RunRecord] {
        if bn {
            &self.bn
        } else {
            &self.no_bn
        }
    }

    /// `value` of every run of a side, in seed order.
    pub fn values(&self, bn: bool, value: impl Fn(&RunRecord) -> Option<f64>) -> Vec<Option<f64>> {
        self.side(bn).iter().map(value).collect()
    }

    /// With minus without BatchNorm, paired by seed, over the seeds where both have a value.
    pub fn bn_minus_plain(&self, value: impl Fn(&RunRecord) -> Option<f64>) -> Option<Effect> {
        paired_difference(&self.values(true, &value), &self.values(false, &value))
    }

    /// The final test accuracy of a side over its seeds.
    pub fn final_test(&self, bn: bool) -> Outcome {
        Outcome::of(self.values(bn, RunRecord::final_test))
    }
}

/// A sweep: named settings, each a recipe trained with and without BatchNorm.
pub struct Sweep {
    /// The experiment's name, for its progress bar.
    pub name: &'static str,
    /// `(setting, recipe)`, in the order of the report.
    pub settings: Vec<(String, Recipe)>,
}

impl Sweep {
    /// What it will train.
    pub fn planned(&self, study: &Study) -> Vec<Recipe> {
        recipes(&self.settings, study)
    }

    /// Trains it: one pair per setting.
    pub fn run(&self, study: &Study) -> Vec<Pair> {
        let progress = study.progress(self.name, self.planned(study).len());
        run_pairs(study, &progress, &self.settings)
    }
}

/// The recipes of a sweep: per setting, every seed without BatchNorm, then every seed with.
pub fn recipes(settings: &[(String, Recipe)], study: &Study) -> Vec<Recipe> {
    settings
        .iter()
        .flat_map(|(_, recipe)| {
            let seeds = study.seeds_for(recipe);
            [false, true]
                .into_iter()
                .flat_map(move |bn| seeds.iter().map(move |&s| recipe.bn(bn).seed(s)))
        })
        .collect()
}

/// Trains every setting without and with BatchNorm for its seeds, all runs spread over the
/// workers.
pub fn run_pairs(study: &Study, progress: &Progress, settings: &[(String, Recipe)]) -> Vec<Pair> {
    let mut records = study
        .run_all(&recipes(settings, study), progress)
        .into_iter();
    settings
        .iter()
        .map(|(setting, recipe)| {
            let n = study.seeds_for(recipe).len();
            Pair {
                setting: setting.clone(),
                no_bn: records.by_ref().take(n).collect(),
                bn: records.by_ref().take(n).collect(),
            }
        })
        .collect()
}

/// A measurement over seeds, some of which may be missing (the run diverged, or never
/// reached a threshold).
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// The summary of the values present; `None` if there are none.
    pub summary: Option<Summary>,
    /// How many are missing.
    pub missing: usize,
    /// How many runs in all.
    pub runs: usize,
}

impl Outcome {
    /// The outcome of values that are `None` where missing.
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Outcome {
        let values: Vec<Option<f64>> = values.into_iter().collect();
        Outcome {
            summary: Summary::of(values.iter().flatten().copied()),
            missing: values.iter().filter(|v| v.is_none()).count(),
            runs: values.len(),
        }
    }

    /// A table cell of fractions as percentages: `97.12 % [96.90, 97.30]`, saying how many
    /// runs are missing and why (`what`: `diverged`, `never`).
    pub fn pct_cell(&self, what: &str) -> String {
        match (self.summary, self.missing) {
            (Some(s), 0) => pct_summary(s),
            (Some(s), k) => format!("{} ({k}/{} {what})", pct_summary(s), self.runs),
            (None, k) => format!("{what} ({k}/{})", self.runs),
        }
    }
}

/// How many runs failed (diverged or ended below 50 % validation accuracy).
pub fn failed(runs: &[RunRecord]) -> usize {
    runs.iter().filter(|r| r.failed()).count()
}

/// How many runs diverged.
pub fn diverged(runs: &[RunRecord]) -> usize {
    runs.iter().filter(|r| r.diverged.is_some()).count()
}

/// The name of a side in legends and tables.
pub fn side_name(bn: bool) -> &'static str {
    if bn {
        "with BatchNorm"
    } else {
        "without BatchNorm"
    }
}
