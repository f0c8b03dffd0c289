//! Runs compared at the same fit: the value of a field at the evaluation where a run's
//! training loss first fell to a level, interpolated between the evaluations around it.

use crate::record::{Field, RunRecord};
use crate::stats::{first_reach, lerp};

/// The training-loss levels (evaluation mode, whole training subset) runs are compared at.
pub const LEVELS: [f64; 5] = [0.3, 0.1, 0.03, 0.01, 0.003];

/// `field` of `run` where its training loss first reached `level`: linear in the log of the
/// loss between the last evaluation above the level and the first at or below it (the loss
/// falls roughly exponentially). `None` if the run never reached it or lacks the field there.
pub fn matched(run: &RunRecord, level: f64, field: Field) -> Option<f64> {
    if run.diverged.is_some() {
        return None;
    }
    let points: Vec<(f64, f64)> = run
        .evaluations
        .iter()
        .filter_map(|e| Some((e.train_loss?.ln(), field(e)?)))
        .collect();
    let log_losses: Vec<f64> = points.iter().map(|p| p.0).collect();
    match first_reach(&log_losses, level.ln(), false)? {
        (0, _) => Some(points[0].1),
        (i, t) => Some(lerp(points[i - 1].1, points[i].1, t)),
    }
}

/// The lowest of [`LEVELS`] that every run of every group reached; `None` if not even the
/// highest was.
pub fn reached_by_all(groups: &[&[RunRecord]]) -> Option<f64> {
    let all = |level: f64| {
        groups.iter().all(|runs| {
            runs.iter()
                .all(|r| matched(r, level, |e| e.train_loss).is_some())
        })
    };
    LEVELS.iter().copied().rev().find(|&l| all(l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::Recipe;
    use crate::record::{Evaluation, TEST_ACCURACY};

    fn run(points: &[(f64, f64)]) -> RunRecord {
        let evaluations = points
            .iter()
            .enumerate()
            .map(|(i, &(loss, acc))| Evaluation {
                step: i * 10,
                train_loss: Some(loss),
                test_accuracy: Some(acc),
                ..Evaluation::default()
            });
        RunRecord::with_evaluations(Recipe::reference(10), evaluations.collect())
    }

    #[test]
    fn the_crossing_is_interpolated_in_log_loss() {
        // From 1.0 to 0.01 between two evaluations: 0.1 is half-way in log loss.
        let r = run(&[(2.0, 0.5), (1.0, 0.6), (0.01, 0.9)]);
        assert!((matched(&r, 0.1, TEST_ACCURACY).unwrap() - 0.75).abs() < 1e-12);
        assert!((matched(&r, 0.1, |e| Some(e.step as f64)).unwrap() - 15.0).abs() < 1e-9);
        assert_eq!(matched(&r, 0.001, TEST_ACCURACY), None);
    }

    #[test]
    fn the_common_level_is_the_lowest_every_run_reached() {
        let fast = run(&[(1.0, 0.5), (0.02, 0.9)]);
        let slow = run(&[(1.0, 0.5), (0.2, 0.8)]);
        assert_eq!(reached_by_all(&[std::slice::from_ref(&fast)]), Some(0.03));
        assert_eq!(reached_by_all(&[&[fast], &[slow]]), Some(0.3));
        assert_eq!(reached_by_all(&[&[run(&[(1.0, 0.5)])]]), None);
    }
}
