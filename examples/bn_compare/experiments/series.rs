//! Plot series built from runs: a value per setting of a sweep, or a curve over steps, each
//! a mean over seeds with its 95 % interval.

use super::pairs::{side_name, Outcome, Pair};
use crate::plots::{bn_color, Series};
use crate::record::{Field, RunRecord};
use crate::stats::{by_step, Summary};

/// A summary as a plot shows it: multiplied by `scale`; fractions shown as percentages
/// (`scale` 100) have their band cut at 0 and 100 %, which the t-interval of a mean of
/// accuracies over few seeds can pass (the tables give it whole).
pub fn shown(s: Summary, scale: f64) -> Summary {
    let s = s.scaled(scale);
    if scale == 100.0 {
        Summary {
            lo: s.lo.max(0.0),
            hi: s.hi.min(100.0),
            ..s
        }
    } else {
        s
    }
}

/// For a sweep over `pairs` (category `i` at `x = i`): per side, a series of `value` over
/// seeds (multiplied by `scale`), with a red cross at each setting where a run diverged.
pub fn sweep_series(
    pairs: &[Pair],
    value: impl Fn(&RunRecord) -> Option<f64>,
    scale: f64,
) -> Vec<Series> {
    [false, true]
        .into_iter()
        .map(|bn| {
            let mut series = Series::new(side_name(bn), bn_color(bn), Vec::new());
            for (i, pair) in pairs.iter().enumerate() {
                let outcome = Outcome::of(pair.values(bn, &value));
                let point = outcome.summary.map_or(Summary::NONE, |s| shown(s, scale));
                series.points.push((i as f64, point));
                if pair.side(bn).iter().any(|r| r.diverged.is_some()) {
                    series.diverged.push(i as f64);
                }
            }
            series
        })
        .collect()
}

/// A series over training steps of `field` (mean and interval over the runs, multiplied by
/// `scale`), from step `from` on, with a red cross at each step where a run diverged.
pub fn curve_series(
    name: &str,
    runs: &[RunRecord],
    field: Field,
    scale: f64,
    from: usize,
) -> Series {
    let curves = runs.iter().map(|r| {
        r.curve(field)
            .into_iter()
            .filter(|&(s, _)| s >= from)
            .collect()
    });
    let points = by_step(curves)
        .into_iter()
        .map(|(s, b)| (s as f64, shown(b, scale)))
        .collect();
    let color = bn_color(runs.first().is_some_and(|r| r.recipe.batch_norm()));
    let mut series = Series::new(name, color, points);
    series.diverged = runs
        .iter()
        .filter_map(|r| r.diverged.as_ref().map(|d| d.step as f64))
        .collect();
    series
}
