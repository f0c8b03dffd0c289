//! A mean over seeds with its 95 % t-interval: what tables print and plots draw as a line
//! with a shaded band.

use super::student::t_quantile;

/// The mean of a few values (one per seed), its two-sided 95 % confidence interval from
/// Student's t (`mean ± t(0.975, n - 1) · s / sqrt(n)`, `s` the sample standard deviation),
/// and the smallest and largest value. With one value there is no interval: `lo = hi =
/// mean`, and [`Summary::has_interval`] is false.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The mean.
    pub mean: f64,
    /// The lower end of the 95 % interval.
    pub lo: f64,
    /// The upper end of the 95 % interval.
    pub hi: f64,
    /// The sample standard deviation (0 for one value).
    pub sd: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Summary {
    /// No value (every run of a setting diverged): charts break their line there.
    pub const NONE: Summary = Summary {
        mean: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
        sd: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
        n: 0,
    };

    /// The summary of `values`; `None` if there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
        let values: Vec<f64> = values.into_iter().collect();
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        if n == 1 {
            let one = Summary {
                mean,
                lo: mean,
                hi: mean,
                sd: 0.0,
                min,
                max,
                n,
            };
            return Some(one);
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        let half = t_quantile(0.975, (n - 1) as f64) * sd / (n as f64).sqrt();
        Some(Summary {
            mean,
            lo: mean - half,
            hi: mean + half,
            sd,
            min,
            max,
            n,
        })
    }

    /// A mean with an interval computed elsewhere (a Wilson interval, say) over `n` units.
    pub fn interval(mean: f64, lo: f64, hi: f64, n: usize) -> Summary {
        Summary {
            mean,
            lo,
            hi,
            sd: f64::NAN,
            min: lo,
            max: hi,
            n,
        }
    }

    /// Whether there is an interval (two values or more).
    pub fn has_interval(&self) -> bool {
        self.n > 1
    }

    /// The same summary with every value multiplied by `factor` (fractions to percent).
    pub fn scaled(self, factor: f64) -> Summary {
        let (lo, hi) = if factor >= 0.0 {
            (self.lo * factor, self.hi * factor)
        } else {
            (self.hi * factor, self.lo * factor)
        };
        let (min, max) = if factor >= 0.0 {
            (self.min * factor, self.max * factor)
        } else {
            (self.max * factor, self.min * factor)
        };
        Summary {
            mean: self.mean * factor,
            lo,
            hi,
            sd: self.sd * factor.abs(),
            min,
            max,
            n: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: values 1..5 have mean 3 and sample variance 10/4 = 2.5, so s = 1.581139 and
    /// s/sqrt(5) = 0.707107; the t-table gives t(0.975, 4) = 2.776445; half-width
    /// 2.776445 x 0.707107 = 1.963243, interval [1.036757, 4.963243].
    #[test]
    fn the_interval_of_one_to_five_is_the_hand_computed_one() {
        let s = Summary::of([4.0, 1.0, 5.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.min, s.max, s.n), (3.0, 1.0, 5.0, 5));
        assert!((s.sd - 1.581139).abs() < 1e-6);
        assert!((s.lo - 1.036757).abs() < 1e-5, "{}", s.lo);
        assert!((s.hi - 4.963243).abs() < 1e-5, "{}", s.hi);
    }

    /// Two values 0 and 1: s = 0.707107, s/sqrt(2) = 0.5, t(0.975, 1) = 12.706205: the
    /// interval is 0.5 ± 6.353102.
    #[test]
    fn two_values_give_the_wide_interval_of_one_degree_of_freedom() {
        let s = Summary::of([0.0, 1.0]).unwrap();
        assert!((s.hi - s.mean - 6.353102).abs() < 1e-5);
        assert!(s.has_interval());
    }

    #[test]
    fn one_value_has_no_interval_and_none_no_summary() {
        let s = Summary::of([0.25]).unwrap();
        assert_eq!((s.lo, s.hi, s.n), (0.25, 0.25, 1));
        assert!(!s.has_interval());
        assert_eq!(Summary::of([]), None);
    }

    #[test]
    fn scaling_by_a_negative_factor_keeps_lo_below_hi() {
        let s = Summary::of([1.0, 2.0, 3.0]).unwrap().scaled(-1.0);
        assert!(s.lo < s.hi && s.min < s.max);
        assert_eq!(s.mean, -2.0);
    }
}
