//! The BatchNorm study: every claim of the usual account of BatchNorm measured on MNIST,
//! with and without it, same seeds, same everything else; a report with intervals and plots.
//!
//! ```text
//! cargo run --release --example bn_compare -- [EXPERIMENT...] [--quick] [--seeds N] --out DIR
//!     [--merge] [--init normal|uniform] [--input binary|standardized] [--lr LR]
//!     (--init, --input and --lr: paper-fig1 only)
//! ```
//!
//! Experiments (all by default): `convergence`, `learning-rate`, `init`, `stability`,
//! `batch-size`, `train-test`, `overhead`, `regularization`, `paper-fig1`, `cnn`. Writes
//! `DIR/report.md`, `DIR/results.json` (every run) and one SVG per plot. `--merge` keeps the
//! other experiments of `DIR/results.json` (the ones run replace theirs). `--from-results
//! FILE` renders the report and plots again from a results.json, without training.
//!
//! Exit status: 0 done, 2 bad arguments, data or output folder.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::data::Mnist;

mod alloc_meter;
mod budget;
#[cfg(test)]
mod calibration_test;
mod cli;
// PyTorch's MNIST example net, the one `mnist_cnn` and `benches/compare` train: the same
// file, so that the CNN section measures that net and no copy of it.
#[path = "../mnist_cnn/model.rs"]
mod cnn_model;
mod data;
mod error;
mod estimate;
mod experiments;
mod machine;
mod model;
mod monitor;
mod parallel;
mod plots;
#[cfg(test)]
mod quick_test;
mod recipe;
mod record;
mod report;
mod results;
mod runner;
mod schedule;
mod stats;
mod step;
mod study;

use budget::Budget;
use cli::{Args, Named};
use data::Dataset;
use error::StudyError;
use experiments::paper_fig1::PaperOptions;
use experiments::{Experiment, Experiments};
use machine::{load_average, Machine};
use results::{Meta, StudyResults};
use study::Study;

/// Memory is counted at the allocator, for `overhead`'s figures.
#[global_allocator]
static ALLOCATOR: alloc_meter::Metered = alloc_meter::Metered;

/// Default seeds per setting (of runs under a minute on one core).
const SEEDS: u32 = 5;

fn main() -> ExitCode {
    match study(&Args::parse(), std::io::stderr().is_terminal()) {
        Ok(Some(report)) => {
            eprintln!("wrote {}", report.display());
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Measures (or reads the measurements), then writes results.json, the SVGs and the report;
/// returns the report's path (`None` for `--dry-run`, which only prints the estimate).
fn study(args: &Args, show_progress: bool) -> Result<Option<PathBuf>, StudyError> {
    let paper = args.paper()?;
    if args.dry_run {
        let (study, chosen) = prepare(args)?;
        estimate(&study, &chosen, &paper);
        return Ok(None);
    }
    std::fs::create_dir_all(&args.out).map_err(|source| StudyError::Write {
        path: args.out.clone(),
        source,
    })?;
    let saved = args.out.join("results.json");
    let results = match &args.from_results {
        Some(path) => StudyResults::load(path)?,
        None if args.merge => {
            // Read and checked before training: a bad file costs nothing.
            let mut results = StudyResults::load(&saved)?;
            results.check_mergeable(args.quick)?;
            results.merge(measure(args, &paper, show_progress)?);
            results
        }
        None => measure(args, &paper, show_progress)?,
    };
    results.save(&saved)?;
    let sections = results.experiments.render(&args.out)?;
    let report = args.out.join("report.md");
    report::write_report(&report, &results.meta, &results.merged, &sections)?;
    Ok(Some(report))
}

/// The study the arguments describe (MNIST loaded), and the experiments to run, in order,
/// each once.
fn prepare(args: &Args) -> Result<(Study, Vec<Experiment>), StudyError> {
    let budget = if args.quick {
        Budget::quick()
    } else {
        Budget::full()
    };
    let seeds = args.seeds.unwrap_or(if args.quick { 2 } else { SEEDS }) as u64;
    let long_seeds = match args.seeds {
        Some(n) => u64::from(n),
        None => (budget.long_run_seeds as u64).min(seeds),
    };
    let data = Dataset::mnist(Mnist::load(args.data.as_deref())?, &budget);
    let study = Study {
        data,
        budget,
        seeds: (0..seeds).collect(),
        long_seeds: (0..long_seeds).collect(),
        workers: rayon::current_num_threads(),
        show_progress: false,
    };
    let mut chosen = Vec::new();
    for &e in &args.experiments {
        if !chosen.contains(&e) {
            chosen.push(e);
        }
    }
    if chosen.is_empty() {
        chosen = Experiment::NAMES.iter().map(|&(e, ..)| e).collect();
    }
    Ok((study, chosen))
}

/// Prints the estimated wall time of each experiment and of all; returns the total.
fn estimate(study: &Study, chosen: &[Experiment], paper: &PaperOptions) -> f64 {
    let estimates: Vec<f64> = chosen.iter().map(|e| e.estimate(study, paper)).collect();
    for (e, s) in chosen.iter().zip(&estimates) {
        eprintln!("{:>14}: estimated {s:.0} s", e.name());
    }
    let total: f64 = estimates.iter().sum();
    eprintln!(
        "estimated wall time: {total:.0} s ({:.1} min) on the reference machine, {} runs at a time",
        total / 60.0,
        study.workers
    );
    total
}

/// Runs the chosen experiments, after printing the estimate of their wall time.
fn measure(
    args: &Args,
    paper: &PaperOptions,
    show_progress: bool,
) -> Result<StudyResults, StudyError> {
    let started = Instant::now();
    let mut machine = Machine::now();
    let (mut study, chosen) = prepare(args)?;
    study.show_progress = show_progress;
    let estimated_seconds = estimate(&study, &chosen, paper);
    let mut experiments = Experiments::default();
    for &experiment in &chosen {
        experiments.run(experiment, &study, paper);
    }
    machine.load_average_end = load_average();
    let meta = Meta {
        command: args.command(),
        machine,
        wall_seconds: started.elapsed().as_secs_f64(),
        estimated_seconds,
        quick: args.quick,
        seeds: study.seeds.len(),
        long_seeds: study.long_seeds.len(),
        workers: study.workers,
        threads: rayon::current_num_threads(),
        train_images: study.data.train.len(),
        validation_images: study.data.validation.len(),
        test_images: study.data.test.len(),
        budget: study.budget,
    };
    Ok(StudyResults {
        meta,
        experiments,
        merged: Vec::new(),
    })
}
