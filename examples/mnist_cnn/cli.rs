//! The command line of `mnist_cnn`: every flag with its help, default and rule, and the
//! [`Args`] clap's matches fill in (the flags every example has are `common::run_flags`).

use crate::args::Args;
use crate::common::cli::{defaulted, flag, non_negative, option, Cli};
use crate::common::run_flags::{Defaults, RunFlags};
use clap::{value_parser, ArgMatches, Command};

impl Cli for Args {
    fn command() -> Command {
        let at_least_1 = || value_parser!(u32).range(1..);
        Command::new("mnist_cnn")
            .about("Train PyTorch's MNIST example convolutional net with tapegrad")
            .args([
                flag(
                    "bn",
                    "BatchNorm2d after each convolution and BatchNorm1d after the first Linear, \
                     each before its ReLU",
                ),
                option("lr", "LR", "SGD learning rate")
                    .default_value("0.05")
                    .value_parser(non_negative),
                option("momentum", "MOMENTUM", "SGD momentum (0 for none)")
                    .default_value("0.9")
                    .value_parser(non_negative),
                option(
                    "train-limit",
                    "N",
                    "Train on the first N training images only, for a quick run [default: all \
                     60000]",
                )
                .value_parser(at_least_1()),
                option(
                    "test-limit",
                    "N",
                    "Evaluate on the first N test images only [default: all 10000]",
                )
                .value_parser(at_least_1()),
            ])
            .args(RunFlags::args(Defaults {
                batch_size: "64",
                epochs: "1",
            }))
    }

    fn from_matches(matches: &ArgMatches) -> Self {
        let limit = |id: &str| matches.get_one::<u32>(id).map(|&n| n as usize);
        Self {
            lr: defaulted(matches, "lr"),
            momentum: defaulted(matches, "momentum"),
            train_limit: limit("train-limit"),
            test_limit: limit("test-limit"),
            run: RunFlags::from_matches(matches),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flags_give_pytorch_s_mnist_example_settings() {
        let args = Args::parse_from(&[]);
        assert_eq!((args.lr, args.momentum), (0.05, 0.9));
        assert_eq!((args.train_limit, args.test_limit), (None, None));
        assert!(!args.run.bn);
        assert_eq!((args.run.batch_size, args.run.epochs), (64, 1));
    }

    #[test]
    fn every_flag_of_the_net_lands_in_its_own_field() {
        let flags = ["--bn", "--lr=0.01", "--momentum=0.5", "--seed=9"];
        let args =
            Args::parse_from(&[&flags[..], &["--train-limit=640", "--test-limit=100"]].concat());
        assert_eq!((args.lr, args.momentum), (0.01, 0.5));
        assert_eq!((args.train_limit, args.test_limit), (Some(640), Some(100)));
        assert!(args.run.bn);
        assert_eq!(args.run.seed, 9);
    }
}
