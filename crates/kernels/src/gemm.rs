//! GEMM through `matrixmultiply::sgemm`, with strides for transposes and a split of large
//! products across the kernels' threads that leaves every result bit-identical.
//!
//! Why the split cannot change a result: `sgemm` computes each element of `C` with the same
//! micro-kernel and the same summation order over `k` (fixed blocks of `k`, one FMA chain per
//! block) wherever the element sits in its tile, and the tasks below cut `C` into blocks of
//! whole rows or whole columns, never `k`. So one thread, two or three give the same bits.
//! `matrixmultiply`'s own threading is not used: it would start threads beside the team's
//! (`team.rs`), or beside rayon's pool, which run the blocks here.

use super::{parallel_for, threads};

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

/// Multiply-adds below which a GEMM runs on the calling thread (and the two GEMMs of a
/// backward one after the other). Handing work to the team's worker while it spins costs an
/// atomic store and a cache-line round trip; `2^18` multiply-adds take 3-10 us. Under the
/// earlier `2^20`, the sigmoid net's 60 x 100 x 100 products (600K) ran serially: its 1000
/// steps took 0.566 s, now 0.500 s (medians of 7 interleaved runs); `2^17` was no better.
const PARALLEL_MADDS: usize = 1 << 18;
/// Task boundaries fall on multiples of this many rows or columns: the AVX-512 micro-kernel's
/// tile is 16 x 16 (AVX2's is 8 x 8), so no tile is cut by a boundary.
const TILE: usize = 16;

/// `c = a @ b + beta * c` for `c` of `[m, n]` (row-major), through `matrixmultiply::sgemm`,
/// split across [`threads`] tasks when large. The result does not depend on the thread count.
///
/// `beta = 0` overwrites `c` (its old contents, even NaN, are ignored).
pub fn gemm(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    gemm_on(threads(), a, b, beta, c);
}

/// [`gemm`] on the calling thread only: for products that already run beside others (the
/// two GEMMs of a backward, each on its own thread).
pub fn gemm_serial(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    gemm_on(1, a, b, beta, c);
}

/// Whether a product of these dimensions is worth splitting across threads.
pub fn gemm_is_large(m: usize, k: usize, n: usize) -> bool {
    m * k * n >= PARALLEL_MADDS
}

/// Where a GEMM's operands and output are, as `sgemm` takes them.
#[derive(Clone, Copy)]
struct Raw {
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    /// Row stride of `c` (its column stride is 1).
    ldc: usize,
    k: usize,
    beta: f32,
}

// SAFETY: `Raw` is only used while the slices it was made from are borrowed by `gemm_on`, and
// the tasks that share it write disjoint blocks of `c`.
unsafe impl Send for Raw {}
unsafe impl Sync for Raw {}

impl Raw {
    /// `C[rows, cols] (+)= A[rows, :] B[:, cols]` for the block of `rows` x `cols`.
    ///
    /// SAFETY: the block must lie inside the operands `Raw` was made from, and no other task
    /// may write it at the same time.
    unsafe fn block(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
        matrixmultiply::sgemm(
            rows.len(),
            self.k,
            cols.len(),
            1.0,
            self.a.offset(rows.start as isize * self.rsa),
            self.rsa,
            self.csa,
            self.b.offset(cols.start as isize * self.csb),
            self.rsb,
            self.csb,
            self.beta,
            self.c.add(rows.start * self.ldc + cols.start),
            self.ldc as isize,
            1,
        );
    }
}

fn gemm_on(threads: usize, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    let (m, k) = a.dims();
    let (kb, n) = b.dims();
    assert_eq!(k, kb, "gemm: inner dimensions {k} and {kb} differ");
    assert_eq!(
        c.len(),
        m * n,
        "gemm: output has {} elements, not {m}x{n}",
        c.len()
    );
    assert!(
        a.data.len() >= m * k && b.data.len() >= k * n,
        "gemm: operand too short"
    );
    if m == 0 || n == 0 {
        return;
    }
    let ((rsa, csa), (rsb, csb)) = (a.strides(), b.strides());
    let raw = Raw {
        a: a.data.as_ptr(),
        rsa,
        csa,
        b: b.data.as_ptr(),
        rsb,
        csb,
        c: c.as_mut_ptr(),
        ldc: n,
        k,
        beta,
    };
    // Each task packs its own copy of the operand it shares with the others: split the
    // columns (sharing A) when A is the smaller, else the rows (sharing B).
    let by_columns = m <= n;
    let extent = if by_columns { n } else { m };
    let tasks = if threads > 1 && gemm_is_large(m, k, n) {
        threads.min(extent / TILE).max(1)
    } else {
        1
    };
    // SAFETY (both arms): the blocks are inside `a`, `b` and `c` (checked above) and each
    // task writes its own rows or columns of `c`, which `gemm_on` borrows mutably throughout.
    let run = |task: usize| {
        let span = task_boundary(task, tasks, extent)..task_boundary(task + 1, tasks, extent);
        unsafe {
            if by_columns {
                raw.block(0..m, span)
            } else {
                raw.block(span, 0..n)
            }
        }
    };
    parallel_for(tasks, run);
}

/// Where task `task` of `tasks` starts in an extent of `extent` rows or columns: the even
/// share rounded to the nearest multiple of [`TILE`], so shares differ by at most a tile
/// (100 columns split 48 + 52, not 64 + 36) and no micro-kernel tile is cut.
fn task_boundary(task: usize, tasks: usize, extent: usize) -> usize {
    if task >= tasks {
        extent
    } else {
        (task * extent / tasks + TILE / 2) / TILE * TILE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{with_backend, Backend};

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

    fn filled(len: usize, prime: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * prime) % 1000) as f32 / 997.0 - 0.5)
            .collect()
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
    fn task_boundaries_are_balanced_tile_multiples() {
        for (tasks, extent) in [(2, 100), (2, 512), (3, 1001), (2, 32), (5, 80)] {
            let bounds: Vec<usize> = (0..=tasks)
                .map(|t| task_boundary(t, tasks, extent))
                .collect();
            assert_eq!((bounds[0], bounds[tasks]), (0, extent));
            for w in bounds.windows(2) {
                let share = w[1] - w[0];
                assert!(share > 0, "{bounds:?}");
                assert!(share.abs_diff(extent / tasks) <= TILE, "{bounds:?}");
            }
            assert!(bounds[..tasks].iter().all(|b| b % TILE == 0), "{bounds:?}");
        }
        assert_eq!(task_boundary(1, 2, 100), 48);
    }

    #[test]
    fn gemm_is_bit_identical_on_either_backend_and_any_thread_count() {
        // Tall (split by rows), wide (split by columns), ragged sizes, transposes, and a beta
        // that reads the old contents of c.
        let cases = [
            (256, 300, 128, false, false, 0.0),
            (100, 784, 60, true, false, 1.0),
            (60, 784, 100, false, true, 0.0),
            (37, 530, 1001, true, true, 0.5),
        ];
        for (m, k, n, ta, tb, beta) in cases {
            let a = filled(m * k, 7919);
            let b = filled(k * n, 104_729);
            let am = if ta {
                MatRef::new(&a, k, m).t(true)
            } else {
                MatRef::new(&a, m, k)
            };
            let bm = if tb {
                MatRef::new(&b, n, k).t(true)
            } else {
                MatRef::new(&b, k, n)
            };
            let product = |backend: Backend, threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = filled(m * n, 31);
                pool.install(|| with_backend(backend, || gemm(am, bm, beta, &mut c)));
                c
            };
            let one = product(Backend::Team, 1);
            for backend in [Backend::Team, Backend::Rayon] {
                for threads in [1, 2, 3] {
                    let c = product(backend, threads);
                    assert_eq!(one, c, "{m}x{k}x{n}, {backend:?} on {threads} threads");
                }
            }
            let mut serial = filled(m * n, 31);
            gemm_serial(am, bm, beta, &mut serial);
            assert_eq!(one, serial, "{m}x{k}x{n}");
            let mut expected = naive(am, bm);
            for (e, old) in expected.iter_mut().zip(filled(m * n, 31)) {
                *e += beta * old;
            }
            for (x, y) in one.iter().zip(&expected) {
                assert!((x - y).abs() < 1e-3, "{m}x{k}x{n}: {x} vs {y}");
            }
        }
    }
}
