//! The training step for any loss, and the pieces of a classifier's training loop that every
//! example and test would otherwise write again: one epoch, evaluation, accuracy and memory
//! figures.
//!
//! [`Trainer::step`] (or the free [`step`], for a tape and optimizer held elsewhere) runs the
//! forward a closure describes, checks the loss is finite, runs the backward and steps the
//! optimizer, with the tape's memory reused from step to step: a loop written with it has
//! nothing to manage.

use std::time::Instant;
use tapegrad_core::{Tape, Tensor, Var};
use tapegrad_data::{BatchConfig, Batches, Split};
use tapegrad_layers::{Mode, Module, ModuleExt};
use tapegrad_optim::{OptimError, Optimizer, OptimizerExt};

/// Training produced a loss that is NaN or infinite: the run has diverged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("training diverged at epoch {epoch}, step {step}: the loss is {loss}; lower the learning rate or add BatchNorm (the parameters were not updated with this step's gradients)")]
pub struct Diverged {
    /// The epoch (counting from 1).
    pub epoch: usize,
    /// The step within the epoch (counting from 1).
    pub step: usize,
    /// The offending loss.
    pub loss: f32,
}

/// Returns an error if `loss` is NaN or infinite; the library form of the check the training
/// loop runs every step, for users who write their own loop.
///
/// ```
/// use tapegrad::train::check_finite;
/// assert!(check_finite(0.3, 1, 10).is_ok());
/// let err = check_finite(f32::NAN, 2, 17).unwrap_err();
/// assert_eq!((err.epoch, err.step), (2, 17));
/// ```
pub fn check_finite(loss: f32, epoch: usize, step: usize) -> Result<(), Diverged> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(Diverged { epoch, step, loss })
    }
}

/// Why a training step did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The loss was not finite; nothing was updated.
    #[error("the loss is {0}")]
    NonFiniteLoss(f32),
    /// The optimizer refused the parameters (a model/optimizer mismatch).
    #[error(transparent)]
    Optim(#[from] OptimError),
}

impl StepError {
    /// This error of step `step` (counting from 1) of epoch `epoch` (counting from 0) as the
    /// epoch's: a non-finite loss is [`Diverged`] there.
    pub fn in_epoch(self, epoch: usize, step: usize) -> EpochError {
        match self {
            StepError::NonFiniteLoss(loss) => EpochError::Diverged(Diverged {
                epoch: epoch + 1,
                step,
                loss,
            }),
            StepError::Optim(e) => EpochError::Optim(e),
        }
    }
}

/// What a step's closure returns: the loss alone (a [`Var`]), or the loss with a value of
/// its own (`(loss, value)`), read from the tape before the step forgets it (a count of
/// correct predictions, say).
pub trait StepOutput {
    /// The value that comes with the loss (`()` for a loss alone).
    type Extra;

    /// The loss and the value.
    fn into_parts(self) -> (Var, Self::Extra);
}

impl StepOutput for Var {
    type Extra = ();

    fn into_parts(self) -> (Var, ()) {
        (self, ())
    }
}

impl<R> StepOutput for (Var, R) {
    type Extra = R;

    fn into_parts(self) -> (Var, R) {
        self
    }
}

/// What one training step gives back: the loss (measured before the update) and the value
/// the closure returned with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<R = ()> {
    /// The loss, before the update.
    pub loss: f32,
    /// What the closure returned beside the loss (`()` if nothing).
    pub output: R,
}

/// One training step of `model` for the loss `forward` computes on `tape`.
///
/// The tape is reset, `forward(tape, model)` records the forward and the loss (one element);
/// if the loss is NaN or infinite the step stops with [`StepError::NonFiniteLoss`] and nothing
/// is updated. Otherwise the backward computes the parameters' gradients (only theirs), the
/// tape forgets the step so the optimizer updates every parameter in place instead of
/// copying it, the optimizer steps, and the gradients' buffers go back to the tape for the
/// next step. [`Trainer`] holds the tape and the optimizer for you.
pub fn step<M, O, F, S>(
    tape: &mut Tape,
    model: &mut M,
    optimizer: &mut O,
    forward: F,
) -> Result<Step<S::Extra>, StepError>
where
    M: Module + ?Sized,
    O: Optimizer + ?Sized,
    F: FnOnce(&mut Tape, &mut M) -> S,
    S: StepOutput,
{
    tape.reset();
    let (loss, output) = forward(tape, model).into_parts();
    let value = tape.value(loss).item();
    if !value.is_finite() {
        tape.reset();
        return Err(StepError::NonFiniteLoss(value));
    }
    let grads = tape.backward(loss);
    // The tape shares the parameters' values (no copy per step); forgetting them now lets the
    // optimizer update them in place instead of copying them on write.
    tape.reset();
    let result = optimizer.step(model.params_mut(), &grads);
    tape.recycle(grads);
    result?;
    Ok(Step {
        loss: value,
        output,
    })
}

/// A training loop's tape and optimizer, with [`Trainer::step`]: one training step for any
/// loss.
///
/// ```
/// use tapegrad::prelude::*;
///
/// let mut model = Mlp::new(&[4, 16, 3]).seed(0).build();
/// let mut trainer = Trainer::new(Sgd::new(SgdConfig { lr: 0.1, ..Default::default() }).unwrap());
/// let images = vec![0.5f32; 8 * 4];
/// let labels = [0, 1, 2, 0, 1, 2, 0, 1];
/// let step = trainer
///     .step(&mut model, |tape, model| {
///         let x = tape.constant_from_slice(&[8, 4], &images);
///         let logits = model.forward(tape, x, Mode::Train);
///         tape.cross_entropy(logits, &labels)
///     })
///     .unwrap();
/// assert!(step.loss.is_finite());
/// ```
pub struct Trainer<O = Box<dyn Optimizer + Send>> {
    tape: Tape,
    optimizer: O,
}

impl<O: Optimizer> Trainer<O> {
    /// A trainer stepping `optimizer`, with a fresh tape.
    pub fn new(optimizer: O) -> Self {
        Trainer {
            tape: Tape::new(),
            optimizer,
        }
    }

    /// One training step: see [`step`].
    pub fn step<M, F, S>(&mut self, model: &mut M, forward: F) -> Result<Step<S::Extra>, StepError>
    where
        M: Module + ?Sized,
        F: FnOnce(&mut Tape, &mut M) -> S,
        S: StepOutput,
    {
        step(&mut self.tape, model, &mut self.optimizer, forward)
    }

    /// The optimizer (to read its learning rate or save its state).
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// The optimizer, mutably (to set the learning rate a schedule gives, or load a state).
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.optimizer
    }

    /// The tape, to time its ops ([`Tape::time_ops`]).
    pub fn tape_mut(&mut self) -> &mut Tape {
        &mut self.tape
    }
}

/// What one classifier training step measured on its batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the batch.
    pub loss: f32,
    /// How many samples the model classified correctly (before the update).
    pub correct: usize,
}

/// One [`step`] of a classifier on a batch: forward in training mode, cross-entropy, and the
/// count of correct predictions. `images` is a row-major `[labels.len(), features]` batch.
pub fn train_step<M: Module + ?Sized>(
    tape: &mut Tape,
    model: &mut M,
    optimizer: &mut dyn Optimizer,
    images: &[f32],
    labels: &[usize],
) -> Result<StepStats, StepError> {
    let step = step(tape, model, optimizer, |tape, model| {
        let x = tape.constant_from_slice(&[labels.len(), images.len() / labels.len()], images);
        let logits = model.forward(tape, x, Mode::Train);
        let loss = tape.cross_entropy(logits, labels);
        (loss, count_correct(tape.value(logits), labels))
    })?;
    Ok(StepStats {
        loss: step.loss,
        correct: step.output,
    })
}

/// What one epoch of training measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// Mean training loss over the samples seen (each measured before its update).
    pub loss: f64,
    /// Fraction of the samples seen that were classified correctly (before each update).
    pub accuracy: f64,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Wall time of the epoch's training loop.
    pub seconds: f64,
}

/// Why an epoch stopped early.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// A loss was NaN or infinite; the parameters hold the last good step.
    #[error(transparent)]
    Diverged(#[from] Diverged),
    /// The optimizer refused the parameters.
    #[error(transparent)]
    Optim(#[from] OptimError),
}

/// Trains `model` for one epoch over `batches` (shuffled for epoch `epoch`, counting from 0),
/// calling `after_step` after every step (to advance a progress bar). Stops at the first
/// non-finite loss with [`Diverged`], before that step's update.
pub fn train_epoch<M: Module + ?Sized>(
    tape: &mut Tape,
    model: &mut M,
    optimizer: &mut dyn Optimizer,
    batches: &mut Batches<'_>,
    epoch: usize,
    mut after_step: impl FnMut(&StepStats),
) -> Result<EpochStats, EpochError> {
    let mut meter = EpochMeter::start();
    batches.set_epoch(epoch);
    while let Some(batch) = batches.next_batch() {
        let stats = train_step(tape, model, optimizer, batch.images, batch.labels)
            .map_err(|e| e.in_epoch(epoch, meter.steps() + 1))?;
        meter.add(stats.loss, stats.correct, batch.len());
        after_step(&stats);
    }
    Ok(meter.finish())
}

/// The training loss and accuracy of an epoch, each step's measured before its update, and
/// its wall time: what [`train_epoch`] reports, for a loop written by hand.
pub struct EpochMeter {
    started: Instant,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    steps: usize,
}

impl EpochMeter {
    /// A meter whose clock starts now.
    pub fn start() -> Self {
        EpochMeter {
            started: Instant::now(),
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            steps: 0,
        }
    }

    /// Counts one step over a batch of `samples`, `correct` of them classified correctly.
    pub fn add(&mut self, loss: f32, correct: usize, samples: usize) {
        self.loss_sum += loss as f64 * samples as f64;
        self.correct += correct;
        self.seen += samples;
        self.steps += 1;
    }

    /// The steps counted so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The epoch's figures: the loss and accuracy averaged over the samples seen.
    pub fn finish(&self) -> EpochStats {
        let seen = self.seen.max(1) as f64;
        EpochStats {
            loss: self.loss_sum / seen,
            accuracy: self.correct as f64 / seen,
            steps: self.steps,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// Loss and accuracy of `model` over a whole split in `mode`, in batches of 1000 taken in
/// order (the last may be smaller), recording nothing.
///
/// The pixels are normalised as [`BatchConfig::sequential`] does, with
/// [`Normalization::MNIST`](tapegrad_data::Normalization::MNIST): `(pixel / 255 - 0.1307) /
/// 0.3081` in `f32`, what PyTorch's `ToTensor()` then `Normalize((0.1307,), (0.3081,))`
/// computes. A model trained on other inputs (another normalisation, another data set) is
/// evaluated with an [`Evaluator`] fed batches of its own.
pub fn evaluate<M: Module + ?Sized>(model: &mut M, split: &Split, mode: Mode) -> EvalStats {
    evaluate_in_batches(model, split, mode, 1000)
}

/// [`evaluate`] in batches of `batch_size`: the tape holds every value of a batch's forward
/// until the next, so a model with large activations is evaluated in smaller batches (a
/// batch of 1000 through PyTorch's MNIST convolutional net holds about 550 MB, one of 100
/// a tenth of it). The accuracy does not depend on the batch size; the mean loss may differ
/// in its last bits, being summed batch by batch.
///
/// Panics if `batch_size` is 0.
pub fn evaluate_in_batches<M: Module + ?Sized>(
    model: &mut M,
    split: &Split,
    mode: Mode,
    batch_size: usize,
) -> EvalStats {
    let mut evaluator = Evaluator::with_mode(mode);
    let mut batches = split.batches(BatchConfig::sequential(batch_size));
    while let Some(batch) = batches.next_batch() {
        evaluator.batch(model, batch.images, batch.labels);
    }
    evaluator.finish()
}

/// Loss and accuracy in evaluation mode, with a tape that records nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalStats {
    /// Mean cross-entropy over all samples.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// Accumulates evaluation over batches: feed each batch with [`Evaluator::batch`], then
/// read [`Evaluator::finish`].
pub struct Evaluator {
    tape: Tape,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    mode: Mode,
}

impl Evaluator {
    /// An evaluator in `Mode::Eval` (running statistics, no dropout).
    pub fn new() -> Self {
        Self::with_mode(Mode::Eval)
    }

    /// An evaluator that runs the model in `mode` (the BatchNorm study compares
    /// `Mode::Train`, batch statistics, against `Mode::Eval`). Nothing is recorded either way.
    pub fn with_mode(mode: Mode) -> Self {
        Evaluator {
            tape: Tape::new(),
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            mode,
        }
    }

    /// Runs one batch (`images` row-major `[labels.len(), features]`).
    pub fn batch<M: Module + ?Sized>(&mut self, model: &mut M, images: &[f32], labels: &[usize]) {
        self.tape.reset();
        let mode = self.mode;
        let (logits, loss) = self.tape.no_grad(|tape| {
            let x = tape.constant_from_slice(&[labels.len(), images.len() / labels.len()], images);
            let logits = model.forward(tape, x, mode);
            (logits, tape.cross_entropy(logits, labels))
        });
        self.loss_sum += self.tape.value(loss).item() as f64 * labels.len() as f64;
        self.correct += count_correct(self.tape.value(logits), labels);
        self.seen += labels.len();
    }

    /// Mean loss and accuracy over every sample fed.
    pub fn finish(&self) -> EvalStats {
        let n = self.seen.max(1) as f64;
        EvalStats {
            loss: self.loss_sum / n,
            accuracy: self.correct as f64 / n,
        }
    }
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new()
    }
}

/// How many rows of `logits: [n, classes]` have their largest value at the label
/// (the first maximum wins ties, as `torch.argmax`).
pub fn count_correct(logits: &Tensor, labels: &[usize]) -> usize {
    let classes = logits.as_matrix().1;
    logits
        .data()
        .chunks_exact(classes)
        .zip(labels)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 {
                        (i, v)
                    } else {
                        best
                    }
                });
            best.0 == label
        })
        .count()
}

/// The peak resident memory of this process so far (`VmHWM` on Linux), if the platform
/// tells.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// The resident memory of this process now (`VmRSS` on Linux), if the platform tells.
pub fn current_rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|kib| kib * 1024)
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad_data::Normalization;
    use tapegrad_layers::Mlp;
    use tapegrad_optim::{Momentum, Sgd, SgdConfig};

    fn sgd() -> Sgd {
        Sgd::new(SgdConfig {
            lr: 0.1,
            momentum: Some(Momentum::Nesterov(0.9)),
            ..SgdConfig::default()
        })
        .unwrap()
    }

    fn bits<M: Module>(model: &M) -> Vec<Vec<u32>> {
        (model.named_params().into_iter())
            .map(|(_, p)| p.value().data().iter().map(|v| v.to_bits()).collect())
            .collect()
    }

    const IMAGES: [f32; 12] = [
        0.5, -1.0, 0.25, 2.0, 1.5, 0.0, -0.5, 1.0, -2.0, 0.75, 0.1, -0.3,
    ];
    const LABELS: [usize; 3] = [0, 2, 1];

    #[test]
    fn a_step_gives_the_bits_of_the_hand_written_loop_and_the_closures_value() {
        let mut by_hand = Mlp::new(&[4, 5, 3]).batch_norm(true).seed(3).build();
        let mut stepped = Mlp::new(&[4, 5, 3]).batch_norm(true).seed(3).build();
        let (mut tape, mut optimizer) = (Tape::new(), sgd());
        let mut trainer = Trainer::new(sgd());
        for _ in 0..3 {
            tape.reset();
            let x = tape.constant_from_slice(&[3, 4], &IMAGES);
            let logits = by_hand.forward(&mut tape, x, Mode::Train);
            let loss = tape.cross_entropy(logits, &LABELS);
            let expected_loss = tape.value(loss).item();
            let grads = tape.backward(loss);
            tape.reset();
            optimizer.step(by_hand.params_mut(), &grads).unwrap();

            let step = trainer
                .step(&mut stepped, |tape, model| {
                    let x = tape.constant_from_slice(&[3, 4], &IMAGES);
                    let logits = model.forward(tape, x, Mode::Train);
                    let loss = tape.cross_entropy(logits, &LABELS);
                    (loss, tape.shape(logits).to_vec())
                })
                .unwrap();
            assert_eq!(step.loss.to_bits(), expected_loss.to_bits());
            assert_eq!(step.output, [3, 3]);
            assert_eq!(bits(&stepped), bits(&by_hand));
        }
        // The same momentum buffers, compared by parameter name (the ids differ).
        let named = |model: &tapegrad_layers::Sequential, optimizer: &Sgd| {
            let checkpoint = crate::checkpoint::Checkpoint::of_model(model);
            checkpoint.with_optimizer(model, optimizer).optimizer
        };
        assert_eq!(
            named(&stepped, trainer.optimizer()),
            named(&by_hand, &optimizer)
        );
    }

    #[test]
    fn a_non_finite_loss_is_an_error_and_updates_nothing() {
        let mut model = Mlp::new(&[4, 5, 3]).seed(1).build();
        let mut trainer = Trainer::new(sgd());
        let step = |trainer: &mut Trainer<Sgd>, model: &mut _, scale: f32| {
            trainer.step(
                model,
                |tape: &mut Tape, model: &mut tapegrad_layers::Sequential| {
                    let x = tape.constant_from_slice(&[3, 4], &IMAGES);
                    let logits = model.forward(tape, x, Mode::Train);
                    let loss = tape.cross_entropy(logits, &LABELS);
                    tape.mul_scalar(loss, scale)
                },
            )
        };
        step(&mut trainer, &mut model, 1.0).unwrap();
        let (before, state) = (bits(&model), trainer.optimizer().state());
        for bad in [f32::NAN, f32::INFINITY] {
            let err = step(&mut trainer, &mut model, bad).unwrap_err();
            assert!(
                matches!(err, StepError::NonFiniteLoss(l) if !l.is_finite()),
                "{err}"
            );
        }
        assert_eq!(bits(&model), before, "no parameter moved");
        assert_eq!(
            trainer.optimizer().state(),
            state,
            "no optimizer state moved"
        );
        step(&mut trainer, &mut model, 1.0).unwrap();
        assert_ne!(
            bits(&model),
            before,
            "training goes on after the refused steps"
        );
    }

    #[test]
    fn evaluation_in_smaller_batches_counts_the_same_samples() {
        // 7 images of 2x2 pixels: batches of 3 leave a last batch of 1.
        let pixels: Vec<u8> = (0..28).map(|i| (i * 37 % 256) as u8).collect();
        let split = Split::new(pixels, vec![0, 1, 2, 0, 1, 2, 1], 2, 2);
        let mut model = Mlp::new(&[4, 6, 3]).seed(5).build();
        let whole = evaluate(&mut model, &split, Mode::Eval);
        let mut by_hand = Evaluator::new();
        for (start, end) in [(0, 3), (3, 6), (6, 7)] {
            let batch = &split.images[start * 4..end * 4];
            let images: Vec<f32> = batch
                .iter()
                .map(|&p| Normalization::MNIST.apply(p))
                .collect();
            let labels: Vec<usize> = split.labels[start..end].iter().map(|&l| l.into()).collect();
            by_hand.batch(&mut model, &images, &labels);
        }
        let in_threes = evaluate_in_batches(&mut model, &split, Mode::Eval, 3);
        assert_eq!(in_threes, by_hand.finish());
        assert_eq!(in_threes.accuracy, whole.accuracy);
        assert!((in_threes.loss - whole.loss).abs() < 1e-6 * whole.loss.abs().max(1.0));
    }

    #[test]
    fn argmax_counts_first_maximum() {
        let logits = Tensor::from_vec(vec![3, 3], vec![0., 2., 1., 5., 5., 0., 0., 0., -1.]);
        assert_eq!(count_correct(&logits, &[1, 0, 2]), 2);
    }

    #[test]
    fn rss_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            // `now` first: the peak read after it cannot be below it (the other order races
            // with the test threads running beside this one).
            let now = current_rss_bytes().expect("VmRSS");
            let peak = peak_rss_bytes().expect("VmHWM");
            assert!(peak >= now && now > 0);
        }
    }
}
