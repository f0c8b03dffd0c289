//! How a run ends and the exit status each ending gives: 0 done, 2 bad arguments or data
//! (refused before training), 3 training diverged, 130 stopped by Ctrl-C, 141 stdout's reader
//! went away (`| head`).

use super::report;
use std::process::ExitCode;
use tapegrad::train::EpochError;

/// How a run that did not fail ended.
pub enum Ended {
    /// Every epoch ran (exit 0).
    Done,
    /// Ctrl-C, after the current step and save (exit 130).
    Interrupted,
    /// Stdout was closed by its reader, after the current save (exit 141).
    ReaderGone,
}

/// Why the run stopped: bad input (exit 2) or divergence (exit 3).
pub enum Failure {
    /// Bad flags, data, checkpoint or destination, with what and where.
    Input(String),
    /// A non-finite loss, with the epoch and step.
    Diverged(String),
}

/// Any error as bad input (exit 2).
pub fn input(e: impl ToString) -> Failure {
    Failure::Input(e.to_string())
}

/// An epoch's error as the run's failure: a divergence exits 3, anything else 2.
pub fn failure(error: EpochError) -> Failure {
    match error {
        EpochError::Diverged(diverged) => Failure::Diverged(diverged.to_string()),
        other => input(other),
    }
}

/// The exit status of a run's result, its message on stderr.
pub fn exit_code(result: Result<Ended, Failure>) -> ExitCode {
    match result {
        Ok(Ended::Done) => ExitCode::SUCCESS,
        Ok(Ended::Interrupted) => {
            report::error("interrupted: stopped after the current step; a --save checkpoint holds the last finished epoch");
            ExitCode::from(130)
        }
        Ok(Ended::ReaderGone) => ExitCode::from(141),
        Err(Failure::Input(message)) => {
            report::error(format_args!("error: {message}"));
            ExitCode::from(2)
        }
        Err(Failure::Diverged(message)) => {
            report::error(format_args!("error: {message}"));
            ExitCode::from(3)
        }
    }
}
