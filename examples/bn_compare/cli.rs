//! The command line of `bn_compare`: every flag with its help and rule, and the [`Args`]
//! clap's matches fill in.
//!
//! Written with clap's builder rather than its derive macro: cargo unifies clap's features
//! across the workspace, so a derive here would put clap_derive and heck into the first
//! command's build (`cargo run --release --example mnist_mlp`) as well.

use crate::error::StudyError;
use crate::experiments::paper_fig1::{Input, PaperOptions};
use crate::experiments::Experiment;
use crate::recipe::Init;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;

/// An enum the command line names: each variant with the word the user types and its help.
pub trait Named: Copy + PartialEq + Send + Sync + 'static {
    /// Every variant with its name and help, in the order `--help` lists them.
    const NAMES: &'static [(Self, &'static str, &'static str)];

    /// The word the user types for `self`.
    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(variant, ..)| *variant == self)
            .map(|&(_, name, _)| name)
            .expect("NAMES lists every variant")
    }
}

/// The parsed command line.
pub struct Args {
    /// Experiments to run (empty: all).
    pub experiments: Vec<Experiment>,
    /// Every experiment at a reduced size.
    pub quick: bool,
    /// Runs per setting, if given.
    pub seeds: Option<u32>,
    /// Folder for report.md, results.json and the SVGs.
    pub out: PathBuf,
    /// Folder with the MNIST files, if given.
    pub data: Option<PathBuf>,
    /// paper-fig1's `--init`.
    pub init: Option<Init>,
    /// paper-fig1's `--input`.
    pub input: Option<Input>,
    /// paper-fig1's `--lr`.
    pub lr: Option<f64>,
    /// Print the estimate and stop.
    pub dry_run: bool,
    /// Render again from this results.json.
    pub from_results: Option<PathBuf>,
    /// Merge into OUT/results.json instead of replacing it.
    pub merge: bool,
}

impl Args {
    /// The flags as clap parses them: help, defaults and rules.
    pub fn cli() -> Command {
        let path = |name: &'static str, value_name: &'static str, help: &'static str| {
            option(name, value_name, help).value_parser(value_parser!(PathBuf))
        };
        Command::new("bn_compare")
            .about(
                "BatchNorm on MNIST: every claim measured, with and without, with intervals and \
                 plots",
            )
            .args([
                Arg::new("experiments")
                    .value_name("EXPERIMENTS")
                    .help("Experiments to run [default: all]")
                    .action(ArgAction::Append)
                    .value_parser(choice::<Experiment>()),
                flag(
                    "quick",
                    "Every experiment at a reduced size (seconds): checks that the study runs",
                ),
                option(
                    "seeds",
                    "SEEDS",
                    "Runs per setting, seeds 0 to N-1 [default: 5, and 3 for runs over a \
                     minute; 2 with --quick]",
                )
                .value_parser(value_parser!(u32).range(1..=100)),
                path(
                    "out",
                    "OUT",
                    "Folder for report.md, results.json and the SVGs (created if missing)",
                )
                .required(true),
                path(
                    "data",
                    "DATA",
                    "Folder with the MNIST files [default: $MNIST_DIR, else datasets/mnist, \
                     downloaded if missing]",
                ),
                option(
                    "init",
                    "INIT",
                    "paper-fig1: how the Linear weights are drawn (normal: N(0, 1/fan_in), \
                     biases 0)",
                )
                .value_parser(choice::<Init>()),
                option(
                    "input",
                    "INPUT",
                    "paper-fig1: binary pixels (the paper's), or standardized ones",
                )
                .value_parser(choice::<Input>()),
                option(
                    "lr",
                    "LR",
                    "paper-fig1: the learning rate of both models [default: each chosen on the \
                     validation images]",
                )
                .value_parser(positive),
                flag(
                    "merge",
                    "Keep the other experiments of OUT/results.json: the experiments run now \
                     replace theirs, and the report covers them all",
                ),
                flag(
                    "dry-run",
                    "Print the estimated wall time of each experiment and stop, without training",
                ),
                path(
                    "from-results",
                    "FROM_RESULTS",
                    "Render report.md and the SVGs again from this results.json, without \
                     training",
                )
                .conflicts_with_all([
                    "experiments",
                    "quick",
                    "seeds",
                    "data",
                    "init",
                    "input",
                    "lr",
                    "dry-run",
                    "merge",
                ]),
            ])
    }

    /// The process's flags; on a bad one clap prints what and why and exits 2.
    pub fn parse() -> Self {
        Self::from_matches(&Self::cli().get_matches())
    }

    /// `words` (the program's name first) parsed, or clap's error.
    #[cfg(test)]
    pub fn try_parse_from<I, T>(words: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Ok(Self::from_matches(
            &Self::cli().try_get_matches_from(words)?,
        ))
    }

    /// The values of [`Args::cli`]'s matches, each flag in its field.
    fn from_matches(matches: &ArgMatches) -> Self {
        let file = |id: &str| matches.get_one::<PathBuf>(id).cloned();
        Self {
            experiments: matches
                .get_many("experiments")
                .into_iter()
                .flatten()
                .copied()
                .collect(),
            quick: matches.get_flag("quick"),
            seeds: matches.get_one("seeds").copied(),
            out: file("out").expect("--out is required"),
            data: file("data"),
            init: matches.get_one("init").copied(),
            input: matches.get_one("input").copied(),
            lr: matches.get_one("lr").copied(),
            dry_run: matches.get_flag("dry-run"),
            from_results: file("from-results"),
            merge: matches.get_flag("merge"),
        }
    }

    /// The options of `paper-fig1`; an error if they are given without it.
    pub fn paper(&self) -> Result<PaperOptions, StudyError> {
        let given = self.init.is_some() || self.input.is_some() || self.lr.is_some();
        let runs_paper =
            self.experiments.is_empty() || self.experiments.contains(&Experiment::PaperFig1);
        if given && !runs_paper {
            return Err(StudyError::Usage(
                "--init, --input and --lr apply to paper-fig1, which is not among the experiments"
                    .to_string(),
            ));
        }
        let default = PaperOptions::default();
        Ok(PaperOptions {
            init: self.init.unwrap_or(default.init),
            input: self.input.unwrap_or(default.input),
            lr: self.lr,
        })
    }

    /// The command line, as the report quotes it.
    pub fn command(&self) -> String {
        let mut words = vec!["cargo run --release --example bn_compare --".to_string()];
        words.extend(self.experiments.iter().map(|e| e.name().to_string()));
        if self.quick {
            words.push("--quick".to_string());
        }
        if let Some(seeds) = self.seeds {
            words.push(format!("--seeds {seeds}"));
        }
        if let Some(init) = self.init {
            words.push(format!("--init {}", init.name()));
        }
        if let Some(input) = self.input {
            words.push(format!("--input {}", input.name()));
        }
        if let Some(lr) = self.lr {
            words.push(format!("--lr {lr}"));
        }
        words.push(format!("--out {}", self.out.display()));
        if self.merge {
            words.push("--merge".to_string());
        }
        words.join(" ")
    }
}

/// The values of a [`Named`] enum, listed in `--help` with their help.
fn choice<T: Named>() -> impl TypedValueParser<Value = T> {
    let values = T::NAMES
        .iter()
        .map(|&(_, name, help)| PossibleValue::new(name).help(help));
    PossibleValuesParser::new(values).map(|word| {
        T::NAMES
            .iter()
            .find(|&&(_, name, _)| name == word)
            .map(|&(variant, ..)| variant)
            .expect("clap accepts only the listed names")
    })
}

/// `--NAME <VALUE>`.
fn option(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value_name)
        .help(help)
        .action(ArgAction::Set)
}

/// `--NAME`, a switch that is off unless given.
fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .help(help)
        .action(ArgAction::SetTrue)
}

/// A positive, finite number (a learning rate).
fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a positive number, got {text:?}")),
    }
}
