//! Checks made before training starts, so that a run which cannot work stops with exit 2 and
//! a message instead of panicking or aborting part-way: the worker threads, the batches an
//! epoch would have, and the memory the model and a step need.

use crate::args::{Args, Opt};

/// Starts rayon's global pool with `--threads` workers (default: one per core). Built here
/// rather than on first use because rayon panics when it cannot start its threads lazily
/// (a low `ulimit -u`); built here, the failure is an error to report. More than 4 threads
/// per core only slows the run down, so it is refused.
pub fn start_threads(args: &Args) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = 4 * cores;
    if let Some(threads) = args.threads {
        if threads as usize > limit {
            return Err(format!(
                "--threads {threads}: at most {limit} (4 per available core, {cores} here); \
                 more threads only slow training down"
            ));
        }
    }
    let threads = args.threads.map_or(cores, |t| t as usize);
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
pub fn check_batches(args: &Args, train_samples: usize) -> Result<(), String> {
    if args.bn && args.batch_size as usize > train_samples {
        return Err(format!(
            "--batch-size {} with --bn: larger than the {train_samples} training images, and \
             --bn drops the last partial batch, so no training step would run",
            args.batch_size
        ));
    }
    Ok(())
}

/// Refuses a model whose training would not fit in the memory available now, before any of
/// it is allocated: an allocation that fails aborts the process without a word.
///
/// The estimate counts 4-byte floats: the parameters, their gradients, the optimizer's state
/// (one slot per parameter for SGD with momentum, two for Adam), BatchNorm's running
/// statistics, and the activations of the larger of a training batch and the evaluation's
/// batch of 1000 (each hidden layer's outputs and their gradients, a few per unit). It is a
/// lower bound; when the available memory cannot be read, nothing is checked.
pub fn check_memory(args: &Args, inputs: usize, train_samples: usize) -> Result<(), String> {
    let Some(available) = available_memory() else {
        return Ok(());
    };
    let estimate = Estimate::of(args, inputs, train_samples);
    if estimate.total() <= available as f64 {
        return Ok(());
    }
    let gib = |bytes: f64| bytes / (1u64 << 30) as f64;
    Err(format!(
        "--hidden {} with --batch-size {}: training needs about {:.1} GiB (parameters {:.1}, \
         gradients {:.1}, optimizer state {:.1}, activations {:.1} GiB) but {:.1} GiB of memory \
         is available (MemAvailable in /proc/meminfo); use narrower layers or smaller batches",
        args.hidden_list(),
        args.batch_size,
        gib(estimate.total()),
        gib(estimate.parameters),
        gib(estimate.gradients),
        gib(estimate.optimizer),
        gib(estimate.activations),
        gib(available as f64),
    ))
}

/// Bytes a training run needs, by kind (as f64: a width of 4e9 squared overflows nothing).
struct Estimate {
    parameters: f64,
    gradients: f64,
    optimizer: f64,
    activations: f64,
}

impl Estimate {
    fn of(args: &Args, inputs: usize, train_samples: usize) -> Self {
        const FLOAT: f64 = 4.0;
        let hidden: Vec<f64> = args.hidden.iter().map(|&h| h as f64).collect();
        let mut widths = vec![inputs as f64];
        widths.extend(&hidden);
        widths.push(10.0);
        let linear: f64 = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        let units: f64 = hidden.iter().sum();
        // gamma and beta are trained; the running mean and variance are not.
        let trained = linear + if args.bn { 2.0 * units } else { 0.0 };
        let buffers = if args.bn { 2.0 * units } else { 0.0 };
        let slots = match args.optimizer {
            Opt::Sgd if args.momentum == 0.0 => 0.0,
            Opt::Sgd => 1.0,
            Opt::Adam | Opt::Adamw => 2.0,
        };
        // Per hidden unit and sample: the Linear output, the activation, BatchNorm's
        // normalised value and output, dropout's mask; each with its gradient.
        let per_unit =
            2.0 * (2.0 + if args.bn { 2.0 } else { 0.0 } + (args.dropout > 0.0) as u8 as f64);
        let batch = (args.batch_size as usize).min(train_samples).max(1000) as f64;
        let activations = batch * (inputs as f64 + units * per_unit + 10.0 * 2.0);
        Estimate {
            parameters: FLOAT * (trained + buffers),
            gradients: FLOAT * trained,
            optimizer: FLOAT * trained * slots,
            activations: FLOAT * activations,
        }
    }

    fn total(&self) -> f64 {
        self.parameters + self.gradients + self.optimizer + self.activations
    }
}

/// The memory the kernel can give without swapping (`MemAvailable`), in bytes; `None` where
/// it cannot be read (not Linux, or an old kernel).
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
