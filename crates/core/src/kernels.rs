//! The arithmetic under the ops: chunked parallel loops, deterministic reductions and GEMM.
//!
//! Work is split in fixed-size chunks, never "one chunk per thread", so every result is
//! bit-identical whatever the number of threads.

use rayon::prelude::*;

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

/// A matrix operand of [`gemm`]: row-major data with `rows x cols` *as stored*, used
/// transposed when `transposed` is true (a stride change, never a copy).
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    /// Row-major data.
    pub data: &'a [f32],
    /// Rows as stored.
    pub rows: usize,
    /// Columns as stored.
    pub cols: usize,
    /// Use the transpose of the stored matrix.
    pub transposed: bool,
}

impl<'a> MatRef<'a> {
    /// An operand used as stored.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            transposed: false,
        }
    }

    /// The same operand, transposed when `t` is true.
    pub fn t(self, t: bool) -> Self {
        MatRef {
            transposed: self.transposed ^ t,
            ..self
        }
    }

    /// Rows and columns of the operand as used (after the transpose).
    pub fn dims(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// Row and column strides of the operand as used.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.cols as isize)
        } else {
            (self.cols as isize, 1)
        }
    }
}

/// Multiply-adds below which GEMM runs on the calling thread.
const GEMM_PARALLEL_FLOPS: usize = 1 << 20;
/// The fewest output rows a parallel GEMM task gets, so each packs enough work.
const GEMM_MIN_ROWS: usize = 16;

/// `c = a @ b + beta * c` for `c` of `[m, n]` (row-major), through `matrixmultiply::sgemm`.
///
/// Large products are split by rows of `c` across rayon's threads. Each element of `c` is
/// then computed by the same kernel with the same summation order over `k` whatever the
/// split, so the result does not depend on the thread count.
pub fn gemm(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    let (m, k) = a.dims();
    let (kb, n) = b.dims();
    assert_eq!(k, kb, "gemm: inner dimensions {k} and {kb} differ");
    assert_eq!(
        c.len(),
        m * n,
        "gemm: output has {} elements, not {m}x{n}",
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = a.strides();
    let (rsb, csb) = b.strides();
    let threads = rayon::current_num_threads();
    let parallel = threads > 1 && m * n * k >= GEMM_PARALLEL_FLOPS && m >= 2 * GEMM_MIN_ROWS;
    let rows_per_task = if parallel {
        m.div_ceil(threads).max(GEMM_MIN_ROWS)
    } else {
        m
    };
    let run = |first_row: usize, c_rows: &mut [f32]| {
        let rows = c_rows.len() / n;
        let a_offset = first_row as isize * rsa;
        // SAFETY: the operand slices cover every index the strides reach: `a` holds m x k
        // elements (this task reads rows first_row..first_row+rows), `b` k x n, `c_rows`
        // rows x n; matrixmultiply only reads `a`/`b` and writes `c_rows`.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                k,
                n,
                1.0,
                a.data.as_ptr().offset(a_offset),
                rsa,
                csa,
                b.data.as_ptr(),
                rsb,
                csb,
                beta,
                c_rows.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    };
    assert!(
        a.data.len() >= m * k && b.data.len() >= k * n,
        "gemm: operand too short"
    );
    if parallel {
        c.par_chunks_mut(rows_per_task * n)
            .enumerate()
            .for_each(|(i, chunk)| run(i * rows_per_task, chunk));
    } else {
        run(0, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f32> {
        let (m, k) = a.dims();
        let (_, n) = b.dims();
        let at = |r: usize, c: usize| {
            if a.transposed {
                a.data[c * a.cols + r]
            } else {
                a.data[r * a.cols + c]
            }
        };
        let bt = |r: usize, c: usize| {
            if b.transposed {
                b.data[c * b.cols + r]
            } else {
                b.data[r * b.cols + c]
            }
        };
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
            }
        }
        out
    }

    #[test]
    fn gemm_matches_a_naive_product_for_every_transpose() {
        let a: Vec<f32> = (0..6).map(|x| x as f32 * 0.5 - 1.0).collect();
        let b: Vec<f32> = (0..12).map(|x| (x as f32).sin()).collect();
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let am = if ta {
                MatRef::new(&a, 3, 2).t(true)
            } else {
                MatRef::new(&a, 2, 3)
            };
            let bm = if tb {
                MatRef::new(&b, 4, 3).t(true)
            } else {
                MatRef::new(&b, 3, 4)
            };
            let mut c = vec![0.0; 8];
            gemm(am, bm, 0.0, &mut c);
            let expected = naive(am, bm);
            for (x, y) in c.iter().zip(&expected) {
                assert!(
                    (x - y).abs() < 1e-5,
                    "ta={ta} tb={tb}: {c:?} vs {expected:?}"
                );
            }
        }
    }

    #[test]
    fn gemm_is_bit_identical_on_one_and_two_threads() {
        let (m, k, n) = (256, 300, 128);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104729) % 1000) as f32 / 991.0 - 0.5)
            .collect();
        let product = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = vec![0.0; m * n];
            pool.install(|| gemm(MatRef::new(&a, m, k), MatRef::new(&b, k, n), 0.0, &mut c));
            c
        };
        assert_eq!(product(1), product(2));
        assert_eq!(product(1), product(3));
    }

    #[test]
    fn sum_all_is_exact_for_integers_and_independent_of_threads() {
        let a: Vec<f32> = (0..200_000).map(|i| (i % 7) as f32).collect();
        let expected: f64 = (0..200_000).map(|i| (i % 7) as f64).sum();
        assert_eq!(sum_all(&a), expected);
    }
}
