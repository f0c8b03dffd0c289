//! BatchNorm's statistics: those of one batch (`f64` accumulators) and the
//! running ones with PyTorch's update rule, kept in small functions so that
//! [`recalibrate`](crate::recalibrate()) and checkpoints can reason about them.

use super::kernels::shifted_sums;
use super::panels::{reduce_rows, strip, Totals};
use std::ops::Range;
use tapegrad_core::Tensor;

/// The per-feature statistics of one batch `x: [n, c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStats {
    /// The number of rows the statistics were taken over.
    pub n: usize,
    /// The mean of each feature, `[c]`, kept in `f64` as accumulated: rounding it to `f32`
    /// would shift every `x_hat` of a feature with a small spread by the same error (the
    /// op keeps the rounding residual, see [`BatchNormOp`](crate::BatchNormOp)).
    pub mean: Vec<f64>,
    /// The *biased* variance of each feature (divided by `n`), `[c]`: what training
    /// normalises with, as PyTorch.
    pub var: Vec<f64>,
}

impl BatchStats {
    /// The statistics of `x: [n, c]`: over each panel of rows (see `panels.rs`) in one pass,
    /// the sums of the deviations from the panel's first row and of their squares,
    /// accumulated in `f64`; then the panels merged pairwise in order. Never `E[x^2] -
    /// E[x]^2`, which in `f32` loses every digit of the variance of a feature whose mean is
    /// large against its spread.
    ///
    /// Panics if `x` is not 2-D or has no row.
    ///
    /// ```
    /// use tapegrad_core::Tensor;
    /// use tapegrad_layers::BatchStats;
    /// let x = Tensor::from_vec(vec![2, 2], vec![1000.0, 1.0, 1002.0, 5.0]);
    /// let s = BatchStats::of(&x);
    /// assert_eq!(s.mean, [1001.0, 3.0]);
    /// assert_eq!(s.var, [1.0, 4.0]);
    /// assert_eq!(s.unbiased_var(1), 8.0);
    /// ```
    pub fn of(x: &Tensor) -> Self {
        let (n, c) = match x.shape() {
            &[n, c] if n > 0 => (n, c),
            s => panic!(
                "batch_norm: statistics need an input of shape [batch > 0, features], got {s:?}"
            ),
        };
        let (mean, var) = batch_moments(x.data(), n, c).into_mean_var();
        BatchStats { n, mean, var }
    }

    /// The unbiased variance of feature `j` (`n / (n - 1)` times the biased one), what
    /// `running_var` tracks. Infinite for a batch of one.
    pub fn unbiased_var(&self, j: usize) -> f64 {
        self.var[j] * self.n as f64 / (self.n as f64 - 1.0)
    }
}

/// The per-feature mean and sum of squared deviations of a batch.
pub(super) struct Moments {
    n: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

/// The moments of `rows` rows `stride` apart (a strip's piece of a panel, see `panels.rs`)
/// into `mean` and `m2`, one value per feature, in one pass: the sums of the deviations `d`
/// from the panel's first row and of their squares, in `f64`, then `mean = first + sum(d) /
/// rows` and `m2 = sum(d^2) - sum(d)^2 / rows`.
///
/// Not the `E[x^2] - E[x]^2` that loses a feature with a large mean: the first row is one of
/// the rows, so its squared distance to the mean is at most `m2` and `sum(d^2)` at most
/// `(rows + 1) * m2`: the subtraction cancels at most `log2(rows + 1)` of `f64`'s 53 bits.
/// With the sums' worst-case roundings, that is about `2 * log2(rows)` bits lost at worst
/// (14 at a batch of 128 rows; 30 at the 32K rows of a one-feature panel), a bound far above
/// what the roundings of a real sum lose: an outlier first row on a mean of 1e4 leaves `m2`
/// within 6e-14 of exact in the test below, where `E[x^2] - E[x]^2` in `f64` is off by 2e-7.
fn panel_moments(x: &[f32], stride: usize, rows: usize, (mean, m2): Totals<'_>) {
    shifted_sums(x, stride, mean, m2);
    let n = rows as f64;
    for ((m, squares), &first) in mean.iter_mut().zip(m2).zip(x) {
        let sum = *m;
        *m = first as f64 + sum / n;
        // Never below zero, which rounding could reach for a feature of almost equal values.
        *squares = (*squares - sum * (sum / n)).max(0.0);
    }
}

/// Adds `n_b` rows with mean `mean_b` and squared deviations `m2_b` to `n_a` rows with
/// `mean_a` and `m2_a` (Chan, Golub and LeVeque's pairwise update): `delta = mean_b -
/// mean_a`, `mean = mean_a + delta * n_b / n`, `m2 = m2_a + m2_b + delta^2 * n_a * n_b / n`.
/// Stable: no `E[x^2] - E[x]^2`. The first rows (`n_a = 0`) are copied as they are.
fn merge_moments(
    n_a: usize,
    n_b: usize,
    (mean_a, m2_a): Totals<'_>,
    (mean_b, m2_b): (&[f64], &[f64]),
) {
    if n_a == 0 {
        mean_a.copy_from_slice(mean_b);
        m2_a.copy_from_slice(m2_b);
        return;
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let n = na + nb;
    for j in 0..mean_a.len() {
        let delta = mean_b[j] - mean_a[j];
        mean_a[j] += delta * (nb / n);
        m2_a[j] += m2_b[j] + delta * delta * (na * nb / n);
    }
}

impl Moments {
    /// The mean and biased variance (the squared deviations divided in place).
    pub(super) fn into_mean_var(mut self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n as f64;
        self.m2.iter_mut().for_each(|m2| *m2 /= n);
        (self.mean, self.m2)
    }
}

/// The moments of a whole batch `x: [n > 0, c]`: each panel of rows in one pass, the
/// panels merged in order, by column strips in parallel (the
/// same bits on any thread count).
pub(super) fn batch_moments(x: &[f32], n: usize, c: usize) -> Moments {
    let (mut mean, mut m2) = (vec![0.0; c], vec![0.0; c]);
    if c > 0 {
        let partial = |rows: Range<usize>, cols: Range<usize>, sums: Totals<'_>| {
            panel_moments(strip(x, c, &rows, &cols), c, rows.len() / c, sums)
        };
        reduce_rows(x.len(), c, (&mut mean, &mut m2), partial, merge_moments);
    }
    Moments { n, mean, m2 }
}

/// Panics, naming `who` and the shape, when a batch has fewer than two rows: a batch of
/// one has no variance to normalise with (every output would be `beta`) and its unbiased
/// variance is `0/0`. PyTorch raises the same error rather than let a NaN into
/// `running_var`.
pub(crate) fn require_two_rows(who: &dyn std::fmt::Display, shape: &[usize]) {
    assert!(
        shape.first().is_some_and(|&n| n > 1),
        "{who}: expected more than 1 value per channel when training, got input of shape {shape:?}"
    );
}

/// The running statistics of a BatchNorm (its buffers), with PyTorch's names and initial
/// values: `running_mean` 0, `running_var` 1, `num_batches_tracked` 0.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningStats {
    /// `running_mean`, `[c]`.
    pub mean: Tensor,
    /// `running_var`, `[c]`: a moving average of the *unbiased* batch variances.
    pub var: Tensor,
    /// `num_batches_tracked`: how many training batches updated the statistics.
    pub num_batches_tracked: i64,
}

impl RunningStats {
    /// Fresh statistics for `num_features` features.
    pub fn new(num_features: usize) -> Self {
        RunningStats {
            mean: Tensor::zeros(vec![num_features]),
            var: Tensor::full(vec![num_features], 1.0),
            num_batches_tracked: 0,
        }
    }

    /// Back to the initial values (PyTorch's `reset_running_stats`).
    pub fn reset(&mut self) {
        self.mean.data_mut().fill(0.0);
        self.var.data_mut().fill(1.0);
        self.num_batches_tracked = 0;
    }

    /// PyTorch's update after a training batch:
    /// `num_batches_tracked += 1`, then with `f = momentum`, or `1 / num_batches_tracked`
    /// when `momentum` is `None` (a cumulative average of every batch so far),
    /// `running_mean = (1 - f) running_mean + f mean` and
    /// `running_var = (1 - f) running_var + f n/(n-1) var`. Computed in `f64`.
    ///
    /// Panics if the batch has fewer than two rows (its unbiased variance is undefined).
    pub fn update(&mut self, batch: &BatchStats, momentum: Option<f32>) {
        assert!(
            batch.n > 1,
            "batch_norm: cannot update running statistics from a batch of {} row(s)",
            batch.n
        );
        self.num_batches_tracked += 1;
        let f = match momentum {
            Some(m) => m as f64,
            None => 1.0 / self.num_batches_tracked as f64,
        };
        let means = self.mean.data_mut().iter_mut().zip(&batch.mean);
        for (rm, &m) in means {
            *rm = ((1.0 - f) * *rm as f64 + f * m) as f32;
        }
        for (j, rv) in self.var.data_mut().iter_mut().enumerate() {
            *rv = ((1.0 - f) * *rv as f64 + f * batch.unbiased_var(j)) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variance_of_a_large_mean_stays_exact() {
        // Mean 1e4, spread 1: E[x^2] - E[x]^2 in f32 would be dominated by rounding of 1e8.
        let data: Vec<f32> = (0..64).map(|i| 1e4 + (i % 4) as f32 - 1.5).collect();
        let s = BatchStats::of(&Tensor::from_vec(vec![64, 1], data));
        assert_eq!(s.mean, [1e4]);
        assert_eq!(s.var, [1.25]);
    }

    #[test]
    fn an_outlier_first_row_costs_the_one_pass_sums_nothing_visible() {
        // Each panel's sums are of the deviations from its first row (16384 rows at two
        // features): put an outlier there, on a large mean, beside a constant feature.
        let (n, c) = (70_000, 2);
        let first_of_panel = |i: usize| i.is_multiple_of(crate::batchnorm::panels::panel_rows(c));
        let data: Vec<f32> = (0..n)
            .flat_map(|i| {
                let spread = ((i * 7919) % 1000) as f32 * 1e-3;
                let v = if first_of_panel(i) {
                    1e4 + 500.0
                } else {
                    1e4 + spread
                };
                [v, 3.0]
            })
            .collect();
        let s = BatchStats::of(&Tensor::from_vec(vec![n, c], data.clone()));
        let column: Vec<f64> = data.iter().step_by(c).map(|&v| v as f64).collect();
        let mean = column.iter().sum::<f64>() / n as f64;
        let var = column.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        assert!(
            (s.mean[0] - mean).abs() <= 1e-12 * mean,
            "{} vs {mean}",
            s.mean[0]
        );
        assert!(
            (s.var[0] - var).abs() <= 1e-9 * var,
            "{} vs {var}",
            s.var[0]
        );
        assert_eq!((s.mean[1], s.var[1]), (3.0, 0.0));
    }

    #[test]
    fn momentum_none_is_a_cumulative_average() {
        let mut r = RunningStats::new(1);
        let batches = [(1.0f32, 2.0f32), (3.0, 4.0), (8.0, 0.5)];
        for &(m, v) in &batches {
            r.update(
                &BatchStats {
                    n: 2,
                    mean: vec![m as f64],
                    var: vec![v as f64],
                },
                None,
            );
        }
        assert_eq!(r.num_batches_tracked, 3);
        assert!((r.mean.data()[0] - 4.0).abs() < 1e-6);
        // The average of the unbiased variances (2 * biased for n = 2): (4 + 8 + 1) / 3.
        assert!((r.var.data()[0] - 13.0 / 3.0).abs() < 1e-6);
        r.reset();
        assert_eq!(r, RunningStats::new(1));
    }

    #[test]
    fn momentum_update_uses_the_unbiased_variance() {
        let mut r = RunningStats::new(2);
        r.update(
            &BatchStats {
                n: 4,
                mean: vec![1.0, -2.0],
                var: vec![3.0, 0.0],
            },
            Some(0.1),
        );
        let expected_mean = [0.1, -0.2];
        let expected_var = [0.9 + 0.1 * 4.0, 0.9];
        for j in 0..2 {
            assert!((r.mean.data()[j] - expected_mean[j]).abs() < 1e-7);
            assert!((r.var.data()[j] - expected_var[j]).abs() < 1e-7);
        }
        assert_eq!(r.num_batches_tracked, 1);
    }

    #[test]
    #[should_panic(expected = "cannot update running statistics from a batch of 1 row(s)")]
    fn a_batch_of_one_cannot_update() {
        RunningStats::new(1).update(
            &BatchStats {
                n: 1,
                mean: vec![0.0],
                var: vec![0.0],
            },
            None,
        );
    }
}
