//! What one run measured, and the figures read from it: the final accuracy (the mean over
//! the final window), whether it failed, and curves over steps.

use crate::monitor::Stability;
use crate::recipe::Recipe;
use crate::stats::{first_reach, lerp};
use serde::{Deserialize, Serialize};

/// A run whose final validation accuracy is below this has failed, even if its loss stayed
/// finite (BatchNorm at learning rate 10 ends near chance without a NaN).
pub const FAILED_BELOW: f64 = 0.5;

/// Where a run diverged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Divergence {
    /// The step (counting from 1) whose loss was not finite; it made no update.
    pub step: usize,
    /// The loss, as text (`NaN`, `inf`: JSON has no such numbers).
    pub loss: String,
}

/// One evaluation of a run (evaluation mode: running statistics, no Dropout).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Evaluation {
    /// The steps taken before it (0: the initial model).
    pub step: usize,
    /// Accuracy on the validation images, where the plan asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    /// Mean cross-entropy on the validation images, with the accuracy (missing if it was not
    /// finite; so are the other losses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Accuracy on the test images, where the plan asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// Mean cross-entropy on the test images, with the accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    /// Accuracy on the training images, where the plan asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    /// Mean cross-entropy on the training images, with the accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f64>,
    /// Mean loss of the training batches since the previous curve evaluation (since the
    /// previous evaluation for a run without a curve); none at step 0 and at the final
    /// window's evaluations off the curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_loss: Option<f64>,
}

/// Reads one number of an evaluation.
pub type Field = fn(&Evaluation) -> Option<f64>;

/// The validation accuracy.
pub const VAL_ACCURACY: Field = |e| e.val_accuracy;
/// The test accuracy.
pub const TEST_ACCURACY: Field = |e| e.test_accuracy;
/// The test loss.
pub const TEST_LOSS: Field = |e| e.test_loss;
/// The training accuracy (evaluation mode).
pub const TRAIN_ACCURACY: Field = |e| e.train_accuracy;
/// The training loss (evaluation mode, whole training set).
pub const TRAIN_LOSS: Field = |e| e.train_loss;
/// The mean loss of the training batches.
pub const BATCH_LOSS: Field = |e| e.batch_loss;

/// What one run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// What was trained.
    pub recipe: Recipe,
    /// Every evaluation, in order of steps.
    pub evaluations: Vec<Evaluation>,
    /// Set if the run stopped on a non-finite loss.
    pub diverged: Option<Divergence>,
    /// Loss spikes and gradient-norm variation.
    pub stability: Stability,
    /// Seconds spent in training steps (evaluations excluded; runs share the machine's
    /// cores, so this is not a benchmark).
    pub train_seconds: f64,
}

impl RunRecord {
    /// The evaluations of the final window; empty if the run diverged.
    fn window(&self) -> impl Iterator<Item = &Evaluation> {
        let steps = self.recipe.eval.window_steps(self.recipe.steps);
        let finished = self.diverged.is_none();
        self.evaluations
            .iter()
            .filter(move |e| finished && steps.contains(&e.step))
    }

    /// The mean of `field` over the final window; `None` if the run diverged.
    pub fn final_mean(&self, field: Field) -> Option<f64> {
        let values: Vec<f64> = self.window().filter_map(field).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    /// The final test accuracy: the mean over the final window.
    pub fn final_test(&self) -> Option<f64> {
        self.final_mean(TEST_ACCURACY)
    }

    /// The final validation accuracy: the mean over the final window.
    pub fn final_val(&self) -> Option<f64> {
        self.final_mean(VAL_ACCURACY)
    }

    /// Whether the run diverged or ended below [`FAILED_BELOW`] validation accuracy.
    pub fn failed(&self) -> bool {
        self.final_val().is_none_or(|a| a < FAILED_BELOW)
    }

    /// `(step, field)` at every evaluation that has the field.
    pub fn curve(&self, field: Field) -> Vec<(usize, f64)> {
        let points = self.evaluations.iter();
        points.filter_map(|e| Some((e.step, field(e)?))).collect()
    }

    /// The step at which `field` first reached `threshold`, interpolated linearly between the
    /// two evaluations around the crossing; `None` if it never did.
    pub fn crossing(&self, field: Field, threshold: f64) -> Option<f64> {
        let curve = self.curve(field);
        let values: Vec<f64> = curve.iter().map(|p| p.1).collect();
        match first_reach(&values, threshold, true)? {
            (0, _) => Some(curve[0].0 as f64),
            (i, t) => Some(lerp(curve[i - 1].0 as f64, curve[i].0 as f64, t)),
        }
    }

    /// A finished run of `recipe` with these evaluations (for tests).
    #[cfg(test)]
    pub fn with_evaluations(recipe: Recipe, evaluations: Vec<Evaluation>) -> RunRecord {
        RunRecord {
            recipe,
            evaluations,
            diverged: None,
            stability: Stability::default(),
            train_seconds: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(steps: usize, accuracies: &[(usize, f64)]) -> RunRecord {
        let evaluations = accuracies.iter().map(|&(step, a)| Evaluation {
            step,
            val_accuracy: Some(a),
            test_accuracy: Some(a - 0.01),
            ..Evaluation::default()
        });
        RunRecord::with_evaluations(Recipe::reference(steps).curve(10), evaluations.collect())
    }

    #[test]
    fn the_final_accuracy_is_the_mean_of_the_window() {
        // 100 steps: the window is 80, 85, 90, 95, 100.
        let points: Vec<(usize, f64)> = [0, 10, 80, 85, 90, 95, 100]
            .iter()
            .map(|&s| (s, s as f64 / 100.0))
            .collect();
        let r = record(100, &points);
        assert!((r.final_val().unwrap() - 0.9).abs() < 1e-12);
        assert!((r.final_test().unwrap() - 0.89).abs() < 1e-12);
        assert!(!r.failed());
    }

    #[test]
    fn a_diverged_or_near_chance_run_failed() {
        let mut r = record(100, &[(80, 0.2), (100, 0.2)]);
        assert!(r.failed());
        r.evaluations
            .iter_mut()
            .for_each(|e| e.val_accuracy = Some(0.9));
        assert!(!r.failed());
        r.diverged = Some(Divergence {
            step: 3,
            loss: "NaN".into(),
        });
        assert!(r.failed() && r.final_test().is_none());
    }

    #[test]
    fn a_crossing_is_interpolated_between_evaluations() {
        let r = record(100, &[(0, 0.1), (10, 0.5), (20, 0.9), (30, 0.95)]);
        assert_eq!(r.crossing(VAL_ACCURACY, 0.7), Some(15.0));
        assert_eq!(r.crossing(VAL_ACCURACY, 0.1), Some(0.0));
        assert_eq!(r.crossing(VAL_ACCURACY, 0.99), None);
    }
}
