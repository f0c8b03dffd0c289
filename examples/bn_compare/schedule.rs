//! When a run is evaluated: a curve (every so many steps) if the experiment plots one, and
//! always the final window, five evaluations over the last 20 % of training whose mean is
//! the run's final accuracy. One checkpoint at a constant learning rate moves by most of a
//! point from one step to the next; the mean of five spread over a fifth of the run does
//! not.

use serde::{Deserialize, Serialize};

/// Evaluations in the final window.
pub const WINDOW: usize = 5;

/// When a run's test accuracy is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestAt {
    /// Never: the experiment reports no test figure of the run (or measures its own).
    Never,
    /// In the final window: the final test accuracy.
    Window,
    /// At every evaluation: a test curve.
    Always,
}

impl TestAt {
    /// Whether the test images are evaluated at a step, given whether it is in the window.
    pub fn at(self, in_window: bool) -> bool {
        match self {
            TestAt::Never => false,
            TestAt::Window => in_window,
            TestAt::Always => true,
        }
    }
}

/// When a run is evaluated, and on what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalPlan {
    /// Curve evaluations every this many steps, from step 0; `None`: the window only.
    pub every: Option<usize>,
    /// Steps between the window's evaluations (a twentieth of the run: the window covers
    /// 80 %, 85 %, 90 %, 95 % and 100 % of it).
    pub spacing: usize,
    /// Whether the validation images are evaluated at every evaluation; otherwise only in
    /// the window (where choices are made).
    pub validation_always: bool,
    /// When the test images are evaluated (they give the final figures, never a choice).
    pub test: TestAt,
    /// Whether the training images are evaluated too (evaluation mode, accuracy and loss).
    pub on_train: bool,
}

impl EvalPlan {
    /// The final window of a run of `steps` steps, and nothing else.
    pub fn window_only(steps: usize) -> EvalPlan {
        EvalPlan {
            every: None,
            spacing: (steps / 20).max(1),
            validation_always: true,
            test: TestAt::Window,
            on_train: false,
        }
    }

    /// One evaluation, after the last step: for experiments that measure the final weights
    /// in ways of their own.
    pub fn last_only(steps: usize) -> EvalPlan {
        EvalPlan {
            spacing: steps.max(1),
            ..EvalPlan::window_only(steps)
        }
    }

    /// A curve every `every` steps from step 0, and the final window.
    pub fn curve(steps: usize, every: usize) -> EvalPlan {
        EvalPlan {
            every: Some(every.max(1)),
            ..EvalPlan::window_only(steps)
        }
    }

    /// The steps of the final window of a run of `total` steps, in order (fewer than
    /// [`WINDOW`] if the run is shorter than that).
    pub fn window_steps(&self, total: usize) -> Vec<usize> {
        let mut steps: Vec<usize> = (0..WINDOW)
            .filter_map(|i| total.checked_sub(i * self.spacing))
            .filter(|&s| s > 0)
            .collect();
        steps.reverse();
        steps.dedup();
        steps
    }

    /// Every evaluated step of a run of `total` steps, in order.
    pub fn steps(&self, total: usize) -> Vec<usize> {
        let mut steps = self.window_steps(total);
        if let Some(every) = self.every {
            steps.extend((0..=total).step_by(every));
        }
        steps.sort_unstable();
        steps.dedup();
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_last_fifth_and_the_curve_joins_it() {
        let plan = EvalPlan::window_only(1000);
        assert_eq!(plan.window_steps(1000), [800, 850, 900, 950, 1000]);
        assert_eq!(plan.steps(1000), [800, 850, 900, 950, 1000]);
        let curve = EvalPlan::curve(1000, 300);
        assert_eq!(curve.steps(1000), [0, 300, 600, 800, 850, 900, 950, 1000]);
    }

    #[test]
    fn last_only_evaluates_once() {
        assert_eq!(EvalPlan::last_only(500).steps(500), [500]);
    }

    #[test]
    fn a_short_run_has_a_short_window() {
        let plan = EvalPlan::window_only(3);
        assert_eq!(plan.window_steps(3), [1, 2, 3]);
    }
}
