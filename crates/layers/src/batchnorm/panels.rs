//! How BatchNorm walks a row-major `(n, c)` matrix: in panels of whole rows, each a
//! contiguous piece of memory that the hardware streams at full speed and that stays in the
//! cache while a panel needs two passes.
//!
//! Panels have a fixed number of rows for a given `(n, c)`, never "one per thread", and the
//! per-panel results of a reduction are combined in panel order: the results are therefore
//! bit-identical on any thread count. Large matrices run their panels in parallel.

use std::cell::Cell;
use tapegrad_core::kernels::{for_each_chunk_mut, CHUNK};

/// Rows per panel of an `(n, c)` matrix: about [`CHUNK`] elements, so that a panel of each
/// input stays in the core's L2 cache between two passes and a large matrix has panels for
/// every thread.
fn panel_rows(c: usize) -> usize {
    (CHUNK / c.max(1)).max(1)
}

/// Elements per panel of a matrix with `c` columns: [`panel_rows`] whole rows.
fn panel_len(c: usize) -> usize {
    panel_rows(c) * c.max(1)
}

thread_local! {
    /// The per-panel partial sums of the thread's last reduction, kept for the next one. A
    /// fresh allocation per call (32 panels x 2 x 1024 `f64` = 512 KiB at `(1024, 1024)`) was
    /// given back to the kernel by `free` and faulted in again on the next call: about 130
    /// page faults per call at that shape, and a fifth of the op's time.
    static PARTIALS: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// The most partial sums a thread keeps between reductions (1 MiB): enough for the batches
/// of training, while a one-off reduction over a whole dataset (18 MiB of partials for
/// 60,000 x 784) does not stay allocated for the life of the thread.
const KEEP_AT_MOST: usize = 1 << 17;

/// A reduction over the panels of `matrix`: `f(p, rows of panel p, partial)` fills panel
/// `p`'s own zeroed `width`-long `partial` (in parallel when there are several panels), then
/// `reduce` gets every panel's partial, in panel order, as consecutive `width`-long pieces
/// of one slice.
///
/// Panics if `width` is 0.
pub(super) fn reduce_panels<T>(
    matrix: &[f32],
    c: usize,
    width: usize,
    f: impl Fn(usize, &[f32], &mut [f64]) + Sync,
    reduce: impl FnOnce(&[f64]) -> T,
) -> T {
    let panels = matrix.len().div_ceil(panel_len(c));
    // Taken out of the cell, not borrowed: a reduction inside `f` or `reduce` (none today)
    // would find an empty vector and allocate, rather than panic on a double borrow.
    let mut partials = PARTIALS.take();
    partials.clear();
    partials.resize(panels * width, 0.0);
    for_each_chunk_mut(&mut partials, width, |p, partial| {
        f(p, panel(matrix, c, p), partial)
    });
    let result = reduce(&partials);
    if partials.capacity() <= KEEP_AT_MOST {
        PARTIALS.set(partials);
    }
    result
}

/// Calls `f(panel index, its rows of `out`)` for every panel of an output matrix, in
/// parallel when it is large.
pub(super) fn for_each_panel_mut(out: &mut [f32], c: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    for_each_chunk_mut(out, panel_len(c), f);
}

/// The rows of panel `p` of a matrix with `c` columns.
pub(super) fn panel(matrix: &[f32], c: usize, p: usize) -> &[f32] {
    let len = panel_len(c);
    let start = (p * len).min(matrix.len());
    &matrix[start..(start + len).min(matrix.len())]
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
                // Each panel's partial records its index, first element and row count.
                let firsts = pool.install(|| {
                    reduce_panels(
                        &x,
                        c,
                        3,
                        |p, rows, partial| {
                            assert_eq!(partial, [0.0; 3], "a partial starts zeroed");
                            partial.copy_from_slice(&[p as f64, rows[0] as f64, rows.len() as f64]);
                        },
                        |partials| partials.to_vec(),
                    )
                });
                let expected: Vec<f64> = x
                    .chunks(panel_rows(c) * c)
                    .enumerate()
                    .flat_map(|(p, rows)| [p as f64, rows[0] as f64, rows.len() as f64])
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

    #[test]
    fn a_thread_keeps_the_partials_of_a_batch_but_not_of_a_huge_reduction() {
        // The capacity this thread keeps after a reduction with partials of `width` values.
        let kept_after = |width: usize| {
            reduce_panels(&[1.0; 8], 4, width, |_, _, _| {}, |_| ());
            let partials = PARTIALS.take();
            let capacity = partials.capacity();
            PARTIALS.set(partials);
            capacity
        };
        assert!(kept_after(2 * 1024) >= 2 * 1024);
        assert!(kept_after(KEEP_AT_MOST) >= KEEP_AT_MOST);
        assert_eq!(kept_after(KEEP_AT_MOST + 1), 0);
    }
}
