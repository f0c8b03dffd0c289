//! The arithmetic under the ops: chunked parallel loops, deterministic reductions and GEMM.
//!
//! Work is split in fixed-size chunks, never "one chunk per thread", so every result is
//! bit-identical whatever the number of threads (GEMM splits per thread, but only along rows
//! or columns of the output, which leaves each element's arithmetic unchanged: see
//! `kernels/gemm.rs`). [`multiversion!`](crate::multiversion) compiles a loop for AVX-512
//! and AVX2 too, chosen at run time, with identical results.

mod gemm;
mod math;
mod simd;
mod team;

pub use gemm::{gemm, gemm_is_large, gemm_serial, MatRef};
pub use math::{exp, relu, relu_backward, sigmoid, sigmoid_into};
pub use simd::{has_avx2, has_avx512};
pub use team::{
    for_each_chunk_mut, for_each_chunk_pair_mut, join, map_tasks, parallel_for, threads, MAX_TASKS,
};

/// Elements per parallel chunk of an element-wise loop: a few microseconds of work, against
/// well under one to hand a task to a spinning worker of the team (`kernels/team.rs`).
pub const CHUNK: usize = 1 << 15;

/// The piece of `a` that lines up with chunk `i` of an output of `len` elements.
fn piece(a: &[f32], i: usize, len: usize) -> &[f32] {
    &a[i * CHUNK..][..len]
}

/// `out[i] = f(a[i])`, in parallel chunks when large.
pub fn map_into(out: &mut [f32], a: &[f32], f: impl Fn(f32) -> f32 + Sync) {
    debug_assert_eq!(out.len(), a.len());
    for_each_chunk_mut(out, CHUNK, |i, o| {
        let a = piece(a, i, o.len());
        o.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x))
    });
}

/// `out[i] = f(a[i], b[i])`, in parallel chunks when large.
pub fn zip_into(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    debug_assert!(out.len() == a.len() && a.len() == b.len());
    for_each_chunk_mut(out, CHUNK, |i, o| {
        let (a, b) = (piece(a, i, o.len()), piece(b, i, o.len()));
        o.iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (&x, &y))| *o = f(x, y))
    });
}

/// `out[i] = f(a[i], b[i], c[i])`, in parallel chunks when large.
pub fn zip3_into(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(f32, f32, f32) -> f32 + Sync,
) {
    debug_assert!(out.len() == a.len() && a.len() == b.len() && b.len() == c.len());
    for_each_chunk_mut(out, CHUNK, |i, o| {
        let n = o.len();
        let (a, b, c) = (piece(a, i, n), piece(b, i, n), piece(c, i, n));
        for j in 0..n {
            o[j] = f(a[j], b[j], c[j]);
        }
    });
}

/// `acc[i] += alpha * x[i]`.
pub fn axpy_into(acc: &mut [f32], alpha: f32, x: &[f32]) {
    debug_assert_eq!(acc.len(), x.len());
    for_each_chunk_mut(acc, CHUNK, |i, a| {
        let x = piece(x, i, a.len());
        a.iter_mut().zip(x).for_each(|(a, &x)| *a += alpha * x)
    });
}

/// The sum of all elements, accumulated in f64 per fixed chunk and the chunks added in
/// order, so the result does not depend on the thread count.
pub fn sum_all(a: &[f32]) -> f64 {
    let chunk_sum = |c: &[f32]| c.iter().map(|&x| x as f64).sum::<f64>();
    if a.len() < 2 * CHUNK {
        a.chunks(CHUNK).map(chunk_sum).sum()
    } else {
        let partials = map_tasks(a.len().div_ceil(CHUNK), |i| {
            chunk_sum(&a[i * CHUNK..][..CHUNK.min(a.len() - i * CHUNK)])
        });
        partials.iter().sum()
    }
}

/// Sums the rows of a `[rows, cols]` matrix into `out[cols]` (`out` is overwritten). Each
/// column is accumulated top to bottom in f64, in the same order on any thread count, and
/// rounded once: an f32 running sum stops at 2^24 when adding ones (a bias gradient over
/// 2e7 rows came out 16,777,216), where PyTorch's pairwise float32 sum is accurate.
/// `cols == 0` (a layer with no outputs) is an empty result, as in PyTorch.
pub fn sum_rows_into(out: &mut [f32], a: &[f32], rows: usize, cols: usize) {
    debug_assert_eq!(out.len(), cols);
    debug_assert_eq!(a.len(), rows * cols);
    // The f64 sums of a block of columns live on the stack: a training step calls this
    // for every bias, and must not allocate (`tests/reliability_allocations.rs`).
    const BLOCK: usize = 256;
    let mut acc = [0f64; BLOCK];
    for start in (0..cols).step_by(BLOCK) {
        let width = BLOCK.min(cols - start);
        let acc = &mut acc[..width];
        acc.fill(0.0);
        for r in 0..rows {
            let row = &a[r * cols + start..][..width];
            acc.iter_mut().zip(row).for_each(|(s, &x)| *s += x as f64);
        }
        let out = &mut out[start..start + width];
        out.iter_mut().zip(&*acc).for_each(|(o, &s)| *o = s as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_all_is_exact_for_integers_and_independent_of_threads() {
        let a: Vec<f32> = (0..200_000).map(|i| (i % 7) as f32).collect();
        let expected: f64 = (0..200_000).map(|i| (i % 7) as f64).sum();
        assert_eq!(sum_all(&a), expected);
    }

    #[test]
    fn sum_rows_is_exact_past_two_to_the_24_and_accepts_zero_columns() {
        // PyTorch (float32): torch.ones(2**24 + 4096, 2).sum(0) is [16781312, 16781312].
        let rows = (1 << 24) + 4096;
        let a = vec![1.0f32; rows * 2];
        let mut out = [0.0; 2];
        sum_rows_into(&mut out, &a, rows, 2);
        assert_eq!(out, [rows as f32; 2]);
        sum_rows_into(&mut [], &[], 3, 0);
    }
}
