//! The percentile bootstrap, seeded: for statistics a t-interval does not fit (a spread over
//! settings, the highest good learning rate, a difference of two rates).

use super::percentile;
use tapegrad::layers::rand::Rng;
use tapegrad::layers::seeded_rng;

/// Resamples per bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// The seed of every bootstrap of the study, so that a report renders the same intervals
/// every time from the same results.
pub const BOOTSTRAP_SEED: u64 = 0;

/// The 95 % percentile-bootstrap interval of `statistic` over `units` independent units
/// (seeds, or paired runs): `resamples` times, `units` indices drawn with replacement from
/// the ChaCha8 generator of `seed` are handed to `statistic`, and the 2.5th and 97.5th
/// percentiles of its values are returned. A resample where the statistic is undefined
/// (`None`) is left out; `None` if most are, or if there are fewer than two units.
pub fn bootstrap(
    units: usize,
    resamples: usize,
    seed: u64,
    statistic: impl Fn(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if units < 2 {
        return None;
    }
    let mut rng = seeded_rng(seed);
    let mut draw = vec![0; units];
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        draw.iter_mut()
            .for_each(|d| *d = rng.random_range(0..units));
        if let Some(v) = statistic(&draw).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    (values.len() * 2 > resamples).then(|| (percentile(&values, 2.5), percentile(&values, 97.5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(values: &[f64]) -> impl Fn(&[usize]) -> Option<f64> + '_ {
        move |draw| Some(draw.iter().map(|&i| values[i]).sum::<f64>() / draw.len() as f64)
    }

    #[test]
    fn the_same_seed_gives_the_same_interval_and_another_seed_another() {
        let values = [0.1, 0.4, 0.35, 0.8, 0.55, 0.2, 0.9];
        let a = bootstrap(values.len(), 500, 7, mean_of(&values)).unwrap();
        let b = bootstrap(values.len(), 500, 7, mean_of(&values)).unwrap();
        let c = bootstrap(values.len(), 500, 8, mean_of(&values)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_interval_of_a_mean_surrounds_the_mean_within_the_data() {
        let values = [0.1, 0.4, 0.35, 0.8, 0.55, 0.2, 0.9];
        let mean = values.iter().sum::<f64>() / 7.0;
        let (lo, hi) = bootstrap(values.len(), 2000, 0, mean_of(&values)).unwrap();
        assert!(lo < mean && mean < hi, "{lo} {mean} {hi}");
        assert!(lo >= 0.1 && hi <= 0.9);
    }

    #[test]
    fn undefined_statistics_and_single_units_give_no_interval() {
        assert_eq!(bootstrap(1, 100, 0, |_| Some(1.0)), None);
        assert_eq!(bootstrap(5, 100, 0, |_| None), None);
    }
}
