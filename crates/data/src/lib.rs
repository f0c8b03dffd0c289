//! MNIST for tapegrad: IDX reading, a verified local copy or download, and seeded batches.
//!
//! ```no_run
//! use tapegrad_data::{BatchConfig, Mnist};
//!
//! // `--data DIR` if given, else $MNIST_DIR, else datasets/mnist/ (downloaded if missing).
//! let mnist = Mnist::load(None)?;
//! let mut batches = mnist.train.batches(BatchConfig::shuffled(64, 0).drop_last(true));
//! for epoch in 0..2 {
//!     batches.set_epoch(epoch);
//!     while let Some(batch) = batches.next_batch() {
//!         // batch.images: &[f32] of batch.len() * 784 normalized pixels; batch.labels: &[usize]
//!     }
//! }
//! # Ok::<(), tapegrad_data::DataError>(())
//! ```
//!
//! The pieces, one file each: [`read_idx`] and [`parse_idx`] (the IDX format, raw or gzip),
//! [`Mnist`] and [`Split`] (the four files, checked), [`MnistLocation`] (where they are looked
//! for), [`verify_mnist_file`] (SHA-256 of the decompressed data), [`download_file`] (mirrors,
//! atomic and verified), [`Batches`] (shuffling and normalization), and [`DataError`].

#![warn(missing_docs)]

mod batches;
mod checksum;
mod decompress;
mod download;
mod error;
mod idx;
mod location;
mod mnist;

pub use batches::{epoch_order, Batch, BatchConfig, Batches, Normalization, Order};
pub use checksum::{
    checksums, expected_sha256, sha256_hex, sha256_of_file, verify_file, verify_mnist_file,
    SHA256SUMS,
};
pub use download::{download_file, download_verified, MIRRORS};
pub use error::{DataError, MirrorAttempt};
pub use idx::{parse_idx, read_idx, IdxArray, MAX_IDX_BYTES};
pub use location::{MnistLocation, Origin, DEFAULT_MNIST_DIR, MNIST_DIR_ENV};
pub use mnist::{find_mnist_file, Mnist, Split, MNIST_FILES, NUM_CLASSES};
