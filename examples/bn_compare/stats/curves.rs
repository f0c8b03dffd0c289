//! Curves over training steps summarised over seeds.

use super::Summary;
use std::collections::BTreeMap;

/// Per step, the summary of the values several runs (seeds) have at that step. A run that
/// stopped early (diverged) counts only at the steps it reached.
pub fn by_step(curves: impl IntoIterator<Item = Vec<(usize, f64)>>) -> Vec<(usize, Summary)> {
    let mut at: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for curve in curves {
        for (step, value) in curve {
            at.entry(step).or_default().push(value);
        }
    }
    at.into_iter()
        .filter_map(|(step, values)| Summary::of(values).map(|s| (step, s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_that_stop_early_count_where_they_reached() {
        let steps = by_step([vec![(0, 1.0), (10, 3.0)], vec![(0, 3.0)]]);
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[0].1.mean, steps[0].1.n), (2.0, 2));
        assert_eq!((steps[1].1.mean, steps[1].1.n), (3.0, 1));
    }
}
