//! Why the study could not run or write its outputs.

use std::path::PathBuf;

/// A failure of the study, naming what and where.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The command line asks for something the study cannot do.
    #[error("{0}")]
    Usage(String),
    /// MNIST could not be loaded.
    #[error("cannot load MNIST: {0}")]
    Data(#[from] tapegrad::data::DataError),
    /// An output file or folder could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `--from-results` named a file that could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `--from-results` named a file that is not this study's results.json.
    #[error("{path} is not a results.json of bn_compare: {source}")]
    Results {
        /// The file.
        path: PathBuf,
        /// What did not parse.
        source: serde_json::Error,
    },
    /// plotters could not draw a chart.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The SVG being drawn.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}
