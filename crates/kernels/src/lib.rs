//! # tapegrad-kernels
//!
//! The arithmetic under tapegrad's ops, optimizers and batch loader: chunked parallel loops,
//! deterministic reductions and GEMM. It knows nothing of tensors or autograd, so every crate
//! of the workspace can use its threads.
//!
//! Work is split in fixed-size chunks, never "one chunk per thread", so every result is
//! bit-identical whatever the number of threads (GEMM splits per thread, but only along rows
//! or columns of the output, which leaves each element's arithmetic unchanged: see
//! `gemm.rs`). [`multiversion!`] compiles a loop for AVX-512 and AVX2 too, chosen at run
//! time, with identical results.
#![warn(missing_docs)]

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

/// Elements per parallel chunk of an element-wise loop (`2^15`): a few microseconds of work, against
/// well under one to hand a task to a spinning worker of the team (`team.rs`).
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
/// column is accumulated top to bottom, in the same order on any thread count.
pub fn sum_rows_into(out: &mut [f32], a: &[f32], rows: usize, cols: usize) {
    debug_assert_eq!(out.len(), cols);
    debug_assert_eq!(a.len(), rows * cols);
    out.fill(0.0);
    for row in a.chunks_exact(cols) {
        out.iter_mut().zip(row).for_each(|(o, &x)| *o += x);
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
}
