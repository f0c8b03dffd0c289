//! How BatchNorm walks a row-major `(n, c)` matrix: in panels of whole rows, each a
//! contiguous piece of memory that the hardware streams at full speed and that stays in the
//! cache while a panel needs two passes.
//!
//! Panels have a fixed number of rows for a given `(n, c)`, never "one per thread", and the
//! per-panel results of a reduction are combined in panel order: the results are therefore
//! bit-identical on any thread count. Large matrices run their panels in parallel.

use tapegrad_core::kernels::{for_each_chunk_mut, map_tasks, CHUNK};

/// Rows per panel of an `(n, c)` matrix: about [`CHUNK`] elements, so that a panel of each
/// input stays in the core's L2 cache between two passes and a large matrix has panels for
/// every thread.
pub(super) fn panel_rows(c: usize) -> usize {
    (CHUNK / c.max(1)).max(1)
}

/// `(panel index, its rows of `matrix`)` for every panel, in parallel when the matrix is
/// large; `f`'s results are returned in panel order.
pub(super) fn map_panels<R: Send>(
    matrix: &[f32],
    c: usize,
    f: impl Fn(usize, &[f32]) -> R + Sync,
) -> Vec<R> {
    let rows = panel_rows(c) * c.max(1);
    map_tasks(matrix.len().div_ceil(rows), |p| f(p, panel(matrix, c, p)))
}

/// Calls `f(panel index, its rows of `out`)` for every panel of an output matrix, in
/// parallel when it is large.
pub(super) fn for_each_panel_mut(out: &mut [f32], c: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    for_each_chunk_mut(out, panel_rows(c) * c.max(1), f);
}

/// The rows of panel `p` of a matrix with `c` columns.
pub(super) fn panel(matrix: &[f32], c: usize, p: usize) -> &[f32] {
    let rows = panel_rows(c) * c;
    let start = (p * rows).min(matrix.len());
    &matrix[start..(start + rows).min(matrix.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_cover_every_row_once_in_order_whatever_the_thread_count() {
        for (n, c) in [(3, 4), (1000, 70), (4096, 256), (2, 100), (70_000, 1)] {
            let x: Vec<f32> = (0..n * c).map(|i| i as f32).collect();
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let firsts = pool.install(|| map_panels(&x, c, |p, rows| (p, rows[0])));
                let expected: Vec<(usize, f32)> = x
                    .chunks(panel_rows(c) * c)
                    .enumerate()
                    .map(|(p, rows)| (p, rows[0]))
                    .collect();
                assert_eq!(firsts, expected, "n {n} c {c}");
                let mut out = vec![0f32; n * c];
                pool.install(|| {
                    for_each_panel_mut(&mut out, c, |p, y| {
                        y.copy_from_slice(panel(&x, c, p));
                    })
                });
                assert_eq!(out, x, "n {n} c {c} threads {threads}");
            }
        }
    }
}
