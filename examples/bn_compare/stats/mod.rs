//! The study's statistics: a mean with its 95 % interval over seeds, the effect of a change
//! with its interval (paired t, bootstrap, Wilson), the t distribution they rest on, and
//! percentiles.

mod bootstrap;
mod crossing;
mod curves;
mod effect;
mod percentile;
mod proportion;
mod student;
mod summary;

pub use bootstrap::{bootstrap, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED};
pub use crossing::{first_reach, lerp};
pub use curves::by_step;
pub use effect::{paired_difference, paired_log_ratio, Effect, Method, Side};
pub use percentile::percentile;
pub use proportion::wilson;
pub use summary::Summary;
