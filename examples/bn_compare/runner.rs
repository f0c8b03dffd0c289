//! One training run: steps of plain SGD over shuffled batches, an evaluation every so many
//! steps, and divergence (a NaN or infinite loss) recorded as a result, never a crash.

use crate::recipe::Recipe;
use crate::study::{Dataset, Progress};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tapegrad::data::{Batch, BatchConfig, Batches, Split};
use tapegrad::layers::{Mode, Sequential};
use tapegrad::prelude::{Evaluator, Tape};
use tapegrad::train::{train_step, StepError};

/// Where a run diverged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Divergence {
    /// The step (counting from 1) whose loss was not finite; it made no update.
    pub step: usize,
    /// The loss, as text (`NaN`, `inf`: JSON has no such numbers).
    pub loss: String,
}

/// What one run measured: its recipe, test accuracy and mean training loss at every
/// evaluation, and whether it diverged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// What was trained.
    pub recipe: Recipe,
    /// The steps at which the model was evaluated (0 is the initial model).
    pub steps: Vec<usize>,
    /// Test accuracy (evaluation mode) at those steps.
    pub test_accuracy: Vec<f64>,
    /// Mean training loss over the steps since the previous evaluation (none at step 0).
    pub train_loss: Vec<Option<f64>>,
    /// Accuracy on the training images (evaluation mode) at the same steps, for the
    /// experiments that measure it (`regularization`); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub train_accuracy: Vec<f64>,
    /// Set if the run stopped on a non-finite loss.
    pub diverged: Option<Divergence>,
    /// Time spent in training steps (evaluations excluded).
    pub train_seconds: f64,
}

impl RunRecord {
    /// The test accuracy after the last step; `None` if the run diverged.
    pub fn final_accuracy(&self) -> Option<f64> {
        match self.diverged {
            Some(_) => None,
            None => self.test_accuracy.last().copied(),
        }
    }

    /// `(step, test accuracy)` pairs.
    pub fn accuracy_curve(&self) -> Vec<(usize, f64)> {
        self.steps
            .iter()
            .copied()
            .zip(self.test_accuracy.iter().copied())
            .collect()
    }

    /// `(step, mean training loss)` pairs (from the first evaluation after step 0).
    pub fn loss_curve(&self) -> Vec<(usize, f64)> {
        let losses = self.train_loss.iter();
        self.steps
            .iter()
            .zip(losses)
            .filter_map(|(&s, l)| l.map(|l| (s, l)))
            .collect()
    }

    /// The first evaluated step at which the test accuracy reached `threshold`.
    pub fn steps_to(&self, threshold: f64) -> Option<usize> {
        self.accuracy_curve()
            .into_iter()
            .find(|&(_, a)| a >= threshold)
            .map(|(s, _)| s)
    }
}

/// Trains `recipe` on `data` and records its test accuracy; `observe(step, model)` is called
/// at every evaluation after that, for what an experiment measures besides. Returns the
/// record and the trained model (as it was after the last good step if it diverged).
pub fn run_observed(
    recipe: &Recipe,
    data: &Dataset,
    progress: &Progress,
    observe: &mut dyn FnMut(usize, &mut Sequential),
) -> (RunRecord, Sequential) {
    let mut record = RunRecord {
        recipe: recipe.clone(),
        steps: Vec::new(),
        test_accuracy: Vec::new(),
        train_loss: Vec::new(),
        train_accuracy: Vec::new(),
        diverged: None,
        train_seconds: 0.0,
    };
    let label = describe(recipe);
    let mut model = recipe.model(data.train.pixels_per_image());
    let mut optimizer = recipe.optimizer();
    let mut batches = Endless::new(recipe, data);
    let mut tape = Tape::new();
    let mut evaluate = |step, loss, model: &mut Sequential| {
        record.steps.push(step);
        record.train_loss.push(loss);
        let accuracy = accuracy(model, data, &data.test, Mode::Eval, 1000);
        record.test_accuracy.push(accuracy);
        observe(step, model);
    };
    evaluate(0, None, &mut model);
    let (mut step, mut seconds) = (0, 0.0);
    let (mut loss_sum, mut losses, mut diverged) = (0.0, 0, None);
    while step < recipe.steps {
        let batch = batches.next();
        let started = Instant::now();
        let result = train_step(
            &mut tape,
            &mut model,
            &mut optimizer,
            batch.images,
            batch.labels,
        );
        seconds += started.elapsed().as_secs_f64();
        step += 1;
        match result {
            Ok(stats) => (loss_sum, losses) = (loss_sum + stats.loss as f64, losses + 1),
            Err(StepError::NonFiniteLoss(loss)) => {
                let loss = loss.to_string();
                diverged = Some(Divergence { step, loss });
                break;
            }
            Err(StepError::Optim(e)) => panic!("{label}: the optimizer refused the model: {e}"),
        }
        if step % recipe.eval_every == 0 || step == recipe.steps {
            evaluate(step, Some(loss_sum / losses as f64), &mut model);
            (loss_sum, losses) = (0.0, 0);
        }
        if step % 100 == 0 {
            let total = recipe.steps;
            progress
                .bar
                .set_message(format!("{label}, step {step}/{total}"));
        }
    }
    record.diverged = diverged;
    record.train_seconds = seconds;
    progress.bar.inc(1);
    (record, model)
}

/// The training batches of a recipe (its batch size and seed, shuffled per epoch, the last
/// partial batch dropped), epoch after epoch without end.
pub struct Endless<'d> {
    batches: Batches<'d>,
    epoch: usize,
    taken: usize,
}

impl<'d> Endless<'d> {
    /// Batches over `data`'s training images. Panics if they cannot fill one batch.
    pub fn new(recipe: &Recipe, data: &'d Dataset) -> Endless<'d> {
        assert!(
            data.train.len() >= recipe.batch_size,
            "{} training images cannot fill a batch of {}",
            data.train.len(),
            recipe.batch_size
        );
        let config = BatchConfig::shuffled(recipe.batch_size, recipe.seed)
            .drop_last(true)
            .normalization(data.normalization);
        Endless {
            batches: data.train.batches(config),
            epoch: 0,
            taken: 0,
        }
    }

    /// The next batch, starting the next epoch (in its own order) when one is done.
    pub fn next(&mut self) -> Batch<'_> {
        if self.taken == self.batches.batches_per_epoch() {
            self.epoch += 1;
            self.batches.set_epoch(self.epoch);
            self.taken = 0;
        }
        self.taken += 1;
        self.batches
            .next_batch()
            .expect("a full batch is left in the epoch")
    }
}

/// [`run_observed`] with nothing observed besides the test accuracy.
pub fn run(recipe: &Recipe, data: &Dataset, progress: &Progress) -> (RunRecord, Sequential) {
    run_observed(recipe, data, progress, &mut |_, _| ())
}

/// The accuracy of `model` in `mode` over `split` (normalised as `data` says), fed in
/// batches of `batch_size`. In `Mode::Eval` the last batch may be smaller; in `Mode::Train`
/// a last partial batch is left out (a batch of one cannot be normalised by its own
/// statistics). Nothing is recorded, but a `Mode::Train` pass does update BatchNorm
/// running statistics, as in PyTorch.
pub fn accuracy(
    model: &mut Sequential,
    data: &Dataset,
    split: &Split,
    mode: Mode,
    batch_size: usize,
) -> f64 {
    let mut evaluator = Evaluator::with_mode(mode);
    let config = BatchConfig::sequential(batch_size)
        .drop_last(mode == Mode::Train)
        .normalization(data.normalization);
    let mut batches = split.batches(config);
    while let Some(batch) = batches.next_batch() {
        evaluator.batch(model, batch.images, batch.labels);
    }
    evaluator.finish().accuracy
}

/// A short name of a run for the progress bar.
fn describe(recipe: &Recipe) -> String {
    let bn = if recipe.batch_norm { "BN" } else { "no BN" };
    format!(
        "{bn}, lr {}, batch {}, seed {}",
        recipe.lr, recipe.batch_size, recipe.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::study::Study;
    use std::path::Path;
    use tapegrad::data::{Mnist, MnistLocation, Origin, DEFAULT_MNIST_DIR};

    /// A learning rate of 1e6 makes the loss infinite within a few steps: the run must end
    /// with a recorded divergence, not a panic, and report no final accuracy.
    #[test]
    fn a_diverging_run_is_recorded_not_a_crash() {
        let mut budget = Budget::quick();
        budget.train_images = Some(640);
        budget.test_images = Some(100);
        // `$MNIST_DIR`, else the repository's default folder (tests run in this package's).
        let mut location = MnistLocation::resolve(None);
        if location.origin == Origin::Default {
            location.dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(DEFAULT_MNIST_DIR);
        }
        let data = Dataset::mnist(Mnist::load_from(&location).expect("MNIST"), &budget);
        let study = Study {
            data,
            budget,
            seeds: vec![0],
            show_progress: false,
        };
        let recipe = Recipe {
            lr: 1e6,
            ..Recipe::reference(50, 10)
        };
        let (record, _) = run(&recipe, &study.data, &study.progress("test", 1));
        let divergence = record.diverged.as_ref().expect("lr 1e6 diverges");
        assert!(divergence.step >= 1 && divergence.step <= 50);
        assert_eq!(record.final_accuracy(), None);
        let sane = run(
            &Recipe::reference(20, 10),
            &study.data,
            &study.progress("t", 1),
        )
        .0;
        assert!(sane.diverged.is_none());
        assert_eq!(sane.steps, [0, 10, 20]);
        assert!(sane
            .final_accuracy()
            .is_some_and(|a| (0.0..=1.0).contains(&a)));
    }
}
