//! The MNIST data set: four IDX files, checked and kept as bytes.
//!
//! Images stay `u8` in memory (47 MB for the training set instead of 188 MB of `f32`);
//! [`crate::Batches`] normalizes them on the fly into a reused buffer.

use std::path::{Path, PathBuf};

use crate::batches::{BatchConfig, Batches};
use crate::checksum::check_digest;
use crate::download::{download_file, MIRRORS};
use crate::error::DataError;
use crate::idx::{read_idx_with_digest, IdxArray};
use crate::location::MnistLocation;

/// The four MNIST files by their decompressed names; each may also be stored as `NAME.gz`.
pub const MNIST_FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The number of classes (digits 0 to 9); every label is below it.
pub const NUM_CLASSES: usize = 10;

/// One part of MNIST (training or test): images and their labels.
///
/// Invariant: `images.len() == labels.len() * rows * cols`, and every label is below
/// [`NUM_CLASSES`]. The loader and [`Split::new`] guarantee it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Pixels, image after image, row-major, 0 (background) to 255 (ink).
    pub images: Vec<u8>,
    /// One digit per image.
    pub labels: Vec<u8>,
    /// Image height (28 for MNIST).
    pub rows: usize,
    /// Image width (28 for MNIST).
    pub cols: usize,
}

impl Split {
    /// Builds a split from pixels and labels, e.g. a small synthetic one for a test.
    ///
    /// # Panics
    /// If `images.len() != labels.len() * rows * cols` or a label is not below [`NUM_CLASSES`].
    ///
    /// ```
    /// let split = tapegrad_data::Split::new(vec![0, 255, 128, 64], vec![3, 7], 1, 2);
    /// assert_eq!(split.len(), 2);
    /// assert_eq!(split.image(1), &[128, 64]);
    /// ```
    pub fn new(images: Vec<u8>, labels: Vec<u8>, rows: usize, cols: usize) -> Split {
        assert_eq!(
            Some(images.len()),
            labels
                .len()
                .checked_mul(rows)
                .and_then(|n| n.checked_mul(cols)),
            "{} pixels cannot be {} images of {rows}x{cols}",
            images.len(),
            labels.len(),
        );
        if let Some(label) = labels.iter().find(|&&l| usize::from(l) >= NUM_CLASSES) {
            panic!("label {label} is not below {NUM_CLASSES}");
        }
        Split {
            images,
            labels,
            rows,
            cols,
        }
    }

    /// Checks and assembles a split from an image array (rank 3: count, rows, cols) and a label
    /// array (rank 1); the paths name the files in errors.
    pub fn from_idx(
        images: IdxArray,
        labels: IdxArray,
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<Split, DataError> {
        let &[count, rows, cols] = images.dims.as_slice() else {
            return Err(DataError::WrongRank {
                path: images_path.to_path_buf(),
                what: "images",
                expected: 3,
                found: images.rank(),
            });
        };
        if labels.rank() != 1 {
            return Err(DataError::WrongRank {
                path: labels_path.to_path_buf(),
                what: "labels",
                expected: 1,
                found: labels.rank(),
            });
        }
        if labels.data.len() != count {
            return Err(DataError::CountMismatch {
                images_path: images_path.to_path_buf(),
                images: count,
                labels_path: labels_path.to_path_buf(),
                labels: labels.data.len(),
            });
        }
        if let Some((index, &value)) = labels
            .data
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= NUM_CLASSES)
        {
            return Err(DataError::LabelOutOfRange {
                path: labels_path.to_path_buf(),
                index,
                value,
            });
        }
        Ok(Split {
            images: images.data,
            labels: labels.data,
            rows,
            cols,
        })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image (`rows * cols`, 784 for MNIST).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `index`.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn image(&self, index: usize) -> &[u8] {
        let n = self.pixels_per_image();
        &self.images[index * n..(index + 1) * n]
    }

    /// Batches over this split; see [`BatchConfig`] for order, last batch and normalization.
    pub fn batches(&self, config: BatchConfig) -> Batches<'_> {
        Batches::new(self, config)
    }
}

/// The MNIST training (60,000) and test (10,000) sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// The 60,000 training samples.
    pub train: Split,
    /// The 10,000 test samples.
    pub test: Split,
}

impl Mnist {
    /// Loads MNIST from `explicit` (e.g. `--data DIR`), else `$MNIST_DIR`, else
    /// `datasets/mnist/` (downloading missing files there from [`MIRRORS`]).
    ///
    /// Every file's decompressed SHA-256 is checked against `datasets/mnist/SHA256SUMS`.
    ///
    /// ```no_run
    /// let mnist = tapegrad_data::Mnist::load(None)?;
    /// assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    /// # Ok::<(), tapegrad_data::DataError>(())
    /// ```
    pub fn load(explicit: Option<&Path>) -> Result<Mnist, DataError> {
        Self::load_from(&MnistLocation::resolve(explicit))
    }

    /// Loads MNIST from a resolved location, downloading from [`MIRRORS`] if it is the default
    /// one and files are missing.
    pub fn load_from(location: &MnistLocation) -> Result<Mnist, DataError> {
        Self::load_with_mirrors(location, &MIRRORS)
    }

    /// [`Mnist::load_from`] with the list of mirror base URLs given (tried in order).
    pub fn load_with_mirrors(
        location: &MnistLocation,
        mirrors: &[&str],
    ) -> Result<Mnist, DataError> {
        let dir = &location.dir;
        check_directory(location)?;
        let missing: Vec<&str> = MNIST_FILES
            .into_iter()
            .filter(|name| find_mnist_file(dir, name).is_none())
            .collect();
        if !missing.is_empty() {
            if !location.may_download() {
                return Err(DataError::MissingFiles {
                    dir: dir.clone(),
                    origin: location.origin.to_string(),
                    missing: missing.iter().map(|name| format!("{name}[.gz]")).collect(),
                });
            }
            std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
            for name in missing {
                download_file(dir, name, mirrors)?;
            }
        }
        load_splits(dir, std::thread::Builder::new())
    }
}

/// Loads both splits from `dir`, the test split on a thread made by `thread` (a parameter so
/// a test can make the spawn fail).
fn load_splits(dir: &Path, thread: std::thread::Builder) -> Result<Mnist, DataError> {
    // The two splits are independent: decompress them on two threads.
    let (train, test) = std::thread::scope(|scope| {
        let test = thread
            .name("mnist-test-split".into())
            .spawn_scoped(scope, || load_split(dir, TEST_IMAGES, TEST_LABELS))
            .map_err(|source| DataError::Spawn {
                what: format!("load the MNIST test split from {}", dir.display()),
                source,
            })?;
        let train = load_split(dir, TRAIN_IMAGES, TRAIN_LABELS);
        // `load_split` returns its errors and does not panic; a panic would be a bug, and
        // is passed on as one.
        let test = test
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok::<_, DataError>((train, test))
    })?;
    Ok(Mnist {
        train: train?,
        test: test?,
    })
}

/// Refuses a location that is a file, or a directory whose files cannot be looked up,
/// with its own error: both used to be reported as "MNIST files missing", which sends the
/// user looking for files that are there. A directory that does not exist is left to the
/// missing-files check (the default one is created and downloaded into).
fn check_directory(location: &MnistLocation) -> Result<(), DataError> {
    let dir = &location.dir;
    let not_a_directory = || DataError::NotADirectory {
        path: dir.clone(),
        origin: location.origin.to_string(),
    };
    let unreadable = |source| DataError::UnreadableDirectory {
        path: dir.clone(),
        origin: location.origin.to_string(),
        source,
    };
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => return Err(not_a_directory()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Err(not_a_directory()),
        Err(e) => return Err(unreadable(e)),
    }
    // Looking up `.` inside needs the right to search the directory, as looking up the
    // files does; listing it (the read right) is not needed.
    std::fs::metadata(dir.join("."))
        .map(drop)
        .map_err(unreadable)
}

/// The path of MNIST file `name` in `dir`: `NAME.gz` if present, else `NAME`, else `None`.
pub fn find_mnist_file(dir: impl AsRef<Path>, name: &str) -> Option<PathBuf> {
    let dir = dir.as_ref();
    [dir.join(format!("{name}.gz")), dir.join(name)]
        .into_iter()
        .find(|path| path.is_file())
}

fn load_split(dir: &Path, images: &str, labels: &str) -> Result<Split, DataError> {
    let (images_path, images) = load_verified(dir, images, (3, "images"))?;
    let (labels_path, labels) = load_verified(dir, labels, (1, "labels"))?;
    Split::from_idx(images, labels, &images_path, &labels_path)
}

/// Reads one MNIST file, refusing another rank than `rank` before reading its dimensions,
/// and checks its SHA-256 against the embedded list.
fn load_verified(
    dir: &Path,
    name: &str,
    rank: (usize, &'static str),
) -> Result<(PathBuf, IdxArray), DataError> {
    let path = find_mnist_file(dir, name).unwrap_or_else(|| dir.join(format!("{name}.gz")));
    let expected = crate::expected_sha256(name)
        .ok_or_else(|| DataError::UnknownFile { path: path.clone() })?;
    let (array, digest) = read_idx_with_digest(&path, Some(rank))?;
    check_digest(&path, expected, &digest)?;
    Ok((path, array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_cannot_start_is_an_error_saying_what_it_was_for() {
        let dir = tempfile::tempdir().unwrap();
        // No machine has an exbibyte for a stack: the spawn fails as it does at the
        // system's thread limit ("Resource temporarily unavailable").
        let thread = std::thread::Builder::new().stack_size(1 << 60);
        let err = load_splits(dir.path(), thread).unwrap_err();
        let DataError::Spawn { what, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(
            what,
            &format!("load the MNIST test split from {}", dir.path().display())
        );
        assert!(
            err.to_string()
                .starts_with("could not start a thread to load the MNIST test split from "),
            "{err}"
        );
    }
}
