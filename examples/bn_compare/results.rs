//! `results.json`: how the study was run, and every raw number of every run. The report and
//! the plots are rendered from this alone (`--from-results` renders them again).

use crate::budget::Budget;
use crate::error::StudyError;
use crate::experiments::Experiments;
use crate::machine::Machine;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the numbers were produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// The command line that produced them.
    pub command: String,
    /// The commit, compiler and machine.
    pub machine: Machine,
    /// Wall time of the whole study, data loading included.
    pub wall_seconds: f64,
    /// The wall time estimated at the start.
    pub estimated_seconds: f64,
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Seeds per setting of runs under a minute (0, 1, ...).
    pub seeds: usize,
    /// Seeds per setting of longer runs.
    pub long_seeds: usize,
    /// Runs trained at once.
    pub workers: usize,
    /// Threads of the compute pool (what `overhead` runs on).
    pub threads: usize,
    /// Training images.
    pub train_images: usize,
    /// Validation images (the end of MNIST's training file).
    pub validation_images: usize,
    /// Test images.
    pub test_images: usize,
    /// The sizes of every experiment.
    pub budget: Budget,
}

/// A later run of some experiments merged into a study's results (`--merge`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Merged {
    /// The experiments whose results came from it (by name).
    pub experiments: Vec<String>,
    /// How it was run.
    pub meta: Meta,
}

/// Everything the study measured.
#[derive(Serialize, Deserialize)]
pub struct StudyResults {
    /// How.
    pub meta: Meta,
    /// What.
    pub experiments: Experiments,
    /// Later runs merged in, oldest first; an experiment's results come from the last run
    /// that names it, else from the run of `meta`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<Merged>,
}

impl StudyResults {
    /// Refuses to merge a run into these results if one of them is a `--quick` run and the
    /// other is not (a report would mix sizes meant for checking with measured ones).
    pub fn check_mergeable(&self, quick: bool) -> Result<(), StudyError> {
        if self.meta.quick == quick {
            return Ok(());
        }
        let (these, those) = if quick {
            ("full", "--quick")
        } else {
            ("--quick", "full")
        };
        Err(StudyError::Usage(format!(
            "--merge: the results to merge into are a {these} study's, this run is {those}"
        )))
    }

    /// `newer`'s experiments in place of these, and its run recorded in
    /// [`StudyResults::merged`]; an earlier merged run keeps only the experiments `newer`
    /// did not replace.
    pub fn merge(&mut self, newer: StudyResults) {
        let names = newer.experiments.names();
        for earlier in &mut self.merged {
            earlier.experiments.retain(|e| !names.contains(e));
        }
        self.merged.retain(|m| !m.experiments.is_empty());
        self.experiments.replace_with(newer.experiments);
        self.merged.push(Merged {
            experiments: names,
            meta: newer.meta,
        });
    }

    /// Writes `path` (pretty-printed JSON).
    pub fn save(&self, path: &Path) -> Result<(), StudyError> {
        let json = serde_json::to_string_pretty(self).expect("results serialise");
        std::fs::write(path, json).map_err(|source| StudyError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a `results.json` written by [`StudyResults::save`].
    pub fn load(path: &Path) -> Result<StudyResults, StudyError> {
        let text = std::fs::read_to_string(path).map_err(|source| StudyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| StudyError::Results {
            path: path.to_path_buf(),
            source,
        })
    }
}
