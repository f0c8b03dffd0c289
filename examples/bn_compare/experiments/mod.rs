//! The eight experiments. Each one's file has its `run` (train and measure, into a
//! serialisable `Results`) and its `render` (plots and report section, from those results
//! alone).

mod batch_size;
mod convergence;
mod init;
mod learning_rate;
mod overhead;
mod pairs;
mod paper_fig1;
mod regularization;
mod sweep;
mod timing;
mod train_test;

use crate::error::StudyError;
use crate::report::Section;
use crate::study::Study;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// An experiment, named on the command line in kebab case (`learning-rate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Experiment {
    /// Test accuracy and training loss against steps.
    Convergence,
    /// A sweep of the learning rate.
    LearningRate,
    /// Initial weights at 0.01x to 10x the default scale.
    Init,
    /// Batches of 2 to 256 for a fixed number of samples.
    BatchSize,
    /// Running statistics vs batch statistics, momentum, recalibration.
    TrainTest,
    /// Training and inference time, BatchNorm folded.
    Overhead,
    /// Train-test gap with BatchNorm, Dropout, both, neither.
    Regularization,
    /// Ioffe and Szegedy (2015), Figure 1.
    #[value(name = "paper-fig1")]
    PaperFig1,
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
}

impl Experiments {
    /// Runs `experiment` and keeps its results.
    pub fn run(&mut self, experiment: Experiment, study: &Study) {
        match experiment {
            Experiment::Convergence => self.convergence = Some(convergence::run(study)),
            Experiment::LearningRate => self.learning_rate = Some(learning_rate::run(study)),
            Experiment::Init => self.init = Some(init::run(study)),
            Experiment::BatchSize => self.batch_size = Some(batch_size::run(study)),
            Experiment::TrainTest => self.train_test = Some(train_test::run(study)),
            Experiment::Overhead => self.overhead = Some(overhead::run(study)),
            Experiment::Regularization => self.regularization = Some(regularization::run(study)),
            Experiment::PaperFig1 => self.paper_fig1 = Some(paper_fig1::run(study)),
        }
    }

    /// Writes the plots of every experiment that ran into `out` and returns their report
    /// sections, in the report's order (the order of the claims' table).
    pub fn render(&self, out: &Path) -> Result<Vec<Section>, StudyError> {
        let sections = [
            self.convergence
                .as_ref()
                .map(|r| convergence::render(r, out)),
            self.learning_rate
                .as_ref()
                .map(|r| learning_rate::render(r, out)),
            self.init.as_ref().map(|r| init::render(r, out)),
            self.batch_size.as_ref().map(|r| batch_size::render(r, out)),
            self.train_test.as_ref().map(|r| train_test::render(r, out)),
            self.overhead.as_ref().map(|r| overhead::render(r, out)),
            self.regularization
                .as_ref()
                .map(|r| regularization::render(r, out)),
            self.paper_fig1.as_ref().map(|r| paper_fig1::render(r, out)),
        ];
        sections.into_iter().flatten().collect()
    }
}
