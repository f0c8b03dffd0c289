//! What every experiment is given: the data, the budget, the seeds, and progress bars.

use crate::budget::Budget;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Instant;
use tapegrad::data::{Mnist, Normalization, Split};

/// Training and test images with the normalization their batches apply.
pub struct Dataset {
    /// The training images.
    pub train: Split,
    /// The test images.
    pub test: Split,
    /// How pixels become inputs.
    pub normalization: Normalization,
}

impl Dataset {
    /// MNIST cut to the budget's subsets, standardized as PyTorch's MNIST example does.
    pub fn mnist(mnist: Mnist, budget: &Budget) -> Dataset {
        Dataset {
            train: first(&mnist.train, budget.train_images),
            test: first(&mnist.test, budget.test_images),
            normalization: Normalization::MNIST,
        }
    }

    /// The same test images, with only the first `images` training images.
    pub fn with_train_images(&self, images: usize) -> Dataset {
        Dataset {
            train: first(&self.train, Some(images)),
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
            test: binary(&self.test),
            normalization: Normalization::UNIT,
        }
    }
}

/// The first `n` samples of `split` (all of them if `n` is `None` or too large).
pub fn first(split: &Split, n: Option<usize>) -> Split {
    let n = n.unwrap_or(split.len()).min(split.len());
    Split::new(
        split.images[..n * split.pixels_per_image()].to_vec(),
        split.labels[..n].to_vec(),
        split.rows,
        split.cols,
    )
}

/// The context of every experiment.
pub struct Study {
    /// MNIST, cut to the budget.
    pub data: Dataset,
    /// How much each experiment trains.
    pub budget: Budget,
    /// The seeds each setting is run with.
    pub seeds: Vec<u64>,
    /// Whether progress bars are drawn (on a terminal, not in tests).
    pub show_progress: bool,
}

impl Study {
    /// A progress bar over the `runs` runs of experiment `name`; the runner writes the
    /// current run and step in its message.
    pub fn progress(&self, name: &str, runs: usize) -> Progress {
        let target = if self.show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(runs as u64), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>14} [{bar:24}] {pos}/{len} runs {elapsed:>4} {wide_msg}",
            )
            .expect("a valid template"),
        );
        bar.set_prefix(name.to_string());
        Progress {
            bar,
            name: name.to_string(),
            started: Instant::now(),
        }
    }
}

/// The progress of one experiment.
pub struct Progress {
    /// The bar: one tick per run.
    pub bar: ProgressBar,
    name: String,
    started: Instant,
}

impl Drop for Progress {
    /// Clears the bar and leaves one line saying how long the experiment took.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        eprintln!(
            "{:>14}: {} runs in {:.0} s",
            self.name,
            self.bar.position(),
            self.started.elapsed().as_secs_f64()
        );
    }
}
