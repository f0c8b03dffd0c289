//! What the MNIST examples share beside their loops: the flags every run has and their
//! checks, the checks before training, checkpoints and atomic writes, what is printed,
//! Ctrl-C, and the exit status. Each example includes this folder as its module `common`
//! (`#[path = "../common/mod.rs"]`); its own files hold its model, its flags and its loop.

pub mod checkpointing;
pub mod cli;
pub mod epochs;
pub mod interrupt;
pub mod outcome;
pub mod paths;
pub mod preflight;
pub mod report;
pub mod run_flags;
