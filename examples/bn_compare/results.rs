//! `results.json`: how the study was run, and every raw number of every experiment. The
//! report and the plots are rendered from this alone (`--from-results` renders them again).

use crate::budget::Budget;
use crate::error::StudyError;
use crate::experiments::Experiments;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the numbers were produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// The command line that produced them.
    pub command: String,
    /// Wall time of the whole study, data loading included.
    pub wall_seconds: f64,
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Seeds per setting (0, 1, ...).
    pub seeds: usize,
    /// Worker threads of the compute pool.
    pub threads: usize,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the study started.
    pub load_average_start: String,
    /// `/proc/loadavg` when it ended.
    pub load_average_end: String,
    /// Training images available to the experiments.
    pub train_images: usize,
    /// Test images every accuracy is measured on.
    pub test_images: usize,
    /// The sizes of every experiment.
    pub budget: Budget,
}

/// Everything the study measured.
#[derive(Serialize, Deserialize)]
pub struct StudyResults {
    /// How.
    pub meta: Meta,
    /// What.
    pub experiments: Experiments,
}

impl StudyResults {
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

/// The load averages of the machine, as `/proc/loadavg` gives them (`unknown` elsewhere).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}
