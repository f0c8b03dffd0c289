//! Writing files safely: the atomic write behind [`crate::checkpoint::Checkpoint::save`] and
//! [`crate::export_safetensors`], and [`check_writable`], which asks the same questions
//! before a long run so that a bad `--save` path fails at once instead of after an epoch.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("tapegrad-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("notes.txt");
//! tapegrad::io::check_writable(&path).unwrap();
//! assert!(!path.exists()); // the probe leaves nothing behind
//! tapegrad::io::write_atomic(&path, b"hello").unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), b"hello");
//! assert!(tapegrad::io::check_writable(&dir).is_err()); // a directory is not a file
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod atomic_write;
mod check;
mod temp_file;

pub use atomic_write::write_atomic;
pub use check::check_writable;

use std::path::PathBuf;

/// The longest file name the atomic write accepts, in bytes: the temporary file beside it is
/// named `.NAME.tmp-XXXXXX` (12 bytes more), and file systems limit a name to 255 bytes.
pub const MAX_NAME_BYTES: usize = NAME_MAX - TEMP_NAME_EXTRA;

/// The longest name (one path component) common Linux and macOS file systems accept.
const NAME_MAX: usize = 255;

/// The bytes the temporary file's name adds to the destination's: `.`, `.tmp-` and six
/// random characters.
const TEMP_NAME_EXTRA: usize = 1 + TEMP_SUFFIX.len() + TEMP_RANDOM_CHARS;

/// Between the destination's name and the random characters of its temporary file: the
/// temporary file is told apart from the destination (and from checkpoints) by it.
const TEMP_SUFFIX: &str = ".tmp-";

/// Random characters in a temporary file's name; a collision is retried with a new name.
const TEMP_RANDOM_CHARS: usize = 6;

/// A file that cannot be written where it was asked to be. Every variant names the
/// destination as the caller gave it (never the hidden temporary file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The path ends with `/`, which names a folder, not a file.
    #[error("{path}: ends with '/': give a file name, not a folder", path = .path.display())]
    TrailingSlash {
        /// The destination.
        path: PathBuf,
    },
    /// The path has no file name (empty, `..`, `/`).
    #[error("{path}: not a file name", path = .path.display())]
    NoFileName {
        /// The destination.
        path: PathBuf,
    },
    /// The destination (after following symlinks) exists and is not a regular file, so
    /// replacing it would destroy a device, a pipe or a folder.
    #[error("{path}: cannot write here: it is {kind}, not a regular file", path = .path.display())]
    NotRegular {
        /// The destination.
        path: PathBuf,
        /// What it is: "a directory", "a character device", "a fifo", ...
        kind: &'static str,
    },
    /// The file name is longer than a name can be once the temporary file's characters are
    /// added.
    #[error(
        "{path}: the file name is {len} bytes long; at most {max} fit (its temporary file adds {extra})",
        path = .path.display(), extra = TEMP_NAME_EXTRA
    )]
    NameTooLong {
        /// The destination.
        path: PathBuf,
        /// The name's length in bytes.
        len: usize,
        /// [`MAX_NAME_BYTES`].
        max: usize,
    },
    /// The folder the file would be written in does not exist.
    #[error("{path}: the folder {folder} does not exist", path = .path.display(), folder = .folder.display())]
    MissingFolder {
        /// The destination.
        path: PathBuf,
        /// The folder.
        folder: PathBuf,
    },
    /// What should be the file's folder is something else (a file, a device).
    #[error("{path}: {folder} is not a folder", path = .path.display(), folder = .folder.display())]
    FolderNotADirectory {
        /// The destination.
        path: PathBuf,
        /// The would-be folder.
        folder: PathBuf,
    },
    /// A chain of symlinks too long to follow (or a loop).
    #[error("{path}: too many levels of symbolic links", path = .path.display())]
    SymlinkLoop {
        /// The destination.
        path: PathBuf,
    },
    /// The operating system refused a step.
    #[error("{path}: cannot {action}: {source}", path = .path.display())]
    Io {
        /// The destination.
        path: PathBuf,
        /// The step, as a verb phrase: `"create a file in its folder"`, `"write"`, `"sync"`,
        /// `"replace it"`, `"inspect it"`, ...
        action: &'static str,
        /// The underlying error, without the temporary file's name.
        source: std::io::Error,
    },
}
