//! The images every experiment trains, chooses and reports on: MNIST's training file cut into
//! a training part and a validation part (its last images), and the test file.

use crate::budget::Budget;
use std::ops::Range;
use tapegrad::data::{Mnist, Normalization, Split};

/// Training, validation and test images with the normalisation their batches apply.
///
/// Every choice (a "good" learning rate, the learning rate of the paper's figure, a
/// regularizer's strength) is made on `validation`; `test` gives only the final figures.
pub struct Dataset {
    /// The images trained on: the start of MNIST's training file.
    pub train: Split,
    /// The images choices are made on: the end of MNIST's training file, never trained on.
    pub validation: Split,
    /// The images the final figures are measured on: MNIST's test file.
    pub test: Split,
    /// How pixels become inputs.
    pub normalization: Normalization,
}

impl Dataset {
    /// MNIST cut as the budget says, standardized as PyTorch's MNIST example does.
    pub fn mnist(mnist: Mnist, budget: &Budget) -> Dataset {
        let (train, validation) =
            split_training(&mnist.train, budget.validation_images, budget.train_images);
        Dataset {
            train,
            validation,
            test: first(&mnist.test, budget.test_images),
            normalization: Normalization::MNIST,
        }
    }

    /// The same validation and test images, with only the first `images` training images.
    pub fn with_train_images(&self, images: usize) -> Dataset {
        Dataset {
            train: first(&self.train, Some(images)),
            validation: self.validation.clone(),
            test: self.test.clone(),
            normalization: self.normalization,
        }
    }

    /// The same training and test images, with only the first `images` validation images.
    pub fn with_validation_images(&self, images: usize) -> Dataset {
        Dataset {
            train: self.train.clone(),
            validation: first(&self.validation, Some(images)),
            test: self.test.clone(),
            normalization: self.normalization,
        }
    }

    /// Binary images, as in Ioffe and Szegedy's MNIST experiment: a pixel is 1 if it is at
    /// least half-way to full ink (128 of 255), else 0.
    pub fn binarized(&self) -> Dataset {
        let binary = |split: &Split| Split {
            images: split
                .images
                .iter()
                .map(|&p| if p >= 128 { 255 } else { 0 })
                .collect(),
            ..split.clone()
        };
        Dataset {
            train: binary(&self.train),
            validation: binary(&self.validation),
            test: binary(&self.test),
            normalization: Normalization::UNIT,
        }
    }
}

/// MNIST's training file as `(train, validation)`: the last `validation` images for
/// validation, and before them the first `train` images (all of the others if `None` or
/// more than there are). The two never share an image.
pub fn split_training(all: &Split, validation: usize, train: Option<usize>) -> (Split, Split) {
    let validation = validation.min(all.len());
    let start = all.len() - validation;
    let train = train.unwrap_or(start).min(start);
    (range(all, 0..train), range(all, start..all.len()))
}

/// The first `n` samples of `split` (all of them if `n` is `None` or too large).
pub fn first(split: &Split, n: Option<usize>) -> Split {
    let n = n.unwrap_or(split.len()).min(split.len());
    range(split, 0..n)
}

/// Random images of `side` x `side` pixels with random labels, `train` of them for training
/// and `held_out` each for validation and test (for tests that need data, not MNIST).
#[cfg(test)]
pub fn synthetic(side: usize, train: usize, held_out: usize) -> Dataset {
    let split = |n: usize, seed: u64| {
        let mut x = seed;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        };
        let images = (0..n * side * side).map(|_| next()).collect();
        let labels = (0..n).map(|_| next() % 10).collect();
        Split::new(images, labels, side, side)
    };
    Dataset {
        train: split(train, 1),
        validation: split(held_out, 2),
        test: split(held_out, 3),
        normalization: Normalization::MNIST,
    }
}

/// Samples `range` of `split`.
fn range(split: &Split, range: Range<usize>) -> Split {
    let pixels = split.pixels_per_image();
    Split::new(
        split.images[range.start * pixels..range.end * pixels].to_vec(),
        split.labels[range].to_vec(),
        split.rows,
        split.cols,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30 images of 2 pixels, image `i` holding the value `i` in both: where an image came
    /// from can be read from it.
    fn numbered() -> Split {
        let images = (0..30u8).flat_map(|i| [i, i]).collect();
        Split::new(images, (0..30).map(|i| i % 10).collect(), 1, 2)
    }

    fn indices(split: &Split) -> Vec<u8> {
        split.images.chunks(2).map(|image| image[0]).collect()
    }

    #[test]
    fn validation_is_the_end_of_the_training_file_and_disjoint_from_training() {
        let all = numbered();
        let (train, validation) = split_training(&all, 10, None);
        assert_eq!(indices(&validation), (20..30).collect::<Vec<u8>>());
        assert_eq!(indices(&train), (0..20).collect::<Vec<u8>>());
        assert_eq!(
            validation.labels,
            (20..30).map(|i| i % 10).collect::<Vec<u8>>()
        );

        // A smaller training part comes from the start; the validation part stays the end.
        let (train, validation) = split_training(&all, 10, Some(7));
        assert_eq!(indices(&train), (0..7).collect::<Vec<u8>>());
        assert_eq!(indices(&validation), (20..30).collect::<Vec<u8>>());
        // Asking for more training images than there are before the validation part never
        // reaches into it.
        let (train, validation) = split_training(&all, 10, Some(25));
        assert!(indices(&train)
            .iter()
            .all(|i| !indices(&validation).contains(i)));
        assert_eq!(train.len() + validation.len(), 30);
    }
}
