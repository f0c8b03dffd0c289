//! The flags every MNIST example has, whatever its model: the batches, the epochs, the seed,
//! the threads, where the data comes from and where the results go, and `--bn`. Each
//! example declares `--bn` itself (its help names the layers it adds) and these with
//! [`RunFlags::args`]; [`RunFlags::from_matches`] reads them all.

use super::cli::{defaulted, flag, option, path};
use super::paths::check_outputs;
use clap::{value_parser, Arg, ArgMatches};
use std::path::PathBuf;

/// The values of the flags every example has.
pub struct RunFlags {
    /// `--bn`: BatchNorm in the model (which layers, each example says).
    pub bn: bool,
    /// `--batch-size`: samples per batch, at least 1.
    pub batch_size: u32,
    /// `--epochs`: epochs in total, at least 1 (a resumed run continues up to this many).
    pub epochs: u32,
    /// `--seed`: the seed of the initialisation, the shuffling and dropout.
    pub seed: u64,
    /// `--threads`, if given (all cores otherwise).
    pub threads: Option<u32>,
    /// `--data`: the MNIST folder, if given (`Mnist::load` looks elsewhere otherwise).
    pub data: Option<PathBuf>,
    /// `--save`: where a full checkpoint is written after each epoch.
    pub save: Option<PathBuf>,
    /// `--resume`: the checkpoint of the run to continue.
    pub resume: Option<PathBuf>,
    /// `--export`: where the final weights are written as safetensors.
    pub export: Option<PathBuf>,
    /// `--json`: one JSON object as the last line of stdout, and no progress bar.
    pub json: bool,
}

/// The defaults that differ from example to example, as clap takes them (text).
pub struct Defaults {
    /// `--batch-size`.
    pub batch_size: &'static str,
    /// `--epochs`.
    pub epochs: &'static str,
}

impl RunFlags {
    /// The flags' declarations, in the order `--help` lists them after the model's own.
    pub fn args(defaults: Defaults) -> [Arg; 9] {
        let at_least_1 = || value_parser!(u32).range(1..);
        [
            option("batch-size", "BATCH_SIZE", "Samples per batch")
                .default_value(defaults.batch_size)
                .value_parser(at_least_1()),
            option(
                "epochs",
                "EPOCHS",
                "Epochs in total (a resumed run continues up to this many)",
            )
            .default_value(defaults.epochs)
            .value_parser(at_least_1()),
            option(
                "seed",
                "SEED",
                "Seed of the initialisation, the shuffling and dropout",
            )
            .default_value("0")
            .value_parser(value_parser!(u64)),
            option(
                "threads",
                "THREADS",
                "Worker threads [default: all cores, at most 4 per core]; results are \
                 bit-identical for any count",
            )
            .value_parser(at_least_1()),
            path(
                "data",
                "DATA",
                "Folder with the MNIST files [default: $MNIST_DIR, else datasets/mnist, \
                 downloaded if missing]",
            ),
            path(
                "save",
                "SAVE",
                "Write a full checkpoint here after each epoch (atomically)",
            ),
            path(
                "resume",
                "RESUME",
                "Continue the run saved in this checkpoint, up to --epochs in total",
            ),
            path(
                "export",
                "EXPORT",
                "Write the final weights as safetensors with PyTorch's names",
            ),
            flag(
                "json",
                "Print one JSON object as the last line of stdout (and no progress bar)",
            ),
        ]
    }

    /// The values of [`RunFlags::args`] and `--bn` in `matches`.
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let file = |id: &str| matches.get_one::<PathBuf>(id).cloned();
        RunFlags {
            bn: matches.get_flag("bn"),
            batch_size: defaulted(matches, "batch-size"),
            epochs: defaulted(matches, "epochs"),
            seed: defaulted(matches, "seed"),
            threads: matches.get_one("threads").copied(),
            data: file("data"),
            save: file("save"),
            resume: file("resume"),
            export: file("export"),
            json: matches.get_flag("json"),
        }
    }

    /// Checks what clap cannot, before any data is read: a `--save` or `--export` path that
    /// cannot be written, or an `--export` that would overwrite the checkpoint, would only
    /// fail or do harm after training; BatchNorm cannot train on a batch of one sample.
    pub fn validate(&self) -> Result<(), String> {
        check_outputs(
            self.save.as_deref(),
            self.export.as_deref(),
            self.resume.as_deref(),
        )?;
        if self.bn && self.batch_size < 2 {
            return Err(format!(
                "--batch-size {} with --bn: BatchNorm needs at least 2 samples per batch to \
                 measure a variance",
                self.batch_size
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::cli::matches;
    use clap::Command;

    fn parse(flags: &[&str]) -> RunFlags {
        let defaults = Defaults {
            batch_size: "32",
            epochs: "5",
        };
        let command = Command::new("example")
            .arg(flag("bn", "BatchNorm"))
            .args(RunFlags::args(defaults));
        RunFlags::from_matches(&matches(command, flags))
    }

    #[test]
    fn no_flags_give_the_example_s_defaults_and_nothing_else() {
        let run = parse(&[]);
        assert!(!run.bn && !run.json);
        assert_eq!((run.batch_size, run.epochs, run.seed), (32, 5, 0));
        assert_eq!(run.threads, None);
        assert!(run.data.is_none() && run.save.is_none());
        assert!(run.resume.is_none() && run.export.is_none());
    }

    #[test]
    fn every_flag_lands_in_its_own_field() {
        let run = parse(&[
            "--bn",
            "--batch-size=64",
            "--epochs=7",
            "--seed=11",
            "--threads=2",
            "--data=d",
            "--save=s",
            "--resume=r",
            "--export=e",
            "--json",
        ]);
        assert!(run.bn && run.json);
        assert_eq!((run.batch_size, run.epochs, run.seed), (64, 7, 11));
        assert_eq!(run.threads, Some(2));
        let paths = [&run.data, &run.save, &run.resume, &run.export];
        let paths: Vec<_> = paths.iter().map(|p| p.as_deref().unwrap()).collect();
        assert_eq!(paths, ["d", "s", "r", "e"].map(std::path::Path::new));
    }

    #[test]
    fn a_batch_of_one_with_batch_norm_is_refused() {
        let err = parse(&["--bn", "--batch-size=1"]).validate().unwrap_err();
        assert!(err.contains("--batch-size 1 with --bn"), "{err}");
        parse(&["--batch-size=1"]).validate().unwrap();
    }
}
