//! The integration tests of tapegrad-data, in one binary (one link instead of nine).
//!
//! Every test writes the small files it needs into its own temporary directory, except
//! `real_mnist`, which loads the real data set and fails (never skips) when it is missing.

mod alloc;
mod batches;
mod checksum;
mod common;
mod download;
mod faults;
mod idx;
mod location;
mod mnist;
mod proptest_idx;
mod real_mnist;
mod server;
