//! The usable learning-rate range of a grid of rates: the rates at which every seed trained
//! to a bar of validation accuracy, its ends, its width in decades, and how much wider it
//! is with BatchNorm (bootstrapped over seeds).

use crate::experiments::pairs::Pair;
use crate::experiments::sweep::all_seeds;
use crate::record::RunRecord;
use crate::stats::Effect;

/// The usable rates of one side: a contiguous run of grid points, or several.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    /// The lowest usable rate's index in the grid.
    pub lo: usize,
    /// The highest usable rate's index.
    pub hi: usize,
    /// Whether a rate between them was not usable (the range has a hole).
    pub holes: bool,
}

/// Whether `run` counts as usable at `bar`: it did not diverge and its final validation
/// accuracy is at least `bar` (at `FAILED_BELOW`, exactly a run that did not fail).
pub fn reached(run: &RunRecord, bar: f64) -> bool {
    run.final_val().is_some_and(|a| a >= bar)
}

/// The grid points (indices into `pairs`, in order) usable for a side at `bar` when only the
/// seeds at positions `draw` count: every one of those runs [`reached`] the bar.
pub fn usable(pairs: &[Pair], bn: bool, bar: f64, draw: &[usize]) -> Vec<usize> {
    let ok = |p: &Pair| {
        let runs = p.side(bn);
        draw.iter()
            .all(|&i| runs.get(i).is_some_and(|r| reached(r, bar)))
    };
    (0..pairs.len()).filter(|&i| ok(&pairs[i])).collect()
}

/// The range spanned by `usable` indices; `None` if there are none.
pub fn range(usable: &[usize]) -> Option<Range> {
    let (&lo, &hi) = (usable.first()?, usable.last()?);
    Some(Range {
        lo,
        hi,
        holes: usable.len() < hi - lo + 1,
    })
}

/// The learning rate of grid point `i`.
pub fn rate(pairs: &[Pair], i: usize) -> f64 {
    pairs[i].bn[0].recipe.lr
}

/// The width of `range` in decades, `log10(highest / lowest)`.
pub fn decades(pairs: &[Pair], range: &Range) -> f64 {
    (rate(pairs, range.hi) / rate(pairs, range.lo)).log10()
}

/// How many decades wider the usable range at `bar` is with BatchNorm than without, with its
/// bootstrap interval over seeds (a seed resampled carries its runs at every rate); `None`
/// if a side has no usable rate.
pub fn widening(pairs: &[Pair], bar: f64) -> Option<Effect> {
    let width = |bn: bool, draw: &[usize]| {
        let r = range(&usable(pairs, bn, bar, draw))?;
        Some(decades(pairs, &r))
    };
    let statistic = |draw: &[usize]| Some(width(true, draw)? - width(false, draw)?);
    Effect::bootstrapped(all_seeds(pairs).len(), 0.0, statistic)
}

/// A range in words, with its width: `0.01 to 0.3 (1.5 decades)`; an end at the grid's edge
/// is written `≤ 0.003` or `≥ 1`, since the range may go on past it; `none` without one.
pub fn describe(pairs: &[Pair], range: Option<&Range>) -> String {
    let Some(r) = range else {
        return "none".to_string();
    };
    let end = |i: usize| {
        let edge = if i == 0 && i < pairs.len() - 1 {
            "≤ "
        } else if i == pairs.len() - 1 && i > 0 {
            "≥ "
        } else {
            ""
        };
        format!("{edge}{}", pairs[i].setting)
    };
    let holes = if r.holes {
        ", with unusable rates inside"
    } else {
        ""
    };
    let open = r.lo == 0 || r.hi == pairs.len() - 1;
    let width = format!(
        "{}{:.1} decades",
        if open { "at least " } else { "" },
        decades(pairs, r)
    );
    if r.lo == r.hi {
        format!("{} only ({width}{holes})", end(r.lo))
    } else {
        format!("{} to {} ({width}{holes})", end(r.lo), end(r.hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::Recipe;
    use crate::record::{Divergence, Evaluation};

    /// A finished run at `lr` whose every evaluation has validation accuracy `acc`; a NaN
    /// `acc` is a run that diverged.
    fn run(lr: f64, acc: f64) -> RunRecord {
        let recipe = Recipe {
            lr,
            ..Recipe::cnn(10)
        };
        let evaluations = recipe.eval.steps(10).into_iter().map(|step| Evaluation {
            step,
            val_accuracy: Some(acc),
            ..Evaluation::default()
        });
        let mut r = RunRecord::with_evaluations(recipe, evaluations.collect());
        if acc.is_nan() {
            r.diverged = Some(Divergence {
                step: 3,
                loss: "NaN".into(),
            });
        }
        r
    }

    /// A grid at 0.001, 0.01, 0.1, 1, 10: per rate, the accuracies of the seeds without and
    /// with BatchNorm.
    fn grid(plain: [[f64; 2]; 5], bn: [[f64; 2]; 5]) -> Vec<Pair> {
        let rates = [0.001, 0.01, 0.1, 1.0, 10.0];
        (0..5)
            .map(|i| Pair {
                setting: rates[i].to_string(),
                no_bn: plain[i].iter().map(|&a| run(rates[i], a)).collect(),
                bn: bn[i].iter().map(|&a| run(rates[i], a)).collect(),
            })
            .collect()
    }

    #[test]
    fn a_rate_is_usable_when_every_seed_reaches_the_bar() {
        let nan = f64::NAN;
        let pairs = grid(
            [
                [0.9, 0.96],
                [0.97, 0.98],
                [0.98, 0.98],
                [0.2, nan],
                [nan, nan],
            ],
            [
                [0.96, 0.96],
                [0.98, 0.98],
                [0.98, 0.99],
                [0.97, 0.96],
                [0.6, 0.1],
            ],
        );
        let both = [0, 1];
        assert_eq!(usable(&pairs, false, 0.95, &both), [1, 2]);
        assert_eq!(usable(&pairs, false, 0.5, &both), [0, 1, 2]);
        assert_eq!(usable(&pairs, true, 0.95, &both), [0, 1, 2, 3]);
        // Seed 1 alone: its run at 0.001 reached 96 %, so the plain side gains that rate.
        assert_eq!(usable(&pairs, false, 0.95, &[1, 1]), [0, 1, 2]);

        let plain = range(&usable(&pairs, false, 0.95, &both)).unwrap();
        let bn = range(&usable(&pairs, true, 0.95, &both)).unwrap();
        assert_eq!((plain.lo, plain.hi, plain.holes), (1, 2, false));
        assert!((decades(&pairs, &plain) - 1.0).abs() < 1e-12);
        assert!((decades(&pairs, &bn) - 3.0).abs() < 1e-12);
        // 3 decades against 1 on every resample that keeps both seeds' verdicts; the point
        // estimate is the difference on all seeds.
        let w = widening(&pairs, 0.95).unwrap();
        assert!((w.estimate - 2.0).abs() < 1e-12, "{w:?}");
        assert!(w.lo <= 2.0 && w.hi >= 2.0);

        assert_eq!(describe(&pairs, Some(&plain)), "0.01 to 0.1 (1.0 decades)");
        assert_eq!(
            describe(&pairs, Some(&bn)),
            "≤ 0.001 to 1 (at least 3.0 decades)"
        );
        assert_eq!(describe(&pairs, None), "none");
    }

    #[test]
    fn a_hole_in_the_usable_rates_is_reported() {
        let r = range(&[1, 3]).unwrap();
        assert_eq!((r.lo, r.hi, r.holes), (1, 3, true));
        assert_eq!(range(&[]), None);
        let pairs = grid(
            [[0.2; 2], [0.99; 2], [0.2; 2], [0.99; 2], [0.2; 2]],
            [[0.99; 2]; 5],
        );
        let plain = range(&usable(&pairs, false, 0.95, &[0, 1])).unwrap();
        assert!(describe(&pairs, Some(&plain)).ends_with("with unusable rates inside)"));
        // Without a usable rate on a side there is no widening to measure.
        let none = grid([[0.2; 2]; 5], [[0.99; 2]; 5]);
        assert_eq!(widening(&none, 0.95), None);
    }
}
