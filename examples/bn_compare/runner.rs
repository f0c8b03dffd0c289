//! One training run: SGD steps over shuffled batches, an evaluation at every step of the
//! recipe's plan, stability watched at every step, and divergence (a NaN or infinite loss)
//! recorded as a result, never a crash.

use crate::data::Dataset;
use crate::model::build;
use crate::monitor::Monitor;
use crate::recipe::Recipe;
use crate::record::{Divergence, Evaluation, RunRecord};
use crate::step::train_step;
use crate::study::Progress;
use std::time::Instant;
use tapegrad::data::{Batch, BatchConfig, Batches, Split};
use tapegrad::layers::{Mode, Sequential};
use tapegrad::prelude::{EvalStats, Evaluator, Tape};
use tapegrad::train::StepError;

/// Trains `recipe` on `data`, evaluating it as its plan says; `observe(step, model)` is
/// called at every evaluation after that, for what an experiment measures besides. Returns
/// the record and the trained model (as it was after the last good step if it diverged).
pub fn run_observed(
    recipe: &Recipe,
    data: &Dataset,
    progress: &Progress,
    observe: &mut dyn FnMut(usize, &mut Sequential),
) -> (RunRecord, Sequential) {
    let mut model = build(recipe, data.train.pixels_per_image());
    let mut optimizer = recipe.optimizer();
    let mut batches = Endless::new(recipe, data);
    let mut tape = Tape::new();
    let mut monitor = Monitor::new(recipe.steps);
    let plan = recipe.eval.steps(recipe.steps);
    let window = recipe.eval.window_steps(recipe.steps);
    let mut evaluations = Vec::with_capacity(plan.len());
    let eval_batch = recipe.arch.eval_batch();
    let mut evaluate = |step: usize, batch_loss, model: &mut Sequential| {
        let mut e = Evaluation {
            step,
            batch_loss,
            ..Evaluation::default()
        };
        if recipe.eval.validation_always || window.contains(&step) {
            let val = evaluate_in_batches(model, data, &data.validation, Mode::Eval, eval_batch);
            (e.val_accuracy, e.val_loss) = (Some(val.accuracy), finite(val.loss));
        }
        if recipe.eval.test.at(window.contains(&step)) {
            let test = evaluate_in_batches(model, data, &data.test, Mode::Eval, eval_batch);
            (e.test_accuracy, e.test_loss) = (Some(test.accuracy), finite(test.loss));
        }
        if recipe.eval.on_train {
            let train = evaluate_in_batches(model, data, &data.train, Mode::Eval, eval_batch);
            (e.train_accuracy, e.train_loss) = (Some(train.accuracy), finite(train.loss));
        }
        evaluations.push(e);
        observe(step, model);
    };
    if plan.first() == Some(&0) {
        evaluate(0, None, &mut model);
    }
    let (mut seconds, mut loss_sum, mut losses, mut diverged) = (0.0, 0.0, 0, None);
    for step in 1..=recipe.steps {
        let batch = batches.next();
        let started = Instant::now();
        let result = train_step(
            &mut tape,
            &mut model,
            &mut optimizer,
            batch.images,
            batch.labels,
            recipe.ghost_batch,
        );
        seconds += started.elapsed().as_secs_f64();
        match result {
            Ok(outcome) => {
                monitor.observe(step, outcome.loss, outcome.grad_norm);
                (loss_sum, losses) = (loss_sum + f64::from(outcome.loss), losses + 1);
            }
            Err(StepError::NonFiniteLoss(loss)) => {
                let loss = loss.to_string();
                diverged = Some(Divergence { step, loss });
                break;
            }
            Err(StepError::Optim(e)) => panic!("the optimizer refused the model: {e}"),
        }
        if plan.binary_search(&step).is_ok() {
            // The batch loss is averaged over the curve's intervals (over the intervals
            // between evaluations for a run without a curve), so that the window's closer
            // evaluations do not make a curve's points average over fewer steps.
            let interval_ends = recipe.eval.every.is_none_or(|e| step % e == 0);
            let batch_loss = interval_ends.then(|| loss_sum / losses.max(1) as f64);
            evaluate(step, batch_loss, &mut model);
            if interval_ends {
                (loss_sum, losses) = (0.0, 0);
            }
        }
    }
    progress.bar.inc(1);
    let record = RunRecord {
        recipe: recipe.clone(),
        evaluations,
        diverged,
        stability: monitor.finish(),
        train_seconds: seconds,
    };
    (record, model)
}

/// `Some(x)` if `x` is finite: a loss of NaN or infinity is recorded as missing (JSON has no
/// such numbers, and results.json must read back as it was written).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// [`run_observed`] with nothing observed besides the plan's evaluations.
pub fn run(recipe: &Recipe, data: &Dataset, progress: &Progress) -> (RunRecord, Sequential) {
    run_observed(recipe, data, progress, &mut |_, _| ())
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

/// Accuracy and mean loss of `model` in `mode` over `split` (normalised as `data` says), in
/// batches of 1000. In `Mode::Train` (batch statistics) see [`evaluate_in_batches`].
pub fn evaluate(model: &mut Sequential, data: &Dataset, split: &Split, mode: Mode) -> EvalStats {
    evaluate_in_batches(model, data, split, mode, 1000)
}

/// [`evaluate`] in batches of `batch_size`. In `Mode::Eval` the last batch may be smaller;
/// in `Mode::Train` a last partial batch is left out (a batch of one cannot be normalised by
/// its own statistics). Nothing is recorded, but a `Mode::Train` pass does update BatchNorm
/// running statistics, as in PyTorch.
pub fn evaluate_in_batches(
    model: &mut Sequential,
    data: &Dataset,
    split: &Split,
    mode: Mode,
    batch_size: usize,
) -> EvalStats {
    let mut evaluator = Evaluator::with_mode(mode);
    let config = BatchConfig::sequential(batch_size)
        .drop_last(mode == Mode::Train)
        .normalization(data.normalization);
    let mut batches = split.batches(config);
    while let Some(batch) = batches.next_batch() {
        evaluator.batch(model, batch.images, batch.labels);
    }
    evaluator.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::data::synthetic;
    use crate::study::Study;

    fn study() -> Study {
        Study {
            data: synthetic(4, 256, 64),
            budget: Budget::quick(),
            seeds: vec![0],
            long_seeds: vec![0],
            workers: 1,
            show_progress: false,
        }
    }

    /// Weights 1e20 times too large overflow `f32` in the first forward (a hidden unit times
    /// a weight is past 3.4e38): the run must end with a recorded divergence, not a panic, and
    /// report no final accuracy.
    #[test]
    fn a_diverging_run_is_recorded_not_a_crash() {
        let study = study();
        let small = Recipe {
            hidden: vec![8],
            ..Recipe::reference(50)
        };
        let recipe = Recipe {
            init_scale: 1e20,
            ..small.clone()
        };
        let (record, _) = run(&recipe, &study.data, &study.progress("test", 1));
        let divergence = record.diverged.as_ref().expect("the logits overflow");
        assert!(divergence.step >= 1 && divergence.step <= 50);
        assert_eq!(record.final_test(), None);
        assert!(record.failed());

        let sane = run(&small.curve(10), &study.data, &study.progress("t", 1)).0;
        assert!(sane.diverged.is_none());
        let steps: Vec<usize> = sane.evaluations.iter().map(|e| e.step).collect();
        // The window: 5 evaluations a twentieth of the run (2 steps) apart.
        assert_eq!(steps, [0, 10, 20, 30, 40, 42, 44, 46, 48, 50]);
        // The test images are measured in the window only; the validation ones everywhere.
        assert!(sane.evaluations.iter().all(|e| e.val_accuracy.is_some()));
        let tested: Vec<usize> = sane
            .evaluations
            .iter()
            .filter(|e| e.test_accuracy.is_some())
            .map(|e| e.step)
            .collect();
        assert_eq!(tested, [42, 44, 46, 48, 50]);
        assert!(sane.final_test().is_some_and(|a| (0.0..=1.0).contains(&a)));
    }
}
