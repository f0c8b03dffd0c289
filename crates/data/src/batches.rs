//! Mini-batches over a [`Split`]: seeded per-epoch shuffling and on-the-fly normalization.
//!
//! The order of epoch `e` is a function of `(seed, e)` only, never of the epochs before it, so
//! a run resumed at epoch `e` from a checkpoint sees exactly the batches the uninterrupted run
//! would have. Pixels stay `u8` in the split and are normalized into one `f32` buffer that is
//! reused by every batch: no allocation per batch.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tapegrad_kernels::multiversion;
use tapegrad_kernels::{for_each_chunk_mut, threads};

use crate::mnist::Split;

/// How pixels become network inputs: `(pixel / 255 - mean) / std`, in `f32`.
///
/// This is what PyTorch's `ToTensor()` followed by `Normalize((mean,), (std,))` computes, so a
/// model trained here sees the same inputs as its PyTorch twin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    /// Subtracted after scaling to `[0, 1]`.
    pub mean: f32,
    /// Divided by after subtracting the mean.
    pub std: f32,
}

impl Normalization {
    /// The mean (0.1307) and standard deviation (0.3081) of the MNIST training pixels scaled to
    /// `[0, 1]`: the constants of PyTorch's MNIST example, giving inputs of mean 0 and std 1.
    pub const MNIST: Normalization = Normalization {
        mean: 0.1307,
        std: 0.3081,
    };

    /// Only scales to `[0, 1]` (`pixel / 255`).
    pub const UNIT: Normalization = Normalization {
        mean: 0.0,
        std: 1.0,
    };

    /// The normalized value of one pixel.
    ///
    /// ```
    /// use tapegrad_data::Normalization;
    /// assert_eq!(Normalization::UNIT.apply(255), 1.0);
    /// assert!((Normalization::MNIST.apply(0) - (-0.1307 / 0.3081)).abs() < 1e-6);
    /// ```
    #[inline]
    pub fn apply(&self, pixel: u8) -> f32 {
        // Same operations in the same order as PyTorch, so the f32 results match bit for bit.
        (f32::from(pixel) / 255.0 - self.mean) / self.std
    }
}

impl Default for Normalization {
    /// [`Normalization::MNIST`].
    fn default() -> Self {
        Normalization::MNIST
    }
}

/// The order in which an epoch visits the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Sample 0, 1, 2, ... every epoch (evaluation).
    Sequential,
    /// A permutation drawn from `(seed, epoch)` (training).
    Shuffled {
        /// The run's data seed.
        seed: u64,
    },
}

/// How to cut a split into batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchConfig {
    /// Samples per batch (the last one may be smaller unless `drop_last`).
    pub batch_size: usize,
    /// Sequential or shuffled.
    pub order: Order,
    /// Whether to skip a final batch smaller than `batch_size`. Useful with BatchNorm, where a
    /// final batch of one sample cannot be normalized in training mode.
    pub drop_last: bool,
    /// Pixel normalization.
    pub normalization: Normalization,
}

impl BatchConfig {
    /// In-order batches, keeping the last partial one, with [`Normalization::MNIST`]: what
    /// evaluating on the test set wants.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn sequential(batch_size: usize) -> BatchConfig {
        assert!(batch_size > 0, "batch_size must be at least 1");
        BatchConfig {
            batch_size,
            order: Order::Sequential,
            drop_last: false,
            normalization: Normalization::MNIST,
        }
    }

    /// Batches in a per-epoch order drawn from `seed`, keeping the last partial one, with
    /// [`Normalization::MNIST`].
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn shuffled(batch_size: usize, seed: u64) -> BatchConfig {
        BatchConfig {
            order: Order::Shuffled { seed },
            ..BatchConfig::sequential(batch_size)
        }
    }

    /// Sets whether a final batch smaller than `batch_size` is skipped.
    pub fn drop_last(self, drop_last: bool) -> BatchConfig {
        BatchConfig { drop_last, ..self }
    }

    /// Sets the pixel normalization.
    pub fn normalization(self, normalization: Normalization) -> BatchConfig {
        BatchConfig {
            normalization,
            ..self
        }
    }
}

/// One batch, borrowed from the [`Batches`] that made it.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'b> {
    /// Normalized pixels, `len() * rows * cols` values, image after image.
    pub images: &'b [f32],
    /// The digit of each image.
    pub labels: &'b [usize],
    /// The position of each image in the split.
    pub indices: &'b [usize],
}

impl Batch<'_> {
    /// The number of samples in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch has no samples (never true for a batch returned by [`Batches`]).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A lending iterator of batches over a split, one epoch at a time.
///
/// ```
/// use tapegrad_data::{BatchConfig, Split};
/// let split = Split::new(vec![0; 5 * 4], vec![0, 1, 2, 3, 4], 2, 2);
/// let mut batches = split.batches(BatchConfig::shuffled(2, 42));
/// for epoch in 0..3 {
///     batches.set_epoch(epoch);
///     let mut seen = 0;
///     while let Some(batch) = batches.next_batch() {
///         assert_eq!(batch.images.len(), batch.len() * 4);
///         seen += batch.len();
///     }
///     assert_eq!(seen, 5);
/// }
/// assert_eq!(batches.batches_per_epoch(), 3);
/// ```
#[derive(Debug)]
pub struct Batches<'a> {
    split: &'a Split,
    config: BatchConfig,
    epoch: usize,
    /// This epoch's sample order, and how much of it has been handed out.
    order: Vec<usize>,
    position: usize,
    /// Buffers reused by every batch.
    images: Vec<f32>,
    labels: Vec<usize>,
}

impl<'a> Batches<'a> {
    /// Batches over `split`, positioned at the start of epoch 0.
    ///
    /// # Panics
    /// If `config.batch_size` is 0.
    pub fn new(split: &'a Split, config: BatchConfig) -> Batches<'a> {
        assert!(config.batch_size > 0, "batch_size must be at least 1");
        // A batch never holds more than the split, whatever batch_size says.
        let capacity = config.batch_size.min(split.len());
        let mut batches = Batches {
            split,
            config,
            epoch: 0,
            order: Vec::with_capacity(split.len()),
            position: 0,
            images: vec![0.0; capacity * split.pixels_per_image()],
            labels: vec![0; capacity],
        };
        batches.set_epoch(0);
        batches
    }

    /// Starts epoch `epoch` from its first batch, in that epoch's order.
    pub fn set_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.position = 0;
        match self.config.order {
            Order::Sequential => fill_sequential(&mut self.order, self.split.len()),
            Order::Shuffled { seed } => {
                fill_epoch_order(&mut self.order, self.split.len(), seed, epoch)
            }
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The current epoch's sample order (positions in the split).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The number of batches [`Batches::next_batch`] returns per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (len, size) = (self.split.len(), self.config.batch_size);
        if self.config.drop_last {
            len / size
        } else {
            len.div_ceil(size)
        }
    }

    /// The next batch of this epoch, or `None` once the epoch is done (then call
    /// [`Batches::set_epoch`] for the next one).
    pub fn next_batch(&mut self) -> Option<Batch<'_>> {
        let start = self.position;
        let n = (self.order.len() - start).min(self.config.batch_size);
        if n == 0 || (self.config.drop_last && n < self.config.batch_size) {
            return None;
        }
        self.position += n;

        let pixels = self.split.pixels_per_image();
        let indices = &self.order[start..start + n];
        let (split, normalization) = (self.split, self.config.normalization);
        // Whole images per task: a share of the batch per thread, but none so small that
        // handing it to another core costs more than converting it.
        let per_task = n
            .div_ceil(threads())
            .max(MIN_TASK_PIXELS.div_ceil(pixels.max(1)));
        let images = &mut self.images[..n * pixels];
        for_each_chunk_mut(images, per_task * pixels.max(1), |task, chunk| {
            let mine = &indices[task * per_task..][..chunk.len() / pixels];
            touch_cache_lines(split, mine);
            for (image, &index) in chunk.chunks_exact_mut(pixels).zip(mine) {
                normalize_pixels(image, split.image(index), normalization);
            }
        });
        for (label, &index) in self.labels.iter_mut().zip(indices) {
            *label = usize::from(split.labels[index]);
        }
        Some(Batch {
            images: &self.images[..n * pixels],
            labels: &self.labels[..n],
            indices,
        })
    }
}

/// The fewest pixels worth a task of their own when a batch is converted in parallel (about
/// 21 MNIST images, some 8 µs of work; handing a task to the other core costs about 1 µs).
const MIN_TASK_PIXELS: usize = 1 << 14;

/// Reads one byte of every cache line of the images at `indices`, before any is converted.
///
/// A shuffled batch's images lie scattered over the whole split (MNIST's 47 MB of training
/// pixels, far beyond the caches). Converted one after the other, they keep about one
/// image's cache misses in flight at a time; these loads depend on nothing, so the core
/// issues the whole batch's at once and the conversion then finds its pixels cached.
/// (Batch of 128 shuffled MNIST images, conversion included: 77 µs without this pass, 52
/// with it.)
fn touch_cache_lines(split: &Split, indices: &[usize]) {
    const CACHE_LINE: usize = 64;
    let mut seen = 0u8;
    for &index in indices {
        let image = split.image(index);
        // The last byte too: an image that starts late in a line ends in one more.
        for &byte in image.iter().step_by(CACHE_LINE).chain(image.last()) {
            seen ^= byte;
        }
    }
    // Otherwise the compiler would drop loads whose values nothing uses.
    std::hint::black_box(seen);
}

multiversion! {
    /// `out[i] = normalization.apply(pixels[i])`, compiled for the CPU's widest vectors: the
    /// same IEEE operations as [`Normalization::apply`] in the same order, so the same bits,
    /// at eight pixels per instruction with AVX2 (twice as fast as looking each pixel up in
    /// a 256-entry table, which cannot be vectorised).
    fn normalize_pixels(out: &mut [f32], pixels: &[u8], normalization: Normalization) {
        for (x, &pixel) in out.iter_mut().zip(pixels) {
            *x = normalization.apply(pixel);
        }
    }
}

/// The order in which epoch `epoch` of a shuffled run with `seed` visits `len` samples.
///
/// ```
/// use tapegrad_data::epoch_order;
/// assert_eq!(epoch_order(1000, 7, 3), epoch_order(1000, 7, 3));
/// assert_ne!(epoch_order(1000, 7, 3), epoch_order(1000, 7, 4));
/// ```
pub fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = Vec::with_capacity(len);
    fill_epoch_order(&mut order, len, seed, epoch);
    order
}

fn fill_sequential(order: &mut Vec<usize>, len: usize) {
    order.clear();
    order.extend(0..len);
}

/// Fisher-Yates from the identity, driven by ChaCha8 keyed by `seed` on stream `epoch`.
///
/// The key is `seed` in little-endian followed by zeros and the shuffle draws its bounded
/// integers itself (Lemire's method on `next_u64`) instead of using `rand`'s helpers, whose
/// algorithms may change between `rand` versions: a checkpoint's data order must survive a
/// dependency upgrade.
fn fill_epoch_order(order: &mut Vec<usize>, len: usize, seed: u64, epoch: usize) {
    fill_sequential(order, len);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key);
    // The stream is a u64 on every platform, so the order does not depend on usize's width.
    rng.set_stream(epoch as u64);
    for i in (1..len).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        order.swap(i, j);
    }
}

/// A uniform integer in `0..bound` without modulo bias (Lemire, "Fast Random Integer Generation
/// in an Interval", 2019).
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    // 2^64 mod bound: products whose low half falls below it would over-represent some values.
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(bound);
        if product as u64 >= threshold {
            return (product >> 64) as u64;
        }
    }
}
