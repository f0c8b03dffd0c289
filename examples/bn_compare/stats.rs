//! Summaries over seeds (mean and spread) and percentiles.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The mean of a set of numbers and their spread (smallest and largest): what a plot shows
/// as a line and a shaded band.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// The mean.
    pub mean: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Band {
    /// No value: every run of a setting diverged. Charts break their line there.
    pub const NONE: Band = Band {
        mean: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
        n: 0,
    };

    /// The band of `values`; `None` if there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Band> {
        let mut band = Band {
            mean: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            n: 0,
        };
        for v in values {
            band.mean += v;
            band.min = band.min.min(v);
            band.max = band.max.max(v);
            band.n += 1;
        }
        (band.n > 0).then(|| Band {
            mean: band.mean / band.n as f64,
            ..band
        })
    }

    /// The same band with every value multiplied by `factor` (fractions to percent).
    pub fn scaled(self, factor: f64) -> Band {
        Band {
            mean: self.mean * factor,
            min: self.min * factor,
            max: self.max * factor,
            n: self.n,
        }
    }
}

/// Per step, the band of the values several runs (seeds) have at that step. A run that
/// stopped early (diverged) counts only at the steps it reached.
pub fn by_step(curves: impl IntoIterator<Item = Vec<(usize, f64)>>) -> Vec<(usize, Band)> {
    let mut at: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for curve in curves {
        for (step, value) in curve {
            at.entry(step).or_default().push(value);
        }
    }
    at.into_iter()
        .filter_map(|(step, values)| Band::of(values).map(|b| (step, b)))
        .collect()
}

/// The `p`-th percentile (0 to 100) of `values`, interpolating linearly between the two
/// nearest ranks (numpy's default); `values` need not be sorted. NaN if empty.
pub fn percentile(values: &[f32], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_of_values() {
        let b = Band::of([1.0, 3.0, 2.0]).unwrap();
        assert_eq!((b.mean, b.min, b.max, b.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(Band::of([]), None);
    }

    #[test]
    fn percentiles_interpolate_as_numpy() {
        let v = [4.0, 1.0, 3.0, 2.0];
        // numpy.percentile([1, 2, 3, 4], [0, 15, 50, 85, 100]) = [1, 1.45, 2.5, 3.55, 4]
        for (p, want) in [
            (0.0, 1.0),
            (15.0, 1.45),
            (50.0, 2.5),
            (85.0, 3.55),
            (100.0, 4.0),
        ] {
            assert!((percentile(&v, p) - want).abs() < 1e-12, "p{p}");
        }
    }

    #[test]
    fn runs_that_stop_early_count_where_they_reached() {
        let bands = by_step([vec![(0, 1.0), (10, 3.0)], vec![(0, 3.0)]]);
        assert_eq!(bands.len(), 2);
        assert_eq!((bands[0].1.mean, bands[0].1.n), (2.0, 2));
        assert_eq!((bands[1].1.mean, bands[1].1.n), (3.0, 1));
    }
}
