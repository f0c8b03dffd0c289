//! What can go wrong reading or writing a checkpoint, each case with the file and the fault.

use std::path::PathBuf;

/// A checkpoint or weights file that could not be written, read or applied.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The operating system refused a read, write, sync or rename.
    #[error("{path}: {action} failed: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done (`"write"`, `"rename"`, ...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file ends before its header or its payload does.
    #[error(
        "{path}: truncated checkpoint: {what} needs {expected} bytes but the file has {found}"
    )]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// Which part is cut short.
        what: &'static str,
        /// Bytes needed.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file does not start with the tapegrad checkpoint magic number.
    #[error("{path}: not a tapegrad checkpoint (bad magic number {found:02x?})")]
    BadMagic {
        /// The file concerned.
        path: PathBuf,
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// The file was written by a format version this build cannot read.
    #[error("{path}: checkpoint format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file concerned.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The payload's SHA-256 differs from the header's: the file is corrupt.
    #[error("{path}: checkpoint is corrupt: payload checksum mismatch")]
    ChecksumMismatch {
        /// The file concerned.
        path: PathBuf,
    },
    /// The payload passed its checksum but could not be decoded or encoded.
    #[error("{path}: cannot {action} checkpoint payload: {message}")]
    Codec {
        /// The file concerned.
        path: PathBuf,
        /// `"decode"` or `"encode"`.
        action: &'static str,
        /// The codec's message.
        message: String,
    },
    /// A tensor in the file holds another number of values than its shape says (a corrupt
    /// or hand-made payload that passed the checksum).
    #[error("{path}: {what} `{name}` has shape {shape:?} but holds {values} values")]
    InconsistentTensor {
        /// The file concerned.
        path: PathBuf,
        /// `"parameter"` or `"buffer"`.
        what: &'static str,
        /// The PyTorch-style name.
        name: String,
        /// The shape in the file.
        shape: Vec<usize>,
        /// The number of values in the file.
        values: usize,
    },
    /// The file and the model disagree on which tensors exist.
    #[error("{path}: {what} `{name}` {problem}")]
    Mismatch {
        /// The file concerned.
        path: PathBuf,
        /// `"parameter"`, `"buffer"` or `"rng"`.
        what: &'static str,
        /// The PyTorch-style name.
        name: String,
        /// What is wrong (missing from the file, absent from the model, ...).
        problem: String,
    },
    /// A tensor's shape in the file differs from the model's.
    #[error(
        "{path}: {what} `{name}` has shape {found:?} in the file but {expected:?} in the model"
    )]
    ShapeMismatch {
        /// The file concerned.
        path: PathBuf,
        /// `"parameter"` or `"buffer"`.
        what: &'static str,
        /// The PyTorch-style name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// The run being resumed asks for other settings than the saved run had.
    #[error("{path}: cannot resume: {source}", path = .path.display())]
    SettingsMismatch {
        /// The file concerned.
        path: PathBuf,
        /// Which settings differ, each with its saved and requested value.
        source: crate::settings::SettingsError,
    },
    /// The file could not be written where it was asked to be (the error names the path).
    #[error(transparent)]
    Write(#[from] crate::io::WriteError),
}
