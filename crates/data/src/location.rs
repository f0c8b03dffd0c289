//! Where the MNIST files are looked for.
//!
//! In order: a directory given explicitly (the CLI's `--data DIR`), the `MNIST_DIR`
//! environment variable, then `datasets/mnist/` under the current directory. Only the last one
//! is ever downloaded into: a directory the user named is theirs, and a missing file there is
//! an error rather than a surprise download.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable naming a directory that holds the MNIST files.
pub const MNIST_DIR_ENV: &str = "MNIST_DIR";

/// The default directory, relative to the current directory (the workspace root when run with
/// `cargo run` from there).
pub const DEFAULT_MNIST_DIR: &str = "datasets/mnist";

/// Who chose the MNIST directory; decides whether missing files may be downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Given explicitly by the caller (e.g. the `--data` flag). Never downloaded into.
    Explicit,
    /// Taken from the `MNIST_DIR` environment variable. Never downloaded into.
    Env,
    /// The default `datasets/mnist/`. Missing files are downloaded here.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Explicit => write!(f, "--data"),
            Origin::Env => write!(f, "the {MNIST_DIR_ENV} environment variable"),
            Origin::Default => write!(f, "the default location {DEFAULT_MNIST_DIR}/"),
        }
    }
}

/// A directory for the MNIST files and who chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistLocation {
    /// The directory.
    pub dir: PathBuf,
    /// Who chose it.
    pub origin: Origin,
}

impl MnistLocation {
    /// Resolves the directory: `explicit` if given, else `$MNIST_DIR` if set and non-empty,
    /// else `datasets/mnist`.
    ///
    /// ```
    /// use std::path::Path;
    /// use tapegrad_data::{MnistLocation, Origin};
    /// let location = MnistLocation::resolve(Some(Path::new("/data/mnist")));
    /// assert_eq!(location.origin, Origin::Explicit);
    /// ```
    pub fn resolve(explicit: Option<&Path>) -> MnistLocation {
        Self::resolve_with(explicit, std::env::var_os(MNIST_DIR_ENV))
    }

    /// [`MnistLocation::resolve`] with the value of `MNIST_DIR` passed in, so the order can be
    /// tested without touching the process environment.
    ///
    /// ```
    /// use tapegrad_data::{MnistLocation, Origin};
    /// let location = MnistLocation::resolve_with(None, Some("/srv/mnist".into()));
    /// assert_eq!((location.dir.to_str(), location.origin), (Some("/srv/mnist"), Origin::Env));
    /// let location = MnistLocation::resolve_with(None, Some("".into()));
    /// assert_eq!(location.origin, Origin::Default);
    /// ```
    pub fn resolve_with(explicit: Option<&Path>, env: Option<OsString>) -> MnistLocation {
        if let Some(dir) = explicit {
            return MnistLocation {
                dir: dir.to_path_buf(),
                origin: Origin::Explicit,
            };
        }
        // An empty variable (`MNIST_DIR= cargo run`) means "not set", not "the current directory".
        if let Some(dir) = env.filter(|dir| !dir.is_empty()) {
            return MnistLocation {
                dir: PathBuf::from(dir),
                origin: Origin::Env,
            };
        }
        MnistLocation {
            dir: PathBuf::from(DEFAULT_MNIST_DIR),
            origin: Origin::Default,
        }
    }

    /// Whether missing files may be downloaded into this directory.
    pub fn may_download(&self) -> bool {
        self.origin == Origin::Default
    }
}
