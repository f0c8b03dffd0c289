//! The experiments. Each one's file has its `run` (train and measure, into a serialisable
//! `Results`), its `planned` recipes (what `run` trains, for the time estimate) and its
//! `render` (plots and report section, from those results alone).

mod batch_size;
mod cnn;
mod convergence;
mod footprint;
mod init;
mod learning_rate;
mod matched;
mod measured;
mod overhead;
pub mod pairs;
pub mod paper_fig1;
mod regularization;
pub mod series;
mod stability;
mod sweep;
mod timing;
mod train_test;

use crate::cli::Named;
use crate::error::StudyError;
use crate::estimate;
use crate::report::Section;
use crate::study::Study;
use paper_fig1::PaperOptions;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// An experiment, named on the command line in kebab case (`learning-rate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Experiment {
    /// Validation accuracy and training loss against steps.
    Convergence,
    /// A sweep of the learning rate.
    LearningRate,
    /// Initial weights at 0.01x to 10x the default scale.
    Init,
    /// Divergence, loss spikes and gradient variation over learning rates x init scales.
    Stability,
    /// Batches of 2 to 256 for a fixed number of samples; LayerNorm and recalibration.
    BatchSize,
    /// Running statistics vs batch statistics, momentum, recalibration.
    TrainTest,
    /// Time, memory and parameters; BatchNorm folded.
    Overhead,
    /// Test accuracy at matched training loss against Dropout and weight decay.
    Regularization,
    /// Ioffe and Szegedy (2015), Figure 1.
    PaperFig1,
    /// PyTorch's MNIST example CNN: convergence and the usable learning-rate range.
    Cnn,
}

impl Named for Experiment {
    const NAMES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Experiment::Convergence,
            "convergence",
            "Validation accuracy and training loss against steps",
        ),
        (
            Experiment::LearningRate,
            "learning-rate",
            "A sweep of the learning rate",
        ),
        (
            Experiment::Init,
            "init",
            "Initial weights at 0.01x to 10x the default scale",
        ),
        (
            Experiment::Stability,
            "stability",
            "Divergence, loss spikes and gradient variation over learning rates x init scales",
        ),
        (
            Experiment::BatchSize,
            "batch-size",
            "Batches of 2 to 256 for a fixed number of samples; LayerNorm and recalibration",
        ),
        (
            Experiment::TrainTest,
            "train-test",
            "Running statistics vs batch statistics, momentum, recalibration",
        ),
        (
            Experiment::Overhead,
            "overhead",
            "Time, memory and parameters; BatchNorm folded",
        ),
        (
            Experiment::Regularization,
            "regularization",
            "Test accuracy at matched training loss against Dropout and weight decay",
        ),
        (
            Experiment::PaperFig1,
            "paper-fig1",
            "Ioffe and Szegedy (2015), Figure 1",
        ),
        (
            Experiment::Cnn,
            "cnn",
            "PyTorch's MNIST example CNN: convergence and the usable learning-rate range",
        ),
    ];
}

/// The results of every experiment that ran.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Experiments {
    /// `convergence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<convergence::Results>,
    /// `learning-rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<learning_rate::Results>,
    /// `init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<init::Results>,
    /// `stability`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<stability::Results>,
    /// `batch-size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<batch_size::Results>,
    /// `train-test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_test: Option<train_test::Results>,
    /// `overhead`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead: Option<overhead::Results>,
    /// `regularization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regularization: Option<regularization::Results>,
    /// `paper-fig1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_fig1: Option<paper_fig1::Results>,
    /// `cnn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnn: Option<cnn::Results>,
}

impl Experiment {
    /// The wall time `experiment` is estimated to take (see `estimate.rs`).
    pub fn estimate(self, study: &Study, paper: &PaperOptions) -> f64 {
        let data = &study.data;
        let workers = study.workers.max(1) as f64;
        let runs = |recipes: Vec<crate::recipe::Recipe>, data: &crate::data::Dataset| {
            recipes
                .iter()
                .map(|r| estimate::run_seconds(r, data))
                .sum::<f64>()
        };
        match self {
            Experiment::Convergence => runs(convergence::planned(study), data) / workers,
            Experiment::LearningRate => {
                runs(learning_rate::sweep(study).planned(study), data) / workers
            }
            Experiment::Init => runs(init::sweep(study).planned(study), data) / workers,
            Experiment::Stability => runs(stability::sweep(study).planned(study), data) / workers,
            Experiment::BatchSize => {
                let recipes = batch_size::planned(study);
                let extra = estimate::measure_seconds(&recipes, data);
                (runs(recipes, data) + extra) / workers
            }
            Experiment::TrainTest => {
                let recipes = train_test::planned(study);
                let extra = estimate::measure_seconds(&recipes, data);
                (runs(recipes, data) + extra) / workers
            }
            Experiment::Overhead => estimate::overhead_seconds(&overhead::planned(study), study),
            Experiment::Regularization => {
                let subset = data.with_train_images(study.budget.regularization_images);
                runs(regularization::planned(study), &subset) / workers
            }
            Experiment::PaperFig1 => {
                let recipes = paper_fig1::planned(study, paper);
                let extra = estimate::probe_seconds(&recipes, data);
                (runs(recipes, data) + extra) / workers
            }
            Experiment::Cnn => cnn::estimate(study),
        }
    }
}

impl Experiments {
    /// The experiments that have results, by name, in the report's order.
    pub fn names(&self) -> Vec<String> {
        let names = Experiment::NAMES.iter().filter(|&&(e, ..)| self.has(e));
        names.map(|&(_, name, _)| name.to_string()).collect()
    }

    /// Whether `experiment` has results.
    fn has(&self, experiment: Experiment) -> bool {
        match experiment {
            Experiment::Convergence => self.convergence.is_some(),
            Experiment::LearningRate => self.learning_rate.is_some(),
            Experiment::Init => self.init.is_some(),
            Experiment::Stability => self.stability.is_some(),
            Experiment::BatchSize => self.batch_size.is_some(),
            Experiment::TrainTest => self.train_test.is_some(),
            Experiment::Overhead => self.overhead.is_some(),
            Experiment::Regularization => self.regularization.is_some(),
            Experiment::PaperFig1 => self.paper_fig1.is_some(),
            Experiment::Cnn => self.cnn.is_some(),
        }
    }

    /// Takes the results of every experiment `newer` has, in place of these (`--merge`).
    pub fn replace_with(&mut self, newer: Experiments) {
        fn take<T>(old: &mut Option<T>, new: Option<T>) {
            if new.is_some() {
                *old = new;
            }
        }
        // Destructured, so that an experiment added to the struct cannot be left out here.
        let Experiments {
            convergence,
            learning_rate,
            init,
            stability,
            batch_size,
            train_test,
            overhead,
            regularization,
            paper_fig1,
            cnn,
        } = newer;
        take(&mut self.convergence, convergence);
        take(&mut self.learning_rate, learning_rate);
        take(&mut self.init, init);
        take(&mut self.stability, stability);
        take(&mut self.batch_size, batch_size);
        take(&mut self.train_test, train_test);
        take(&mut self.overhead, overhead);
        take(&mut self.regularization, regularization);
        take(&mut self.paper_fig1, paper_fig1);
        take(&mut self.cnn, cnn);
    }

    /// Runs `experiment` and keeps its results.
    pub fn run(&mut self, experiment: Experiment, study: &Study, paper: &PaperOptions) {
        match experiment {
            Experiment::Convergence => self.convergence = Some(convergence::run(study)),
            Experiment::LearningRate => {
                self.learning_rate = Some(learning_rate::sweep(study).run(study))
            }
            Experiment::Init => self.init = Some(init::sweep(study).run(study)),
            Experiment::Stability => self.stability = Some(stability::sweep(study).run(study)),
            Experiment::BatchSize => self.batch_size = Some(batch_size::run(study)),
            Experiment::TrainTest => self.train_test = Some(train_test::run(study)),
            Experiment::Overhead => self.overhead = Some(overhead::run(study)),
            Experiment::Regularization => self.regularization = Some(regularization::run(study)),
            Experiment::PaperFig1 => self.paper_fig1 = Some(paper_fig1::run(study, paper)),
            Experiment::Cnn => self.cnn = Some(cnn::run(study)),
        }
    }

    /// Writes the plots of every experiment that ran into `out` and returns their report
    /// sections, numbered in the report's order.
    pub fn render(&self, out: &Path) -> Result<Vec<Section>, StudyError> {
        let sections = [
            self.convergence
                .as_ref()
                .map(|r| convergence::render(r, out)),
            self.learning_rate
                .as_ref()
                .map(|r| learning_rate::render(r, out)),
            self.init.as_ref().map(|r| init::render(r, out)),
            self.stability.as_ref().map(|r| stability::render(r, out)),
            self.batch_size.as_ref().map(|r| batch_size::render(r, out)),
            self.train_test.as_ref().map(|r| train_test::render(r, out)),
            self.overhead.as_ref().map(|r| overhead::render(r, out)),
            self.regularization
                .as_ref()
                .map(|r| regularization::render(r, out)),
            self.paper_fig1.as_ref().map(|r| paper_fig1::render(r, out)),
            self.cnn.as_ref().map(|r| cnn::render(r, out)),
        ];
        let mut sections: Vec<Section> =
            sections.into_iter().flatten().collect::<Result<_, _>>()?;
        for (i, s) in sections.iter_mut().enumerate() {
            s.title = format!("{}. {}", i + 1, s.title);
        }
        Ok(sections)
    }
}
