//! What every experiment is given: the data, the budget, the seeds, the workers runs are
//! spread over, and progress bars.

use crate::budget::Budget;
use crate::data::Dataset;
use crate::estimate::run_seconds;
use crate::parallel;
use crate::recipe::Recipe;
use crate::record::RunRecord;
use crate::runner::run;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Instant;

/// A run estimated to take longer than this on one core gets [`Study::long_seeds`] seeds
/// instead of all of them.
pub const LONG_RUN_SECONDS: f64 = 60.0;

/// The context of every experiment.
pub struct Study {
    /// MNIST, cut to the budget.
    pub data: Dataset,
    /// How much each experiment trains.
    pub budget: Budget,
    /// The seeds each setting is run with (runs under a minute).
    pub seeds: Vec<u64>,
    /// The seeds of runs longer than a minute: fewer, unless `--seeds` set them.
    pub long_seeds: Vec<u64>,
    /// Runs trained at once, each on one thread.
    pub workers: usize,
    /// Whether progress bars are drawn (on a terminal, not in tests).
    pub show_progress: bool,
}

impl Study {
    /// The seeds of `recipe` trained on the study's data (see [`Study::seeds_on`]).
    pub fn seeds_for(&self, recipe: &Recipe) -> &[u64] {
        self.seeds_on(recipe, &self.data)
    }

    /// The seeds of `recipe` trained on `data`: all of [`Study::seeds`] for a run estimated
    /// under [`LONG_RUN_SECONDS`] on one core, [`Study::long_seeds`] for a longer one.
    pub fn seeds_on(&self, recipe: &Recipe, data: &Dataset) -> &[u64] {
        if run_seconds(recipe, data) > LONG_RUN_SECONDS {
            &self.long_seeds
        } else {
            &self.seeds
        }
    }

    /// `f` of every item, the items spread over the workers (see [`parallel::map`]).
    pub fn map<I: Sync, T: Send>(&self, items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
        parallel::map(self.workers, items, f)
    }

    /// Trains every recipe on the study's data; the records in the order of the recipes.
    pub fn run_all(&self, recipes: &[Recipe], progress: &Progress) -> Vec<RunRecord> {
        self.map(recipes, |r| run(r, &self.data, progress).0)
    }

    /// A progress bar over the `runs` runs of experiment `name`.
    pub fn progress(&self, name: &str, runs: usize) -> Progress {
        let target = if self.show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(runs as u64), target);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:24}] {pos}/{len} runs {elapsed:>4}")
                .expect("a valid template"),
        );
        bar.set_prefix(name.to_string());
        Progress {
            bar,
            name: name.to_string(),
            started: Instant::now(),
        }
    }
}

/// The progress of one experiment.
pub struct Progress {
    /// The bar: one tick per run.
    pub bar: ProgressBar,
    name: String,
    started: Instant,
}

impl Drop for Progress {
    /// Clears the bar and leaves one line saying how long the experiment took.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        eprintln!(
            "{:>14}: {} runs in {:.0} s",
            self.name,
            self.bar.position(),
            self.started.elapsed().as_secs_f64()
        );
    }
}
