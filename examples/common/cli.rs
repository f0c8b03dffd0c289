//! The pieces the examples' command lines are built from: the [`Cli`] each example's flags
//! implement, a flag spelled as clap's derive spells a field's, the value of a flag with a
//! default, and the rule of a number that must stay finite as `f32`.
//!
//! Written with clap's builder rather than its derive macro: cargo unifies clap's features
//! across the workspace, and with no member asking for `derive` the first command (`cargo run
//! --release --example mnist_mlp`) builds two crates fewer (clap_derive and heck).

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;

/// An example's command line: its flags as clap declares them, and the values they fill in.
pub trait Cli: Sized {
    /// The flags as clap parses them: help, defaults and rules (the checks that need more
    /// than one flag, the data or the file system are made before training).
    fn command() -> Command;

    /// The values of [`Cli::command`]'s matches, each flag in its field.
    fn from_matches(matches: &ArgMatches) -> Self;

    /// The process's flags; on a bad one clap prints what and why with the usage line and
    /// exits 2 (`--help` prints the help and exits 0).
    fn parse() -> Self {
        Self::from_matches(&Self::command().get_matches())
    }

    /// The values of `flags` (without the program's name), for tests.
    #[cfg(test)]
    fn parse_from(flags: &[&str]) -> Self {
        Self::from_matches(&matches(Self::command(), flags))
    }
}

/// `--NAME <VALUE>`, spelled as clap's derive spells a field's flag. Negative numbers parse
/// as values, so `--lr -0.1` is refused by the flag's own rule instead of as an unknown `-0`
/// flag.
pub fn option(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value_name)
        .help(help)
        .action(ArgAction::Set)
        .allow_negative_numbers(true)
}

/// `--NAME <VALUE>` naming a file or folder.
pub fn path(name: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    option(name, value_name, help).value_parser(value_parser!(PathBuf))
}

/// `--NAME`, a switch that is off unless given.
pub fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .help(help)
        .action(ArgAction::SetTrue)
}

/// The value of a flag that has a default, so clap always holds one.
pub fn defaulted<T: Clone + Send + Sync + 'static>(matches: &ArgMatches, id: &str) -> T {
    matches
        .get_one::<T>(id)
        .cloned()
        .unwrap_or_else(|| panic!("--{id} has a default value"))
}

/// A finite number >= 0 that stays finite as the f32 the optimizers compute with: 1e39 is
/// finite as f64 but infinite as f32, and would show up as a diverged run instead of a bad
/// flag.
pub fn non_negative(s: &str) -> Result<f64, String> {
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

/// `command`'s matches of `flags`, checked by clap's own debug assertions first; for tests.
#[cfg(test)]
pub fn matches(command: Command, flags: &[&str]) -> ArgMatches {
    command.clone().debug_assert();
    let argv =
        std::iter::once(command.get_name().to_string()).chain(flags.iter().map(|f| f.to_string()));
    command.try_get_matches_from(argv).unwrap()
}
