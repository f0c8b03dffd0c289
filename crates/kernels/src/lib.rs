//! # tapegrad-kernels
//!
//! The arithmetic under tapegrad's ops, optimizers and batch loader: chunked parallel loops,
//! deterministic reductions, GEMM, and vectorised element-wise math. It knows nothing of
//! tensors or autograd, so every crate of the workspace can use its threads.
//!
//! Work is split in fixed-size chunks, never "one chunk per thread", so every result is
//! bit-identical whatever the number of threads (GEMM splits per thread, but only along rows
//! or columns of the output, which leaves each element's arithmetic unchanged: see
//! `gemm.rs`). [`multiversion!`] compiles a loop for AVX-512 and AVX2 too, chosen at run
//! time, with identical results.
//!
//! ## Threads
//!
//! The number of tasks a large loop is split into is rayon's thread count where the loop
//! starts ([`threads`]): `RAYON_NUM_THREADS`, or the pool a `ThreadPool::install` runs in.
//! Which threads run them is the [`Backend`], chosen by the environment variable
//! `TAPEGRAD_THREADS` ([`BACKEND_VAR`]), read once at the first parallel loop:
//!
//! - `TAPEGRAD_THREADS=team`: tapegrad's own workers, which spin between the short loops of
//!   a training step instead of going to sleep;
//! - `TAPEGRAD_THREADS=rayon`: rayon's pool;
//! - unset: [`Backend::DEFAULT`], the team, the faster of the two on the MNIST epochs on idle
//!   cores (rayon's pool wins on cores other processes keep busy).
//!
//! Both give the same bits. [`with_backend`] overrides the variable for the loops one thread
//! starts (the tests run every kernel on both that way).
//!
//! ```
//! use tapegrad_kernels::{sum_all, with_backend, Backend};
//! let x: Vec<f32> = (0..100_000).map(|i| (i % 10) as f32).collect();
//! let team = with_backend(Backend::Team, || sum_all(&x));
//! let rayon = with_backend(Backend::Rayon, || sum_all(&x));
//! assert_eq!(team.to_bits(), rayon.to_bits());
//! ```
#![warn(missing_docs)]

mod gemm;
mod math;
mod parallel;
mod same_bits;
mod simd;
mod team;

pub use gemm::{gemm, gemm_is_large, gemm_serial, MatRef};
pub use math::{exp, relu, relu_backward, sigmoid, sigmoid_into};
pub use parallel::{
    backend, for_each_chunk_mut, for_each_chunk_pair_mut, for_each_item, join, map_tasks,
    parallel_for, threads, with_backend, Backend, BACKEND_VAR,
};
pub use same_bits::assert_same_on_any_threads;
pub use simd::{has_avx2, has_avx512};
pub use team::MAX_TASKS;

/// Elements per parallel chunk of an element-wise loop (`2^15`): a few microseconds of work,
/// against well under one to hand a task to a spinning worker of the team (`team.rs`).
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

    /// The outputs of every chunked kernel on inputs of several chunks, as bits.
    fn every_kernel(x: &[f32], y: &[f32], z: &[f32]) -> Vec<u64> {
        let n = x.len();
        let mut out = vec![0.0; n];
        let mut bits: Vec<u64> = Vec::new();
        let mut keep = |v: &[f32]| bits.extend(v.iter().map(|x| x.to_bits() as u64));
        map_into(&mut out, x, |v| exp(v) * 0.5);
        keep(&out);
        zip_into(&mut out, x, y, |a, b| a * b + a);
        keep(&out);
        zip3_into(&mut out, x, y, z, |a, b, c| a * b - c);
        keep(&out);
        sigmoid_into(&mut out, x);
        keep(&out);
        out.copy_from_slice(z);
        axpy_into(&mut out, 0.3, y);
        keep(&out);
        let mut rows = vec![0.0; 100];
        sum_rows_into(&mut rows, &x[..n / 100 * 100], n / 100, 100);
        keep(&rows);
        let mut c = vec![0.0; 100 * 100];
        gemm(
            MatRef::new(&x[..100 * 700], 100, 700),
            MatRef::new(&y[..700 * 100], 100, 700).t(true),
            0.0,
            &mut c,
        );
        keep(&c);
        bits.push(sum_all(x).to_bits());
        bits
    }

    #[test]
    fn every_kernel_gives_the_same_bits_on_either_backend_and_any_thread_count() {
        let n = 5 * CHUNK + 1200;
        let wave = |k: f32| -> Vec<f32> { (0..n).map(|i| (i as f32 * k).sin() * 3.0).collect() };
        let (x, y, z) = (wave(0.37), wave(1.13), wave(0.071));
        let reference = with_backend(Backend::Team, || {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| every_kernel(&x, &y, &z))
        });
        for backend in [Backend::Team, Backend::Rayon] {
            for threads in [1, 2, 3, 4] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let bits = pool.install(|| with_backend(backend, || every_kernel(&x, &y, &z)));
                assert!(
                    bits == reference,
                    "{backend:?} on {threads} threads differs"
                );
            }
        }
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
