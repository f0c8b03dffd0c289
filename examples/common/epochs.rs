//! What the examples' training loops do around their steps, the same for every model: the
//! resume from a checkpoint and the epochs left after it, the batches, each epoch's progress
//! bar and figures, Ctrl-C between steps, the line printed and the checkpoint written after
//! each epoch, a closed stdout, and at the end the export and the `--json` summary.

use super::checkpointing::{self, write_or_rescue};
use super::interrupt;
use super::outcome::{failure, input, Ended, Failure};
use super::report::{self, Stdout};
use super::run_flags::RunFlags;
use indicatif::ProgressBar;
use tapegrad::prelude::*;
use tapegrad::train::{EpochMeter, EpochStats};

/// A run's epochs: the next one to train, the steps and seconds so far, the last epoch's
/// figures, the settings its checkpoints record, and stdout.
pub struct Epochs<'a> {
    flags: &'a RunFlags,
    settings: String,
    out: Stdout,
    first: usize,
    next: usize,
    steps_done: u64,
    train_seconds: f64,
    last: Option<(EpochStats, EvalStats)>,
}

/// One epoch under way: its progress bar and its figures so far.
pub struct Epoch {
    /// The epoch, counting from 0.
    pub index: usize,
    bar: ProgressBar,
    meter: EpochMeter,
}

impl<'a> Epochs<'a> {
    /// The epochs of a run with `flags` whose checkpoints record `settings`: all of them, or
    /// with `--resume` those the checkpoint has not done, `model` and `optimizer` restored
    /// from it (refused unless it was written with the same settings). Ctrl-C is caught from
    /// here on: it ends the run after the current step.
    pub fn start(
        flags: &'a RunFlags,
        settings: String,
        model: &mut Sequential,
        optimizer: &mut dyn Optimizer,
    ) -> Result<Self, Failure> {
        interrupt::install();
        let resume = flags.resume.as_deref();
        let (epochs_done, steps_done) =
            checkpointing::resume(resume, model, optimizer, &settings).map_err(input)?;
        Ok(Epochs {
            flags,
            settings,
            out: Stdout::default(),
            first: epochs_done,
            next: epochs_done,
            steps_done,
            train_seconds: 0.0,
            last: None,
        })
    }

    /// The training batches of `split`, shuffled anew each epoch from `--seed`. A last batch
    /// of one would make BatchNorm fail in training, so `--bn` runs drop the last partial
    /// batch.
    pub fn batches<'s>(&self, split: &'s Split) -> Batches<'s> {
        let config = BatchConfig::shuffled(self.flags.batch_size as usize, self.flags.seed);
        split.batches(config.drop_last(self.flags.bn))
    }

    /// The next epoch to train, its clock started, `batches` shuffled for it and its progress
    /// bar over them shown; `None` once `--epochs` are done.
    pub fn next(&mut self, batches: &mut Batches<'_>) -> Option<Epoch> {
        let index = self.next;
        if index >= self.flags.epochs as usize {
            return None;
        }
        self.next += 1;
        let epoch = Epoch {
            index,
            bar: report::progress_bar(self.flags, batches.batches_per_epoch(), index),
            meter: EpochMeter::start(),
        };
        batches.set_epoch(index);
        Some(epoch)
    }

    /// After an epoch's training (`train`, from [`Epoch::finish`]) and evaluation (`test`):
    /// prints its line and writes the checkpoint of `--save` (`model`, `optimizer` and where
    /// the run stands). Then the run ends if Ctrl-C was pressed or stdout's reader has gone.
    pub fn end(
        &mut self,
        (index, train): (usize, EpochStats),
        test: EvalStats,
        model: &Sequential,
        optimizer: &dyn Optimizer,
    ) -> Result<Option<Ended>, Failure> {
        self.train_seconds += train.seconds;
        self.steps_done += train.steps as u64;
        report::print_epoch(&mut self.out, self.flags, index, &train, &test);
        if let Some(path) = &self.flags.save {
            let done = (index + 1, self.steps_done);
            let save = |path: &_| checkpointing::save(path, model, optimizer, done, &self.settings);
            write_or_rescue(path, save).map_err(Failure::Input)?;
        }
        if interrupt::requested() {
            return Ok(Some(Ended::Interrupted));
        }
        if self.out.reader_gone() {
            return Ok(Some(Ended::ReaderGone));
        }
        self.last = Some((train, test));
        Ok(None)
    }

    /// After the last epoch: writes `--export`, says so if the checkpoint had nothing left to
    /// train, and prints the `--json` summary (with the test figures of `evaluate` if no
    /// epoch ran).
    pub fn finish(
        mut self,
        model: &mut Sequential,
        evaluate: impl FnOnce(&mut Sequential) -> EvalStats,
    ) -> Result<Ended, Failure> {
        let flags = self.flags;
        if let Some(path) = &flags.export {
            write_or_rescue(path, |path| export_safetensors(&*model, path))
                .map_err(Failure::Input)?;
        }
        let epochs = flags.epochs as usize;
        if self.first >= epochs {
            report::error(format_args!(
                "the checkpoint has already trained {} of --epochs {epochs}: nothing to do",
                self.first
            ));
        }
        if flags.json {
            let test = self.last.map_or_else(|| evaluate(model), |last| last.1);
            let epochs_run = epochs - self.first.min(epochs);
            report::print_json(
                &mut self.out,
                flags,
                self.last.map(|last| last.0),
                test,
                epochs_run,
                self.train_seconds,
                model.param_count(),
            );
        }
        Ok(Ended::Done)
    }
}

impl Epoch {
    /// Counts a training step over `samples` samples, its output the count of correct
    /// predictions; a step's error ends the run (a non-finite loss as a divergence at this
    /// epoch and step), and so does Ctrl-C, after the step.
    pub fn add(
        &mut self,
        step: Result<Step<usize>, StepError>,
        samples: usize,
    ) -> Result<Option<Ended>, Failure> {
        let step = step.map_err(|e| failure(e.in_epoch(self.index, self.meter.steps() + 1)))?;
        self.meter.add(step.loss, step.output, samples);
        self.bar.inc(1);
        if interrupt::requested() {
            self.bar.finish_and_clear();
            return Ok(Some(Ended::Interrupted));
        }
        Ok(None)
    }

    /// The epoch's training figures, its clock stopped (before the evaluation), with its
    /// index, for [`Epochs::end`].
    pub fn finish(self) -> (usize, EpochStats) {
        self.bar.finish_and_clear();
        (self.index, self.meter.finish())
    }
}
