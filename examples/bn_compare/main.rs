//! The BatchNorm study: every claim of the usual account of BatchNorm measured on MNIST,
//! with and without it, same seeds, same everything else; a report with plots.
//!
//! ```text
//! cargo run --release --example bn_compare -- [EXPERIMENT...] [--quick] [--seeds N] --out DIR
//! ```
//!
//! Experiments (all by default): `convergence`, `learning-rate`, `init`, `batch-size`,
//! `train-test`, `overhead`, `regularization`, `paper-fig1`. Writes `DIR/report.md`,
//! `DIR/results.json` (every raw number) and one SVG per plot. `--from-results FILE`
//! renders the report and plots again from a results.json, without training.
//!
//! Exit status: 0 done, 2 bad arguments, data or output folder.
use clap::{Parser, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::data::Mnist;

mod budget;
mod error;
mod experiments;
mod plots;
#[cfg(test)]
mod quick_test;
mod recipe;
mod report;
mod results;
mod runner;
mod stats;
mod study;

use budget::Budget;
use error::StudyError;
use experiments::{Experiment, Experiments};
use results::{load_average, Meta, StudyResults};
use study::{Dataset, Study};

#[derive(Parser)]
#[command(about = "BatchNorm on MNIST: every claim measured, with and without, with plots")]
struct Args {
    /// Experiments to run [default: all].
    #[arg(value_enum)]
    experiments: Vec<Experiment>,
    /// Every experiment at a reduced size (about a minute): checks that the study runs.
    #[arg(long)]
    quick: bool,
    /// Runs per setting, with seeds 0 to N-1 [default: 3, or 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    seeds: Option<u32>,
    /// Folder for report.md, results.json and the SVGs (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Folder with the MNIST files [default: $MNIST_DIR, else datasets/mnist, downloaded if missing].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Render report.md and the SVGs again from this results.json, without training.
    #[arg(long, conflicts_with_all = ["experiments", "quick", "seeds", "data"])]
    from_results: Option<PathBuf>,
}

impl Args {
    /// The command line, as the report quotes it.
    fn command(&self) -> String {
        let mut words = vec!["cargo run --release --example bn_compare --".to_string()];
        for e in &self.experiments {
            let value = e.to_possible_value().expect("every experiment has a name");
            words.push(value.get_name().to_string());
        }
        if self.quick {
            words.push("--quick".to_string());
        }
        if let Some(seeds) = self.seeds {
            words.push(format!("--seeds {seeds}"));
        }
        words.push(format!("--out {}", self.out.display()));
        words.join(" ")
    }
}

fn main() -> ExitCode {
    match study(&Args::parse(), std::io::stderr().is_terminal()) {
        Ok(report) => {
            eprintln!("wrote {}", report.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Measures (or reads the measurements), then writes results.json, the SVGs and the report;
/// returns the report's path.
fn study(args: &Args, show_progress: bool) -> Result<PathBuf, StudyError> {
    std::fs::create_dir_all(&args.out).map_err(|source| StudyError::Write {
        path: args.out.clone(),
        source,
    })?;
    let results = match &args.from_results {
        Some(path) => StudyResults::load(path)?,
        None => measure(args, show_progress)?,
    };
    results.save(&args.out.join("results.json"))?;
    let sections = results.experiments.render(&args.out)?;
    let report = args.out.join("report.md");
    report::write_report(&report, &results.meta, &sections)?;
    Ok(report)
}

/// Runs the chosen experiments.
fn measure(args: &Args, show_progress: bool) -> Result<StudyResults, StudyError> {
    let started = Instant::now();
    let load_average_start = load_average();
    let budget = if args.quick {
        Budget::quick()
    } else {
        Budget::full()
    };
    let seeds = args.seeds.unwrap_or(if args.quick { 1 } else { 3 }) as usize;
    let data = Dataset::mnist(Mnist::load(args.data.as_deref())?, &budget);
    let study = Study {
        data,
        budget,
        seeds: (0..seeds as u64).collect(),
        show_progress,
    };
    let mut chosen = args.experiments.clone();
    if chosen.is_empty() {
        chosen = Experiment::value_variants().to_vec();
    }
    let mut experiments = Experiments::default();
    for (i, &experiment) in chosen.iter().enumerate() {
        if !chosen[..i].contains(&experiment) {
            experiments.run(experiment, &study);
        }
    }
    let meta = Meta {
        command: args.command(),
        wall_seconds: started.elapsed().as_secs_f64(),
        quick: args.quick,
        seeds,
        threads: rayon::current_num_threads(),
        load_average_start,
        load_average_end: load_average(),
        train_images: study.data.train.len(),
        test_images: study.data.test.len(),
        budget: study.budget,
    };
    Ok(StudyResults { meta, experiments })
}
