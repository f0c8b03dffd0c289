//! The command line of `mnist_mlp`: every flag with its help, default and rule, and the
//! [`Args`] clap's matches fill in.
//!
//! Written with clap's builder rather than its derive macro: cargo unifies clap's features
//! across the workspace, and with no member asking for `derive` the first command (`cargo run
//! --release --example mnist_mlp`) builds two crates fewer (clap_derive and heck). `--help`,
//! the defaults and the error messages are the ones the derived parser had.

use crate::args::{Act, Args, Opt};
use clap::builder::PossibleValue;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command, ValueEnum};
use std::path::PathBuf;

impl Args {
    /// The flags as clap parses them: help, defaults and rules (the checks that need more
    /// than one flag, or the file system, are [`Args::validate`]).
    pub fn command() -> Command {
        let at_least_1 = || value_parser!(u32).range(1..);
        Command::new("mnist_mlp")
            .about("Train a multi-layer perceptron on MNIST with tapegrad")
            .args([
                option("hidden", "HIDDEN", "Hidden layer widths, comma-separated")
                    .action(ArgAction::Append)
                    .value_delimiter(',')
                    .default_value("512,256")
                    .value_parser(at_least_1()),
                option(
                    "activation",
                    "ACTIVATION",
                    "Activation of the hidden layers",
                )
                .default_value("relu")
                .value_parser(value_parser!(Act)),
                flag("bn", "BatchNorm1d after each hidden Linear"),
                option(
                    "dropout",
                    "DROPOUT",
                    "Dropout probability after each hidden activation, in [0, 1)",
                )
                .default_value("0")
                .value_parser(probability),
                option("optimizer", "OPTIMIZER", "The optimizer")
                    .default_value("sgd")
                    .value_parser(value_parser!(Opt)),
                option(
                    "lr",
                    "LR",
                    "Learning rate [default: 0.1 for sgd, 0.001 for adam and adamw]",
                )
                .value_parser(non_negative),
                option("momentum", "MOMENTUM", "SGD momentum (0 for none)")
                    .default_value("0.9")
                    .value_parser(non_negative),
                flag("nesterov", "Nesterov momentum (SGD)"),
                option(
                    "weight-decay",
                    "WEIGHT_DECAY",
                    "Weight decay: L2 for sgd and adam, decoupled for adamw [default: 0, 0.01 \
                     for adamw]",
                )
                .value_parser(non_negative),
                option("batch-size", "BATCH_SIZE", "Samples per batch")
                    .default_value("128")
                    .value_parser(at_least_1()),
                option(
                    "epochs",
                    "EPOCHS",
                    "Epochs in total (a resumed run continues up to this many)",
                )
                .default_value("3")
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
            ])
    }

    /// The process's flags; on a bad one clap prints what and why with the usage line and
    /// exits 2 (`--help` prints the help and exits 0).
    pub fn parse() -> Self {
        Self::from_matches(&Self::command().get_matches())
    }

    /// The values of [`Args::command`]'s matches, each flag in its field.
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let file = |id: &str| matches.get_one::<PathBuf>(id).cloned();
        Self {
            hidden: matches
                .get_many("hidden")
                .into_iter()
                .flatten()
                .copied()
                .collect(),
            activation: defaulted(matches, "activation"),
            bn: matches.get_flag("bn"),
            dropout: defaulted(matches, "dropout"),
            optimizer: defaulted(matches, "optimizer"),
            lr: matches.get_one("lr").copied(),
            momentum: defaulted(matches, "momentum"),
            nesterov: matches.get_flag("nesterov"),
            weight_decay: matches.get_one("weight-decay").copied(),
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
}

/// `--NAME <VALUE>`, spelled as clap's derive spells a field's flag. Negative numbers parse
/// as values, so `--lr -0.1` is refused by the flag's own rule instead of as an unknown `-0`
/// flag.
fn option(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value_name)
        .help(help)
        .action(ArgAction::Set)
        .allow_negative_numbers(true)
}

/// `--NAME <VALUE>` naming a file or folder.
fn path(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    option(name, value_name, help).value_parser(value_parser!(PathBuf))
}

/// `--NAME`, a switch that is off unless given.
fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .help(help)
        .action(ArgAction::SetTrue)
}

/// The value of a flag that has a default, so clap always holds one.
fn defaulted<T: Clone + Send + Sync + 'static>(matches: &ArgMatches, id: &str) -> T {
    matches
        .get_one::<T>(id)
        .cloned()
        .unwrap_or_else(|| panic!("--{id} has a default value"))
}

/// `clap::ValueEnum` for an enum of flag values, each variant with the name the user types
/// (what the derive would generate, in a few lines without its crates).
macro_rules! value_enum {
    ($enum:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl ValueEnum for $enum {
            fn value_variants<'a>() -> &'a [Self] {
                &[$(Self::$variant),+]
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(match self {
                    $(Self::$variant => $name),+
                }))
            }
        }
    };
}

value_enum!(Act {
    Relu => "relu",
    Sigmoid => "sigmoid",
    Tanh => "tanh",
});

value_enum!(Opt {
    Sgd => "sgd",
    Adam => "adam",
    Adamw => "adamw",
});

/// A probability in [0, 1) as f32, the type dropout uses: a value just below 1 that rounds to
/// 1 in f32 is refused saying so, with the value as the user wrote it.
fn probability(s: &str) -> Result<f32, String> {
    let p: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else if p == 1.0 && s.parse::<f64>().is_ok_and(|v| v < 1.0) {
        Err(format!(
            "must be in [0, 1), got {s}, which rounds to 1 as a 32-bit float"
        ))
    } else {
        Err(format!("must be in [0, 1), got {s}"))
    }
}

/// A finite number >= 0 that stays finite as the f32 the optimizers compute with: 1e39 is
/// finite as f64 but infinite as f32, and would show up as a diverged run instead of a bad
/// flag.
fn non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(v >= 0.0 && v.is_finite()) {
        Err(format!("must be a finite number >= 0, got {s}"))
    } else if !(v as f32).is_finite() {
        Err(format!(
            "must be a finite number >= 0, got {s}, beyond the largest 32-bit float ({:e})",
            f32::MAX
        ))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Args {
        let argv = std::iter::once("mnist_mlp").chain(flags.iter().copied());
        Args::from_matches(&Args::command().try_get_matches_from(argv).unwrap())
    }

    #[test]
    fn the_command_passes_clap_s_own_checks() {
        Args::command().debug_assert();
    }

    #[test]
    fn no_flags_give_the_documented_defaults() {
        let args = parse(&[]);
        assert_eq!(args.hidden, [512, 256]);
        assert_eq!(args.activation, Act::Relu);
        assert!(!args.bn && !args.nesterov && !args.json);
        assert_eq!(args.dropout, 0.0);
        assert_eq!(args.optimizer, Opt::Sgd);
        assert_eq!((args.lr, args.weight_decay), (None, None));
        assert_eq!(args.momentum, 0.9);
        assert_eq!((args.batch_size, args.epochs, args.seed), (128, 3, 0));
        assert_eq!(args.threads, None);
        assert!(args.data.is_none() && args.save.is_none());
        assert!(args.resume.is_none() && args.export.is_none());
    }

    #[test]
    fn every_flag_lands_in_its_own_field() {
        let args = parse(&[
            "--hidden",
            "64,32,16",
            "--activation",
            "tanh",
            "--bn",
            "--dropout",
            "0.25",
            "--optimizer",
            "adamw",
            "--lr",
            "0.01",
            "--momentum",
            "0.5",
            "--nesterov",
            "--weight-decay",
            "0.125",
            "--batch-size",
            "64",
            "--epochs",
            "7",
            "--seed",
            "11",
            "--threads",
            "2",
            "--data",
            "d",
            "--save",
            "s",
            "--resume",
            "r",
            "--export",
            "e",
            "--json",
        ]);
        assert_eq!(args.hidden, [64, 32, 16]);
        assert_eq!(args.activation, Act::Tanh);
        assert!(args.bn && args.nesterov && args.json);
        assert_eq!(args.dropout, 0.25);
        assert_eq!(args.optimizer, Opt::Adamw);
        assert_eq!((args.lr, args.weight_decay), (Some(0.01), Some(0.125)));
        assert_eq!(args.momentum, 0.5);
        assert_eq!((args.batch_size, args.epochs, args.seed), (64, 7, 11));
        assert_eq!(args.threads, Some(2));
        let paths = [&args.data, &args.save, &args.resume, &args.export];
        let paths: Vec<_> = paths.iter().map(|p| p.as_deref().unwrap()).collect();
        assert_eq!(paths, ["d", "s", "r", "e"].map(std::path::Path::new));
    }

    #[test]
    fn each_value_name_parses_back_to_its_variant() {
        for (name, act) in [
            ("relu", Act::Relu),
            ("sigmoid", Act::Sigmoid),
            ("tanh", Act::Tanh),
        ] {
            assert_eq!(parse(&["--activation", name]).activation, act);
        }
        for (name, opt) in [
            ("sgd", Opt::Sgd),
            ("adam", Opt::Adam),
            ("adamw", Opt::Adamw),
        ] {
            assert_eq!(parse(&["--optimizer", name]).optimizer, opt);
        }
    }
}
