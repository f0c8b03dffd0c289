//! The command line of `mnist_mlp`: every flag with its help, default and rule, and the
//! [`Args`] clap's matches fill in (the flags every example has are `common::run_flags`).
//!
//! `--help`, the defaults and the error messages are the ones clap's derived parser had.

use crate::args::{Act, Args, Opt};
use crate::common::cli::{defaulted, flag, non_negative, option, Cli};
use crate::common::run_flags::{Defaults, RunFlags};
use clap::builder::PossibleValue;
use clap::{value_parser, ArgAction, ArgMatches, Command, ValueEnum};

impl Cli for Args {
    fn command() -> Command {
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
            ])
            .args(RunFlags::args(Defaults {
                batch_size: "128",
                epochs: "3",
            }))
    }

    fn from_matches(matches: &ArgMatches) -> Self {
        Self {
            hidden: matches
                .get_many("hidden")
                .into_iter()
                .flatten()
                .copied()
                .collect(),
            activation: defaulted(matches, "activation"),
            dropout: defaulted(matches, "dropout"),
            optimizer: defaulted(matches, "optimizer"),
            lr: matches.get_one("lr").copied(),
            momentum: defaulted(matches, "momentum"),
            nesterov: matches.get_flag("nesterov"),
            weight_decay: matches.get_one("weight-decay").copied(),
            run: RunFlags::from_matches(matches),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flags_give_the_documented_defaults() {
        let args = Args::parse_from(&[]);
        assert_eq!(args.hidden, [512, 256]);
        assert_eq!(args.activation, Act::Relu);
        assert!(!args.run.bn && !args.nesterov);
        assert_eq!(args.dropout, 0.0);
        assert_eq!(args.optimizer, Opt::Sgd);
        assert_eq!((args.lr, args.weight_decay), (None, None));
        assert_eq!(args.momentum, 0.9);
        assert_eq!((args.run.batch_size, args.run.epochs), (128, 3));
    }

    #[test]
    fn every_flag_of_the_mlp_lands_in_its_own_field() {
        let args = Args::parse_from(&[
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
            "--epochs",
            "7",
        ]);
        assert_eq!(args.hidden, [64, 32, 16]);
        assert_eq!(args.activation, Act::Tanh);
        assert!(args.run.bn && args.nesterov);
        assert_eq!(args.dropout, 0.25);
        assert_eq!(args.optimizer, Opt::Adamw);
        assert_eq!((args.lr, args.weight_decay), (Some(0.01), Some(0.125)));
        assert_eq!(args.momentum, 0.5);
        assert_eq!(args.run.epochs, 7);
    }

    #[test]
    fn each_value_name_parses_back_to_its_variant() {
        for (name, act) in [
            ("relu", Act::Relu),
            ("sigmoid", Act::Sigmoid),
            ("tanh", Act::Tanh),
        ] {
            assert_eq!(Args::parse_from(&["--activation", name]).activation, act);
        }
        for (name, opt) in [
            ("sgd", Opt::Sgd),
            ("adam", Opt::Adam),
            ("adamw", Opt::Adamw),
        ] {
            assert_eq!(Args::parse_from(&["--optimizer", name]).optimizer, opt);
        }
    }
}
