//! The arithmetic under the ops: chunked parallel loops, deterministic reductions and GEMM.
//!
//! Work is split in fixed-size chunks, never "one chunk per thread", so every result is
//! bit-identical whatever the number of threads (GEMM splits per thread, but only along rows
//! or columns of the output, which leaves each element's arithmetic unchanged: see
//! `kernels/gemm.rs`). [`multiversion!`](crate::multiversion) compiles a loop for AVX-512
//! and AVX2 too, chosen at run time, with identical results.

use rayon::prelude::*;

mod gemm;
mod math;
mod simd;

pub use gemm::{gemm, gemm_is_large, gemm_serial, MatRef};
pub use math::{exp, sigmoid, sigmoid_into};
pub use simd::{has_avx2, has_avx512};

/// Runs `f` on one of rayon's worker threads (directly if already on one), and returns its
/// result. The parallel loops of the kernels inside `f` then hand work to the other threads
/// as cheap local jobs, instead of each waking the pool from outside (a training step forks
/// a dozen times).
///
/// ```
/// use tapegrad_core::kernels::in_worker;
/// assert!(rayon::current_thread_index().is_none());
/// assert!(in_worker(|| rayon::current_thread_index().is_some()));
/// ```
pub fn in_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

/// Elements per parallel chunk of an element-wise loop. Below two chunks the loop runs on the
/// calling thread: spawning costs more than it saves.
pub const CHUNK: usize = 1 << 15;

/// `out[i] = f(a[i])`, in parallel chunks when large.
pub fn map_into(out: &mut [f32], a: &[f32], f: impl Fn(f32) -> f32 + Sync) {
    debug_assert_eq!(out.len(), a.len());
    if out.len() < 2 * CHUNK {
        out.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x));
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .for_each(|(o, a)| o.iter_mut().zip(a).for_each(|(o, &x)| *o = f(x)));
    }
}

/// `out[i] = f(a[i], b[i])`, in parallel chunks when large.
pub fn zip_into(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    debug_assert!(out.len() == a.len() && a.len() == b.len());
    let serial = |o: &mut [f32], a: &[f32], b: &[f32]| {
        o.iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (&x, &y))| *o = f(x, y))
    };
    if out.len() < 2 * CHUNK {
        serial(out, a, b);
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (a, b))| serial(o, a, b));
    }
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
    let serial = |o: &mut [f32], a: &[f32], b: &[f32], c: &[f32]| {
        for i in 0..o.len() {
            o[i] = f(a[i], b[i], c[i]);
        }
    };
    if out.len() < 2 * CHUNK {
        serial(out, a, b, c);
    } else {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK).zip(c.par_chunks(CHUNK)))
            .for_each(|((o, a), (b, c))| serial(o, a, b, c));
    }
}

/// `acc[i] += alpha * x[i]`.
pub fn axpy_into(acc: &mut [f32], alpha: f32, x: &[f32]) {
    debug_assert_eq!(acc.len(), x.len());
    if acc.len() < 2 * CHUNK {
        acc.iter_mut().zip(x).for_each(|(a, &x)| *a += alpha * x);
    } else {
        acc.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(a, x)| a.iter_mut().zip(x).for_each(|(a, &x)| *a += alpha * x));
    }
}

/// The sum of all elements, accumulated in f64 per fixed chunk and the chunks added in
/// order, so the result does not depend on the thread count.
pub fn sum_all(a: &[f32]) -> f64 {
    let chunk_sum = |c: &[f32]| c.iter().map(|&x| x as f64).sum::<f64>();
    if a.len() < 2 * CHUNK {
        a.chunks(CHUNK).map(chunk_sum).sum()
    } else {
        let partials: Vec<f64> = a.par_chunks(CHUNK).map(chunk_sum).collect();
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
