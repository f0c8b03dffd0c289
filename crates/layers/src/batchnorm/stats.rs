//! BatchNorm's statistics (those of a batch, the running ones), and the fixed-chunk loops
//! under them and the op.

use tapegrad_core::Tensor;
use tapegrad_kernels::for_each_chunk_mut;

/// Rows per parallel task of a `[n, c]` loop: about 16K elements, at least 32 rows (so that
/// a reduction's per-task sums stay small beside the data). Never a function of the thread
/// count: every sum is then formed in the same order on any number of threads.
fn row_chunks(c: usize) -> usize {
    (16384 / c.max(1)).max(32)
}

/// Calls `f(i, row)` for every row `i` of a `[n, c]` output, in parallel by chunks of
/// [`row_chunks`] rows.
pub(super) fn for_each_row_chunk(out: &mut [f32], c: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = row_chunks(c);
    if c > 0 {
        for_each_chunk_mut(out, rows * c, |t, chunk| {
            for (r, row) in chunk.chunks_exact_mut(c).enumerate() {
                f(t * rows + r, row)
            }
        });
    }
}

/// `k` per-feature sums over the `n` rows of a `[n, c]` tensor (`k * c` values): `add(i,
/// sums)` adds row `i`'s terms. Each chunk of [`row_chunks`] rows is summed on its own, in
/// parallel, then the chunks' sums are added in chunk order.
pub(super) fn column_sums(
    n: usize,
    c: usize,
    k: usize,
    add: impl Fn(usize, &mut [f64]) + Sync,
) -> Vec<f64> {
    let (rows, width) = (row_chunks(c), k * c);
    if width == 0 {
        return Vec::new();
    }
    let mut sums = vec![0f64; n.div_ceil(rows).max(1) * width];
    for_each_chunk_mut(&mut sums, width, |t, acc| {
        (t * rows..n.min((t + 1) * rows)).for_each(|i| add(i, acc))
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
    /// The mean of each feature, `[c]`, in `f64` as accumulated (the op keeps what rounding
    /// it to `f32` loses).
    pub mean: Vec<f64>,
    /// The *biased* variance of each feature (divided by `n`), `[c]`: what training
    /// normalises with, as PyTorch.
    pub var: Vec<f64>,
}

impl BatchStats {
    /// The statistics of `x: [n, c]` in two passes accumulated in `f64`: the mean, then the
    /// mean squared deviation from it. Never `E[x^2] - E[x]^2`, which loses every digit of
    /// the variance of a feature whose mean is large against its spread; a sum of squares is
    /// never negative, and a NaN stays NaN. Panics if `x` is not 2-D or has no row.
    pub fn of(x: &Tensor) -> Self {
        let (n, c) = match x.shape() {
            &[n, c] if n > 0 => (n, c),
            s => panic!("batch_norm: statistics need an input of shape [batch > 0, c], got {s:?}"),
        };
        let row = |i: usize| &x.data()[i * c..][..c];
        let mut mean = column_sums(n, c, 1, |i, sum| {
            (sum.iter_mut().zip(row(i))).for_each(|(s, &x)| *s += x as f64)
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

/// Panics, naming `who` and the shape, when a batch has fewer than two rows (no variance to
/// normalise with, an unbiased variance of `0/0`), as PyTorch raises.
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

    /// PyTorch's update after a training batch, in `f64`: `num_batches_tracked += 1`; with
    /// `f = momentum`, or `1 / num_batches_tracked` for `None` (a cumulative average),
    /// `running_mean = (1 - f) running_mean + f mean`,
    /// `running_var = (1 - f) running_var + f n/(n-1) var`. Panics for a batch of one row.
    pub fn update(&mut self, batch: &BatchStats, momentum: Option<f32>) {
        assert!(
            batch.n > 1,
            "batch_norm: cannot update running statistics from a batch of {} row(s)",
            batch.n
        );
        self.num_batches_tracked += 1;
        let f = momentum.map_or(1.0 / self.num_batches_tracked as f64, |m| m as f64);
        for (rm, &m) in self.mean.data_mut().iter_mut().zip(&batch.mean) {
            *rm = ((1.0 - f) * *rm as f64 + f * m) as f32;
        }
        for (j, rv) in self.var.data_mut().iter_mut().enumerate() {
            *rv = ((1.0 - f) * *rv as f64 + f * batch.unbiased_var(j)) as f32;
        }
    }
}
