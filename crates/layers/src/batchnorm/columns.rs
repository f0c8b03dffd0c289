//! Loops over a row-major `(n, c)` matrix, one feature per column, shaped for the cache:
//! per-feature sums are accumulated row by row into a `[c]` vector (each row is read once,
//! contiguously), and element-wise passes go over blocks of whole rows.
//!
//! Large inputs run in parallel in fixed-size pieces (features for reductions, rows for
//! element-wise passes), never "one piece per thread": every feature's sum is accumulated
//! over the rows in the same order whatever the thread count, so results are bit-identical
//! on any machine.

use rayon::prelude::*;
use tapegrad_core::kernels::CHUNK;

/// Features per parallel task of a reduction: 64 `f32` are four cache lines of each row.
const FEATURE_CHUNK: usize = 64;

/// Calls `row(acc, r, j0)` for every row `r` in order, where `acc` is the part of the
/// per-feature accumulators `acc_all` (`[c]`) for features `j0..j0 + acc.len()`.
///
/// Below `2 * CHUNK` elements, or with one feature chunk, it is one task over all
/// features; above, tasks of `FEATURE_CHUNK` features run in parallel.
pub(super) fn reduce_columns<A: Send>(
    acc_all: &mut [A],
    n: usize,
    row: impl Fn(&mut [A], usize, usize) + Sync,
) {
    let c = acc_all.len();
    if n * c < 2 * CHUNK || c <= FEATURE_CHUNK {
        for r in 0..n {
            row(acc_all, r, 0);
        }
    } else {
        acc_all
            .par_chunks_mut(FEATURE_CHUNK)
            .enumerate()
            .for_each(|(k, acc)| {
                for r in 0..n {
                    row(acc, r, k * FEATURE_CHUNK);
                }
            });
    }
}

/// Calls `rows(block, r0)` over blocks of whole rows of `out` (`[n, c]`), `r0` being the
/// block's first row; in parallel blocks of about `CHUNK` elements when `out` is large.
pub(super) fn map_rows(out: &mut [f32], c: usize, rows: impl Fn(&mut [f32], usize) + Sync) {
    if c == 0 || out.is_empty() {
        return;
    }
    if out.len() < 2 * CHUNK {
        rows(out, 0);
    } else {
        let per_block = (CHUNK / c).max(1);
        out.par_chunks_mut(per_block * c)
            .enumerate()
            .for_each(|(k, block)| rows(block, k * per_block));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column_sums(x: &[f32], n: usize, c: usize) -> Vec<f64> {
        let mut acc = vec![0f64; c];
        reduce_columns(&mut acc, n, |acc, r, j0| {
            let row = &x[r * c + j0..][..acc.len()];
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
        });
        acc
    }

    #[test]
    fn parallel_and_serial_paths_agree_bit_for_bit() {
        // 300 features x 400 rows takes the parallel path, with a partial last chunk.
        let (n, c) = (400, 300);
        let x: Vec<f32> = (0..n * c)
            .map(|i| ((i * 7919) % 1013) as f32 / 101.0 - 5.0)
            .collect();
        let serial: Vec<f64> = (0..c)
            .map(|j| (0..n).map(|r| x[r * c + j] as f64).sum())
            .collect();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(
                pool.install(|| column_sums(&x, n, c)),
                serial,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn map_rows_visits_every_row_once_with_its_index() {
        for (n, c) in [(3, 4), (1000, 70), (70_000, 1)] {
            let mut out = vec![0f32; n * c];
            map_rows(&mut out, c, |block, r0| {
                for (i, row) in block.chunks_exact_mut(c).enumerate() {
                    row.iter_mut().for_each(|v| *v += (r0 + i) as f32);
                }
            });
            for (r, row) in out.chunks_exact(c).enumerate() {
                assert!(row.iter().all(|&v| v == r as f32), "n {n} c {c} row {r}");
            }
        }
    }
}
