//! BatchNorm's statistics: those of one batch (two passes, `f64` accumulators), the running
//! ones with PyTorch's update rule, and the fixed-chunk column sums both the statistics and
//! the op's backward are made of.

use tapegrad_core::kernels::for_each_chunk_mut;
use tapegrad_core::Tensor;

/// Rows per parallel task of a `[n, c]` loop: about 16K elements, and at least 32 rows so
/// that a reduction's per-task partial sums stay small beside the data. It depends on the
/// shape alone, never on the thread count, so every sum is formed in the same order on any
/// number of threads.
pub(super) fn row_chunks(c: usize) -> usize {
    (16384 / c.max(1)).max(32)
}

/// `k` per-feature sums over the `n` rows of a `[n, c]` tensor, `[sum_0 | ... | sum_k-1]`
/// (`k * c` values): `add_row(i, acc)` adds row `i`'s terms into `acc`. Each chunk of
/// [`row_chunks`] rows is summed on its own, in parallel, then the chunks' sums are added in
/// chunk order.
pub(super) fn column_sums(
    n: usize,
    c: usize,
    k: usize,
    add_row: impl Fn(usize, &mut [f64]) + Sync,
) -> Vec<f64> {
    let (rows, width) = (row_chunks(c), k * c);
    if width == 0 {
        return Vec::new();
    }
    let mut sums = vec![0f64; n.div_ceil(rows).max(1) * width];
    for_each_chunk_mut(&mut sums, width, |t, acc| {
        (t * rows..n.min((t + 1) * rows)).for_each(|i| add_row(i, acc))
    });
    let (total, rest) = sums.split_at_mut(width);
    for chunk in rest.chunks_exact(width) {
        total.iter_mut().zip(chunk).for_each(|(t, s)| *t += s);
    }
    sums.truncate(width);
    sums
}

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
    /// The statistics of `x: [n, c]` in two passes, both accumulated in `f64`: the mean,
    /// then the mean squared deviation from it. Never `E[x^2] - E[x]^2`, which in `f32`
    /// loses every digit of the variance of a feature whose mean is large against its
    /// spread; the variance is a sum of squares, so it is never negative (a NaN stays NaN).
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
        let row = |i: usize| &x.data()[i * c..][..c];
        let mut mean = column_sums(n, c, 1, |i, sum| {
            sum.iter_mut()
                .zip(row(i))
                .for_each(|(s, &x)| *s += x as f64)
        });
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = column_sums(n, c, 1, |i, sum| {
            for ((s, &x), &m) in sum.iter_mut().zip(row(i)).zip(&mean) {
                *s += (x as f64 - m) * (x as f64 - m);
            }
        });
        var.iter_mut().for_each(|v| *v /= n as f64);
        BatchStats { n, mean, var }
    }

    /// The unbiased variance of feature `j` (`n / (n - 1)` times the biased one), what
    /// `running_var` tracks. Infinite for a batch of one.
    pub fn unbiased_var(&self, j: usize) -> f64 {
        self.var[j] * self.n as f64 / (self.n as f64 - 1.0)
    }
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
        for (rm, &m) in self.mean.data_mut().iter_mut().zip(&batch.mean) {
            *rm = ((1.0 - f) * *rm as f64 + f * m) as f32;
        }
        for (j, rv) in self.var.data_mut().iter_mut().enumerate() {
            *rv = ((1.0 - f) * *rv as f64 + f * batch.unbiased_var(j)) as f32;
        }
    }
}
