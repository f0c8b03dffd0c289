//! BatchNorm's statistics (a batch's, the running ones) and the fixed-chunk loops.

use super::op::dims_with_values;
use std::ops::Range;
use tapegrad_core::Tensor;
use tapegrad_kernels::for_each_chunk_mut;

/// Rows per parallel task of a `[n, c]` loop: about 16K elements, at least 32 rows, and at
/// least `n / 16` (a large batch in more, smaller tasks ran slower); never a function of the
/// thread count (every sum is formed in the same order on any number).
fn row_chunks(n: usize, c: usize) -> usize {
    (16384 / c.max(1)).max(32).max(n / 16)
}

/// Calls `f(i, rows)` for the chunks of [`row_chunks`] rows of `w` values of an output, in
/// parallel, `i` the chunk's first row (none for `w = 0`: the size is at least 1).
pub(super) fn for_each_row_chunk(out: &mut [f32], w: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = row_chunks(out.len() / w.max(1), w);
    for_each_chunk_mut(out, (rows * w).max(1), |t, chunk| f(t * rows, chunk));
}

/// `width` sums over the `n` rows of `w` values of a tensor: `add(rows, sums)` adds those
/// of `rows`, per chunk of [`row_chunks`] rows in parallel, then the chunks' sums in order.
pub(super) fn column_sums<F>(n: usize, w: usize, width: usize, add: F) -> Vec<f64>
where
    F: Fn(Range<usize>, &mut [f64]) + Sync,
{
    let rows = row_chunks(n, w);
    if width == 0 {
        return Vec::new();
    }
    let mut sums = vec![0f64; n.div_ceil(rows).max(1) * width];
    for_each_chunk_mut(&mut sums, width, |t, acc| {
        add(t * rows..n.min((t + 1) * rows), acc)
    });
    let (total, rest) = sums.split_at_mut(width);
    for chunk in rest.chunks_exact(width) {
        total.iter_mut().zip(chunk).for_each(|(t, s)| *t += s);
    }
    sums.truncate(width);
    sums
}

/// The per-feature statistics of one batch `x: [n, c, *]`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStats {
    /// The number of values of each feature the statistics were taken over (`n * h * w`).
    pub n: usize,
    /// The mean of each feature, `[c]`, in `f64` (the op keeps what rounding to `f32` loses).
    pub mean: Vec<f64>,
    /// The *biased* variance (divided by `n`), `[c]`: what training normalises with.
    pub var: Vec<f64>,
}

impl BatchStats {
    /// The statistics of `x: [n, c, *]`, feature by feature, in two passes in `f64`: the
    /// mean, then the mean squared deviation from it (`E[x^2] - E[x]^2` loses every digit of
    /// a large mean's variance; a sum of squares is never negative, a NaN stays NaN): the
    /// plain definition the layer's one sweep (`fast.rs`) is held to. Panics without values.
    pub fn of(x: &Tensor) -> Self {
        let shape = x.shape();
        let (n, c, s) = dims_with_values(shape).unwrap_or_else(|| {
            panic!("batch_norm: statistics need an input of shape [batch, c, *] with values, got {shape:?}")
        });
        let column = |j: usize| {
            let planes = x.data().chunks(s).skip(j).step_by(c);
            planes.flatten().map(|&x| x as f64)
        };
        let n = n * s;
        let mean: Vec<f64> = (0..c).map(|j| column(j).sum::<f64>() / n as f64).collect();
        let squares = |j: usize| column(j).map(|x| (x - mean[j]).powi(2)).sum::<f64>();
        let var = (0..c).map(|j| squares(j) / n as f64).collect();
        BatchStats { n, mean, var }
    }
    /// The unbiased variance of feature `j` (times `n / (n - 1)`), what `running_var` tracks.
    pub fn unbiased_var(&self, j: usize) -> f64 {
        self.var[j] * self.n as f64 / (self.n as f64 - 1.0)
    }
}

/// A BatchNorm's buffers, with PyTorch's names and initial values.
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
    /// PyTorch's update in `f64`: `running = (1 - f) running + f batch` (the unbiased
    /// variance), `f = momentum` or `1 / num_batches_tracked`. Panics for a batch of one row.
    pub fn update(&mut self, batch: &BatchStats, momentum: Option<f32>) {
        let n = batch.n;
        assert!(
            n > 1,
            "batch_norm: cannot update running statistics from {n} value(s) per feature"
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
