//! Stability measured along a run, step by step: loss spikes and how much the gradient's
//! norm varies.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The steps before a step whose median loss it is compared with.
pub const SPIKE_WINDOW: usize = 50;
/// A step's loss is a spike when it is more than this above that median (in nats: the
/// batch's mean cross-entropy rose by a factor e in probability).
pub const SPIKE_RISE: f64 = 1.0;

/// What [`Monitor`] measured over a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// Steps whose loss was more than [`SPIKE_RISE`] above the median of the
    /// [`SPIKE_WINDOW`] steps before (from step `SPIKE_WINDOW + 1` on).
    pub spikes: usize,
    /// The standard deviation of `log10` of the gradient's norm over the second half of the
    /// run (scale-free: BatchNorm changes the gradient's scale, not this); `None` if the run
    /// stopped before it had two such steps.
    pub grad_norm_log_sd: Option<f64>,
    /// The median gradient norm over the second half of the run.
    pub grad_norm_median: Option<f64>,
}

/// Watches the loss and the gradient norm of every step of a run of `steps` steps.
pub struct Monitor {
    recent: VecDeque<f64>,
    sorted: Vec<f64>,
    from: usize,
    spikes: usize,
    log_norms: Vec<f64>,
}

impl Monitor {
    /// A monitor for a run of `steps` steps.
    pub fn new(steps: usize) -> Monitor {
        Monitor {
            recent: VecDeque::with_capacity(SPIKE_WINDOW + 1),
            sorted: Vec::with_capacity(SPIKE_WINDOW),
            from: steps / 2,
            spikes: 0,
            log_norms: Vec::new(),
        }
    }

    /// Step `step` (counting from 1) had this loss and gradient norm.
    pub fn observe(&mut self, step: usize, loss: f32, grad_norm: f64) {
        let loss = f64::from(loss);
        if self.recent.len() == SPIKE_WINDOW {
            self.sorted.clear();
            self.sorted.extend(self.recent.iter().copied());
            self.sorted.sort_by(f64::total_cmp);
            let median = (self.sorted[SPIKE_WINDOW / 2 - 1] + self.sorted[SPIKE_WINDOW / 2]) / 2.0;
            if loss > median + SPIKE_RISE {
                self.spikes += 1;
            }
            self.recent.pop_front();
        }
        self.recent.push_back(loss);
        if step > self.from && grad_norm > 0.0 && grad_norm.is_finite() {
            self.log_norms.push(grad_norm.log10());
        }
    }

    /// The run's figures.
    pub fn finish(mut self) -> Stability {
        let n = self.log_norms.len();
        let sd = (n >= 2).then(|| {
            let mean = self.log_norms.iter().sum::<f64>() / n as f64;
            let var = self
                .log_norms
                .iter()
                .map(|v| (v - mean).powi(2))
                .sum::<f64>();
            (var / (n - 1) as f64).sqrt()
        });
        self.log_norms.sort_by(f64::total_cmp);
        let median = (n > 0).then(|| 10f64.powf(self.log_norms[n / 2]));
        Stability {
            spikes: self.spikes,
            grad_norm_log_sd: sd,
            grad_norm_median: median,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_above_the_recent_median_is_a_spike_and_noise_is_not() {
        let mut m = Monitor::new(200);
        for step in 1..=120 {
            // Noise of ±0.3 around 0.5: never 1.0 above the median.
            let loss = 0.5 + if step % 2 == 0 { 0.3 } else { -0.3 };
            let loss = if step == 100 { 2.0 } else { loss };
            m.observe(step, loss, 1.0);
        }
        assert_eq!(m.finish().spikes, 1);
    }

    #[test]
    fn the_gradient_norm_is_measured_over_the_second_half() {
        let mut m = Monitor::new(8);
        for step in 1..=8 {
            // 10 and 1000 alternate after step 4: log10 values 1 and 3, sd of [1, 3, 1, 3]
            // = sqrt(4/3) = 1.1547.
            let norm = if step <= 4 {
                1e9
            } else if step % 2 == 1 {
                10.0
            } else {
                1000.0
            };
            m.observe(step, 0.1, norm);
        }
        let s = m.finish();
        assert!((s.grad_norm_log_sd.unwrap() - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.grad_norm_median, Some(1000.0));
    }
}
