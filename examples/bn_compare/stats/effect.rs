//! The effect of a change (with minus without BatchNorm, say) and its 95 % interval, from
//! which every verdict of the study is read: shown when the interval excludes the null
//! value (0 for a difference, 1 for a ratio), "not shown" when it includes it.

use super::{bootstrap, Summary, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED};

/// How an interval was computed, as the report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Student's t over paired differences (runs sharing a seed share the initial weights
    /// and the batches).
    PairedT,
    /// Student's t over paired log ratios, exponentiated (times: a ratio, skewed).
    PairedLogT,
    /// The percentile bootstrap ([`bootstrap`]).
    Bootstrap,
    /// Exact counts: nothing random in the quantity.
    Exact,
}

impl Method {
    /// The method's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Method::PairedT => "paired t",
            Method::PairedLogT => "paired t on log ratios",
            Method::Bootstrap => "bootstrap",
            Method::Exact => "exact",
        }
    }
}

/// Where an interval lies against the null value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Wholly above it.
    Above,
    /// Wholly below it.
    Below,
    /// It includes it (or there is no interval): the effect is not shown.
    Includes,
}

/// An estimate, its 95 % interval and how it was obtained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Effect {
    /// The estimate.
    pub estimate: f64,
    /// The lower end of the 95 % interval.
    pub lo: f64,
    /// The upper end.
    pub hi: f64,
    /// The value that means "no effect": 0 for a difference, 1 for a ratio.
    pub null: f64,
    /// The units it rests on (seeds, pairs of runs, settings).
    pub n: usize,
    /// How the interval was computed.
    pub method: Method,
}

impl Effect {
    /// An exact quantity (a count of parameters): its interval is the value itself.
    pub fn exact(value: f64, null: f64) -> Effect {
        Effect {
            estimate: value,
            lo: value,
            hi: value,
            null,
            n: 1,
            method: Method::Exact,
        }
    }

    /// A bootstrap effect: `estimate` on all `units`, the interval from [`bootstrap`] of
    /// `statistic` (`None` if the bootstrap gives none).
    pub fn bootstrapped(
        units: usize,
        null: f64,
        statistic: impl Fn(&[usize]) -> Option<f64>,
    ) -> Option<Effect> {
        let all: Vec<usize> = (0..units).collect();
        let estimate = statistic(&all)?;
        let (lo, hi) = bootstrap(units, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, statistic)?;
        Some(Effect {
            estimate,
            lo,
            hi,
            null,
            n: units,
            method: Method::Bootstrap,
        })
    }

    /// Where the interval lies against the null value. Without an interval (one unit, not
    /// exact) nothing is shown.
    pub fn side(&self) -> Side {
        let has_interval = self.n > 1 || self.method == Method::Exact;
        if has_interval && self.lo > self.null {
            Side::Above
        } else if has_interval && self.hi < self.null {
            Side::Below
        } else {
            Side::Includes
        }
    }
}

/// `a - b` per unit, over the units where both are defined, with the t-interval of the
/// mean difference; `None` if no unit has both.
pub fn paired_difference(a: &[Option<f64>], b: &[Option<f64>]) -> Option<Effect> {
    let diffs = a.iter().zip(b).filter_map(|(a, b)| Some((*a)? - (*b)?));
    let s = Summary::of(diffs)?;
    Some(Effect {
        estimate: s.mean,
        lo: s.lo,
        hi: s.hi,
        null: 0.0,
        n: s.n,
        method: Method::PairedT,
    })
}

/// `a / b` per unit (positive values), as the exponential of the mean log ratio, with the
/// exponentiated t-interval of that mean: a geometric-mean ratio, null 1.
pub fn paired_log_ratio(a: &[Option<f64>], b: &[Option<f64>]) -> Option<Effect> {
    let logs = a.iter().zip(b).filter_map(|(a, b)| {
        let (a, b) = ((*a)?, (*b)?);
        (a > 0.0 && b > 0.0).then(|| (a / b).ln())
    });
    let s = Summary::of(logs)?;
    Some(Effect {
        estimate: s.mean.exp(),
        lo: s.lo.exp(),
        hi: s.hi.exp(),
        null: 1.0,
        n: s.n,
        method: Method::PairedLogT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paired_difference_uses_only_complete_pairs() {
        let a = [Some(3.0), Some(5.0), None, Some(4.0)];
        let b = [Some(1.0), Some(2.0), Some(9.0), None];
        let e = paired_difference(&a, &b).unwrap();
        // Differences 2 and 3: mean 2.5, s = 0.707107, t(0.975, 1) = 12.706205.
        assert_eq!((e.estimate, e.n), (2.5, 2));
        assert!((e.hi - 2.5 - 12.706205 * 0.5).abs() < 1e-5);
        assert_eq!(e.side(), Side::Includes);
    }

    #[test]
    fn a_consistent_difference_is_shown_and_its_sign_read() {
        let a = [Some(1.1), Some(1.2), Some(1.15), Some(1.3), Some(1.25)];
        let b = [Some(1.0); 5];
        assert_eq!(paired_difference(&a, &b).unwrap().side(), Side::Above);
        assert_eq!(paired_difference(&b, &a).unwrap().side(), Side::Below);
        let r = paired_log_ratio(&a, &b).unwrap();
        assert!(r.lo > 1.0 && r.estimate > 1.1 && r.estimate < 1.25);
    }

    #[test]
    fn one_unit_shows_nothing_and_exact_values_show_themselves() {
        let one = paired_difference(&[Some(5.0)], &[Some(1.0)]).unwrap();
        assert_eq!(one.side(), Side::Includes);
        assert_eq!(Effect::exact(3.0, 0.0).side(), Side::Above);
        assert_eq!(Effect::exact(0.0, 0.0).side(), Side::Includes);
    }
}
