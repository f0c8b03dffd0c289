//! SHA-256 checksums of the MNIST files, and their verification.
//!
//! The digests are of the *decompressed* files: the same data gzipped by two tools (or served
//! already decompressed by a mirror) gives different compressed bytes, but must pass.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::decompress::Decompressed;
use crate::error::DataError;
use crate::MAX_IDX_BYTES;

/// `datasets/mnist/SHA256SUMS` (the `sha256sum` format), compiled in so that a binary verifies
/// its data without the repository around it.
pub const SHA256SUMS: &str = include_str!("../../../datasets/mnist/SHA256SUMS");

/// The entries of [`SHA256SUMS`] as `(lowercase hex digest, file name)` pairs.
///
/// ```
/// let names: Vec<&str> = tapegrad_data::checksums().map(|(_, name)| name).collect();
/// assert!(names.contains(&"train-images-idx3-ubyte"));
/// ```
pub fn checksums() -> impl Iterator<Item = (&'static str, &'static str)> {
    SHA256SUMS.lines().filter_map(|line| {
        let (digest, name) = line.trim().split_once(char::is_whitespace)?;
        // `sha256sum` marks binary mode with a `*` before the name.
        let name = name.trim_start().trim_start_matches('*');
        Some((digest, name))
    })
}

/// The expected SHA-256 (lowercase hex) of the decompressed MNIST file `name`.
///
/// `name` may carry a `.gz` suffix: the digest is of the decompressed content either way.
///
/// ```
/// use tapegrad_data::expected_sha256;
/// assert_eq!(expected_sha256("t10k-labels-idx1-ubyte.gz"), expected_sha256("t10k-labels-idx1-ubyte"));
/// assert_eq!(expected_sha256("cifar-10"), None);
/// ```
pub fn expected_sha256(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    checksums()
        .find(|(_, n)| *n == name)
        .map(|(digest, _)| digest)
}

/// The SHA-256 of `bytes` as lowercase hex.
///
/// ```
/// assert_eq!(
///     tapegrad_data::sha256_hex(b""),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes).into())
}

/// The SHA-256 (lowercase hex) of the decompressed content of the file at `path`.
///
/// Gzip is detected by its magic bytes. At most [`MAX_IDX_BYTES`] plus a header's worth of
/// decompressed bytes are hashed, so a "gzip bomb" costs time but never memory.
pub fn sha256_of_file(path: impl AsRef<Path>) -> Result<String, DataError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = Decompressed::new(BufReader::new(file)).map_err(|e| DataError::io(path, e))?;
    let mut hashing = HashingReader::new((&mut reader).take(MAX_IDX_BYTES as u64 + 1024));
    match io::copy(&mut hashing, &mut io::sink()) {
        Ok(_) => Ok(hex(&hashing.finish())),
        Err(e) => Err(reader.error(path, e)),
    }
}

/// Checks that the decompressed content of `path` has the SHA-256 `expected` (hex).
pub fn verify_file(path: impl AsRef<Path>, expected: &str) -> Result<(), DataError> {
    let path = path.as_ref();
    let actual = sha256_of_file(path)?;
    check_hex(path, expected, actual)
}

/// Checks a MNIST file against [`SHA256SUMS`], looking it up by its file name.
///
/// The loader does this on every load (it costs a fraction of a second and catches a corrupt
/// local copy); this function is for checking a directory without loading it.
pub fn verify_mnist_file(path: impl AsRef<Path>) -> Result<(), DataError> {
    let path = path.as_ref();
    let expected = expected_for(path)?;
    verify_file(path, expected)
}

/// The expected digest for `path`, from its file name.
pub(crate) fn expected_for(path: &Path) -> Result<&'static str, DataError> {
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(expected_sha256)
        .ok_or_else(|| DataError::UnknownFile {
            path: path.to_path_buf(),
        })
}

/// Compares a computed digest with the expected one.
pub(crate) fn check_digest(
    path: &Path,
    expected: &str,
    actual: &[u8; 32],
) -> Result<(), DataError> {
    check_hex(path, expected, hex(actual))
}

fn check_hex(path: &Path, expected: &str, actual: String) -> Result<(), DataError> {
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: expected.trim().to_ascii_lowercase(),
            actual,
        })
    }
}

/// Lowercase hex of a digest.
pub(crate) fn hex(digest: &[u8; 32]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A reader that hashes what passes through it, so a file is decompressed, parsed and verified
/// in one pass instead of two.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The digest of every byte read so far.
    pub(crate) fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
