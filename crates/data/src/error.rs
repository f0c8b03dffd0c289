//! The one error type of the crate.
//!
//! Every variant names the file (or directory) it is about, because "unexpected end of file"
//! without a path is useless when four files are loaded at once, and every variant that a user
//! can fix by hand says how.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong while reading IDX files, loading MNIST or downloading it.
///
/// New variants may be added: match with a `_` arm.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file ended before its IDX header (4 magic bytes, then 4 bytes per dimension) did.
    #[error("{}: IDX header is truncated: needed {needed} bytes, the file has {found}", .path.display())]
    ShortHeader {
        /// The file.
        path: PathBuf,
        /// Header bytes the magic number promised.
        needed: usize,
        /// Bytes actually present.
        found: usize,
    },

    /// The first two bytes of an IDX file must be zero.
    #[error(
        "{}: not an IDX file: magic is {:02x} {:02x} {:02x} {:02x}, expected 00 00 <type> <rank>",
        .path.display(), .magic[0], .magic[1], .magic[2], .magic[3]
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The four bytes found where the magic number should be.
        magic: [u8; 4],
    },

    /// The IDX element type is not `0x08` (unsigned byte), the only one MNIST uses.
    #[error(
        "{}: unsupported IDX element type 0x{type_code:02x} (only 0x08, unsigned byte, is supported)",
        .path.display()
    )]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The type byte of the magic number.
        type_code: u8,
    },

    /// The array has the wrong number of dimensions for what it is used as.
    #[error("{}: expected a rank-{expected} IDX array ({what}), found rank {found}", .path.display())]
    WrongRank {
        /// The file.
        path: PathBuf,
        /// What the file was expected to hold ("images", "labels").
        what: &'static str,
        /// The rank required.
        expected: usize,
        /// The rank in the header.
        found: usize,
    },

    /// The product of the dimensions does not fit in a machine word.
    #[error("{}: IDX dimensions {dims:?} overflow when multiplied", .path.display())]
    DimensionOverflow {
        /// The file.
        path: PathBuf,
        /// The dimensions in the header.
        dims: Vec<usize>,
    },

    /// The header claims more data than this reader will ever allocate for one file.
    #[error(
        "{}: IDX header claims {claimed} bytes of data, more than the {limit}-byte limit \
         (a corrupt or hostile header?)",
        .path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes the header claims.
        claimed: usize,
        /// The limit ([`crate::MAX_IDX_BYTES`]).
        limit: usize,
    },

    /// The payload is shorter than the header's dimensions say.
    #[error(
        "{}: IDX payload is truncated: the {} needs {expected} bytes, the file has {found}",
        .path.display(), Header(.dims)
    )]
    TruncatedPayload {
        /// The file.
        path: PathBuf,
        /// The dimensions in the header.
        dims: Vec<usize>,
        /// Payload bytes the header requires.
        expected: usize,
        /// Payload bytes present.
        found: usize,
    },

    /// There are bytes after the payload the header describes.
    #[error(
        "{}: trailing data after the IDX payload: the {} describes {expected} bytes, \
         the file has more",
        .path.display(), Header(.dims)
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// The dimensions in the header.
        dims: Vec<usize>,
        /// Payload bytes the header describes.
        expected: usize,
    },

    /// The file starts like gzip but does not decompress.
    #[error("{}: corrupt gzip stream: {source}", .path.display())]
    CorruptGzip {
        /// The file.
        path: PathBuf,
        /// What the decompressor said.
        source: io::Error,
    },

    /// An image file and its label file disagree on the number of samples.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        .images_path.display(), .labels_path.display()
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Number of images.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Number of labels.
        labels: usize,
    },

    /// A label is not a digit.
    #[error("{}: label #{index} is {value}, but MNIST labels are 0..=9", .path.display())]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// Position of the first bad label.
        index: usize,
        /// Its value.
        value: u8,
    },

    /// The SHA-256 of the decompressed file is not the one in `datasets/mnist/SHA256SUMS`.
    #[error(
        "{}: SHA-256 of the decompressed data is {actual}, expected {expected} \
         (the file is corrupt or not the MNIST file of that name: delete it and place or \
         download it again)",
        .path.display()
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Digest from the checksum list (lowercase hex).
        expected: String,
        /// Digest of what was read (lowercase hex).
        actual: String,
    },

    /// A file name has no entry in the checksum list.
    #[error("{}: no SHA-256 is known for a file of this name", .path.display())]
    UnknownFile {
        /// The file.
        path: PathBuf,
    },

    /// MNIST files are missing from a directory the user chose (so nothing is downloaded there).
    #[error(
        "MNIST files missing in {} (chosen by {origin}): {}. {}",
        .dir.display(), .missing.join(", "), PlaceByHand(.dir)
    )]
    MissingFiles {
        /// The directory searched.
        dir: PathBuf,
        /// Who chose it, e.g. "--data" or "the MNIST_DIR environment variable".
        origin: String,
        /// Files not found (under either their `.gz` or their decompressed name).
        missing: Vec<String>,
    },

    /// The MNIST location is a file (or under one), not a directory.
    #[error(
        "{} (chosen by {origin}) is not a directory: point it at the directory that holds the \
         MNIST files",
        .path.display()
    )]
    NotADirectory {
        /// The path given.
        path: PathBuf,
        /// Who chose it, e.g. "--data".
        origin: String,
    },

    /// The MNIST directory exists but its files cannot be looked up (no permission to
    /// search it, or another error than "not found").
    #[error("cannot read the MNIST directory {} (chosen by {origin}): {source}", .path.display())]
    UnreadableDirectory {
        /// The directory.
        path: PathBuf,
        /// Who chose it, e.g. "--data".
        origin: String,
        /// What the operating system said.
        source: io::Error,
    },

    /// A thread could not be started (the system's thread or memory limit was reached).
    #[error("could not start a thread to {what}: {source}")]
    Spawn {
        /// What the thread was for.
        what: String,
        /// What the operating system said.
        source: io::Error,
    },

    /// Every mirror failed for one file.
    #[error(
        "could not download {file} into {}; tried:\n{}{}",
        .dir.display(), Attempts(.attempts), PlaceByHand(.dir)
    )]
    DownloadFailed {
        /// The file name (as on the mirrors).
        file: String,
        /// The directory it was to be written to.
        dir: PathBuf,
        /// Every mirror tried, in order, with what went wrong.
        attempts: Vec<MirrorAttempt>,
    },

    /// Any other I/O error, with the path it happened on.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// One failed try to fetch a file from one mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorAttempt {
    /// The full URL requested.
    pub url: String,
    /// What went wrong (connection, HTTP status, checksum, ...).
    pub error: String,
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An IDX header as its rank and dimensions, with a zero dimension pointed out: a header
/// whose rank byte is wrong reads payload bytes (often 0) as dimensions, and "describes 0
/// bytes" alone does not say why.
struct Header<'a>(&'a [usize]);

impl fmt::Display for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rank-{} header {:?}", self.0.len(), self.0)?;
        if let Some(zero) = self.0.iter().position(|&d| d == 0) {
            write!(f, " (dimension {} is 0: is the rank byte right?)", zero + 1)?;
        }
        Ok(())
    }
}

/// Formats the mirror attempts one per line for [`DataError::DownloadFailed`].
struct Attempts<'a>(&'a [MirrorAttempt]);

impl fmt::Display for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return writeln!(f, "  (no mirror was given)");
        }
        for attempt in self.0 {
            writeln!(f, "  {}: {}", attempt.url, attempt.error)?;
        }
        Ok(())
    }
}

/// The instructions every "the files are not there" message ends with.
struct PlaceByHand<'a>(&'a Path);

impl fmt::Display for PlaceByHand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "To place the files by hand, download {} (or their decompressed versions) from one of \
             {} and put them in {}, or point {} (or --data) at a directory that holds them; \
             see datasets/mnist/README.md",
            crate::MNIST_FILES
                .iter()
                .map(|name| format!("{name}.gz"))
                .collect::<Vec<_>>()
                .join(", "),
            crate::MIRRORS.join(" "),
            self.0.display(),
            crate::MNIST_DIR_ENV,
        )
    }
}
