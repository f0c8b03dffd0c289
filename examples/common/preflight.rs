//! Checks made before training starts, so that a run which cannot work stops with exit 2 and
//! a message instead of panicking or aborting part-way: the flags, the worker threads, the
//! optimizer, the batches an epoch would have, and the memory the model and a step need
//! (each example estimates its own model's).

use super::outcome::{input, Failure};
use super::run_flags::RunFlags;
use tapegrad::optim::OptimizerSpec;
use tapegrad::prelude::*;

/// The trainer of a run, after the checks that need no data: the flags clap could not check
/// ([`RunFlags::validate`]), the worker threads, and the optimizer `spec` describes.
pub fn trainer(flags: &RunFlags, spec: OptimizerSpec) -> Result<Trainer, Failure> {
    flags.validate().map_err(Failure::Input)?;
    start_threads(flags).map_err(Failure::Input)?;
    Ok(Trainer::new(spec.build().map_err(input)?))
}

/// Starts rayon's global pool with `--threads` workers (default: one per core). Built here
/// rather than on first use because rayon panics when it cannot start its threads lazily
/// (a low `ulimit -u`); built here, the failure is an error to report. More than 4 threads
/// per core only slows the run down, so it is refused.
fn start_threads(flags: &RunFlags) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = 4 * cores;
    if let Some(threads) = flags.threads {
        if threads as usize > limit {
            return Err(format!(
                "--threads {threads}: at most {limit} (4 per available core, {cores} here); \
                 more threads only slow training down"
            ));
        }
    }
    let threads = flags.threads.map_or(cores, |t| t as usize);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| {
            format!(
                "could not start {threads} worker threads: {e}; the process limit (ulimit -u) \
                 may be too low: raise it or pass a smaller --threads"
            )
        })
}

/// Refuses a `--batch-size` with which no step would run: BatchNorm runs drop the last,
/// partial batch (one of a single sample cannot be normalised), so a batch larger than the
/// training set leaves an epoch empty.
pub fn check_batches(flags: &RunFlags, train_samples: usize) -> Result<(), String> {
    if flags.bn && flags.batch_size as usize > train_samples {
        return Err(format!(
            "--batch-size {} with --bn: larger than the {train_samples} training images, and \
             --bn drops the last partial batch, so no training step would run",
            flags.batch_size
        ));
    }
    Ok(())
}

/// Bytes a training run needs, by kind (as f64: a width of 4e9 squared overflows nothing),
/// as an example estimates them for its model: a lower bound.
pub struct Estimate {
    /// The parameters and the buffers (BatchNorm's running statistics).
    pub parameters: f64,
    /// The parameters' gradients.
    pub gradients: f64,
    /// The optimizer's state (one slot per parameter for SGD with momentum, two for Adam).
    pub optimizer: f64,
    /// The activations of the larger of a training and an evaluation batch, with their
    /// gradients.
    pub activations: f64,
}

impl Estimate {
    fn total(&self) -> f64 {
        self.parameters + self.gradients + self.optimizer + self.activations
    }
}

/// Refuses a run whose training would not fit in the memory available now, before any of
/// it is allocated: an allocation that fails aborts the process without a word. `what`
/// names the flags the estimate grows with, `advice` what to change; when the available
/// memory cannot be read, nothing is checked.
pub fn check_memory(what: &str, estimate: &Estimate, advice: &str) -> Result<(), String> {
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if estimate.total() <= available as f64 {
        return Ok(());
    }
    let gib = |bytes: f64| bytes / (1u64 << 30) as f64;
    Err(format!(
        "{what}: training needs about {:.1} GiB (parameters {:.1}, gradients {:.1}, optimizer \
         state {:.1}, activations {:.1} GiB) but {:.1} GiB of memory is available \
         (MemAvailable in /proc/meminfo); {advice}",
        gib(estimate.total()),
        gib(estimate.parameters),
        gib(estimate.gradients),
        gib(estimate.optimizer),
        gib(estimate.activations),
        gib(available as f64),
    ))
}

/// The memory the kernel can give without swapping (`MemAvailable`), in bytes; `None` where
/// it cannot be read (not Linux, or an old kernel).
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
