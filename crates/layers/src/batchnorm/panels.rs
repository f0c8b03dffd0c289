//! How BatchNorm walks a row-major `(n, c)` matrix: in *panels* of whole rows, taken in
//! order.
//!
//! Reductions (the statistics, the gradient's sums) compute each panel's sums per feature
//! and merge them in panel order. A large matrix runs its panels in parallel; a small one,
//! with fewer panels than it would take to keep every thread busy, is cut in *column
//! strips* instead, each task owning some features and walking every panel for them, so
//! that a batch of one panel still uses every core. Every feature's arithmetic is the same
//! whichever way the work is cut, so the results are bit-identical on any thread count.
//!
//! Element-wise maps (the normalisation, the input gradient) go in chunks of whole rows.

use std::cell::Cell;
use std::ops::Range;
use tapegrad_kernels::{for_each_chunk_mut, for_each_chunk_pair_mut, threads, CHUNK};

/// Rows per panel of an `(n, c)` matrix: about [`CHUNK`] elements, a panel of each input
/// small enough for the core's L2 cache, and enough rows that merging the panels' sums
/// costs little beside computing them.
pub(super) fn panel_rows(c: usize) -> usize {
    (CHUNK / c.max(1)).max(1)
}

/// Elements per panel of a matrix with `c` columns: [`panel_rows`] whole rows.
fn panel_len(c: usize) -> usize {
    panel_rows(c) * c.max(1)
}

/// The fewest elements worth a task of their own: handing work to another core costs about
/// a microsecond, the time these take in one of BatchNorm's loops. (At 2048, a batch of 60
/// x 100 went to both cores and took 1.4x as long as on one: 10.9 against 7.6 us.)
const MIN_TASK: usize = 4096;

/// Features per column strip of an `(n, c)` matrix of `len` elements: all of them when one
/// thread does the work or the matrix is too small to share, otherwise a share per thread,
/// rounded up to whole vectors of 8 `f64`.
fn strip_width(len: usize, c: usize) -> usize {
    let tasks = threads().min(len / MIN_TASK);
    if tasks <= 1 {
        return c.max(1);
    }
    c.div_ceil(tasks).next_multiple_of(8)
}

thread_local! {
    /// A thread's scratch space for one panel's partial results, kept for the next
    /// reduction rather than allocated for each.
    static SCRATCH: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// The most scratch a thread keeps between reductions (1 MiB): plenty for the batches of
/// training, while a one-off reduction over a whole dataset (18 MiB of per-panel sums for
/// 60,000 x 784) does not stay allocated for the life of the thread.
const KEEP_AT_MOST: usize = 1 << 17;

/// `f(scratch)` with `len` `f64` of the thread's scratch space, holding whatever the last
/// reduction left there: not zeroed, which cost a 512 KiB `memset` per reduction of a
/// 1024x1024 batch.
fn with_scratch<T>(len: usize, f: impl FnOnce(&mut [f64]) -> T) -> T {
    // Taken out of the cell, not borrowed: a reduction inside `f` (none today) would find an
    // empty vector and allocate, rather than panic on a double borrow.
    let mut scratch = SCRATCH.take();
    if scratch.len() < len {
        scratch.resize(len, 0.0);
    }
    let result = f(&mut scratch[..len]);
    if scratch.capacity() <= KEEP_AT_MOST {
        SCRATCH.set(scratch);
    }
    result
}

/// Two per-feature totals being reduced: the whole `[c]` vectors, or a strip's slices.
pub(super) type Totals<'a> = (&'a mut [f64], &'a mut [f64]);

/// A reduction over the rows of an `(n, c)` matrix of `len` elements into two per-feature
/// `totals` (`[c]` each, zeroed by the caller). For each panel in order, `partial(rows,
/// cols, sums)` sets per-feature `sums` (two slices of `cols.len()`, holding stale values
/// until it does) for the features `cols` from the panel's rows (`rows`, a range of elements
/// of whole rows), then `merge(before, panel_rows, totals, sums)` adds them to the same
/// features' `totals`, `before` being the number of rows already in.
///
/// In parallel: a matrix whose panels share evenly between the threads, or that has panels
/// to spare for every thread, by panels (each panel's sums for all features, then the
/// merges in panel order, split between the threads by features); a smaller one by column
/// strips (each task walks all panels for some features), so that a batch of one panel
/// still uses every core. Column strips of a large matrix were slower (4096x256: each thread
/// reading half of every 1 KiB row, 12-24% longer). Both give the same bits.
pub(super) fn reduce_rows(
    len: usize,
    c: usize,
    totals: Totals<'_>,
    partial: impl Fn(Range<usize>, Range<usize>, Totals<'_>) + Sync,
    merge: impl Fn(usize, usize, Totals<'_>, (&[f64], &[f64])) + Sync,
) {
    let panels = len.div_ceil(panel_len(c));
    let rows_of = |p: usize| p * panel_len(c)..((p + 1) * panel_len(c)).min(len);
    // The rows before panel `p` and in it.
    let row_counts = |p: usize| (rows_of(p).start / c, rows_of(p).len() / c);
    if by_panels(panels) {
        // Every panel's sums side by side in the calling thread's scratch, then merged.
        with_scratch(panels * 2 * c, |scratch| {
            for_each_chunk_mut(scratch, 2 * c, |p, sums| {
                let (a, b) = sums.split_at_mut(c);
                partial(rows_of(p), 0..c, (a, b));
            });
            let scratch = &*scratch;
            let width = strip_width(panels * c, c);
            for_each_chunk_pair_mut(totals.0, totals.1, width, |s, a, b| {
                let cols = s * width..s * width + a.len();
                for (p, sums) in scratch.chunks_exact(2 * c).enumerate() {
                    let (before, rows) = row_counts(p);
                    let (pa, pb) = sums.split_at(c);
                    merge(
                        before,
                        rows,
                        (&mut *a, &mut *b),
                        (&pa[cols.clone()], &pb[cols.clone()]),
                    );
                }
            });
        });
        return;
    }
    let width = strip_width(len, c);
    for_each_chunk_pair_mut(totals.0, totals.1, width, |s, a, b| {
        let cols = s * width..s * width + a.len();
        with_scratch(2 * cols.len(), |scratch| {
            for p in 0..panels {
                let (sa, sb) = scratch.split_at_mut(cols.len());
                partial(rows_of(p), cols.clone(), (&mut *sa, &mut *sb));
                let (before, rows) = row_counts(p);
                merge(before, rows, (&mut *a, &mut *b), (sa, sb));
            }
        })
    });
}

/// Whether a reduction over `panels` panels goes by panels: when they share evenly between
/// the threads (a 128x512 batch's two), or when there are enough of them that an odd one
/// out matters little.
fn by_panels(panels: usize) -> bool {
    let threads = threads();
    panels >= 2 * threads || (threads > 1 && panels.is_multiple_of(threads))
}

/// The piece of `matrix` (`c` columns) that a kernel walks for the features `cols` of the
/// whole rows `rows`: from the first row's first feature of `cols` to the end of the last
/// row. Its rows are `c` apart; the first `cols.len()` values of each are the strip's.
pub(super) fn strip<'a>(
    matrix: &'a [f32],
    c: usize,
    rows: &Range<usize>,
    cols: &Range<usize>,
) -> &'a [f32] {
    debug_assert!(cols.end <= c);
    &matrix[rows.start + cols.start..rows.end]
}

/// Calls `f(offset, chunk)` for chunks of whole rows of an output matrix with `c` columns
/// (`offset` being the chunk's first element), in parallel when it is large: panels, or for
/// a matrix of fewer panels than threads, a share of the rows per thread.
pub(super) fn for_each_row_chunk_mut(
    out: &mut [f32],
    c: usize,
    f: impl Fn(usize, &mut [f32]) + Sync,
) {
    let rows = out.len() / c.max(1);
    let tasks = threads().min(out.len() / MIN_TASK).max(1);
    let chunk = (rows.div_ceil(tasks).max(1) * c.max(1)).min(panel_len(c));
    for_each_chunk_mut(out, chunk, |i, piece| f(i * chunk, piece));
}

/// Fills the calling thread's scratch space with NaN, as a reduction that left NaN there
/// would: what the next reduction computes must not depend on it.
#[cfg(test)]
pub(super) fn poison_scratch() {
    SCRATCH.set(vec![f64::NAN; KEEP_AT_MOST]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const SHAPES: [(usize, usize); 8] = [
        (3, 4),
        (1000, 70),
        (4096, 256),
        (128, 512),
        (600, 1024),
        (2, 100),
        (60, 100),
        (70_000, 1),
    ];

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn reductions_see_every_panel_in_order_and_cover_every_feature_once() {
        for (n, c) in SHAPES {
            let x: Vec<f32> = (0..n * c).map(|i| i as f32).collect();
            for threads in [1, 2, 3] {
                let (mut sums, mut rows) = (vec![0.0; c], vec![0.0; c]);
                let strips = Mutex::new(Vec::new());
                let partial = |panel: Range<usize>, cols: Range<usize>, (s, r): Totals<'_>| {
                    assert_eq!(
                        panel.start % (panel_rows(c) * c),
                        0,
                        "panels do not depend on strips"
                    );
                    assert_eq!((s.len(), r.len()), (cols.len(), cols.len()));
                    // What a partial is given is stale: it sets its sums.
                    s.fill(0.0);
                    r.fill(0.0);
                    let piece = strip(&x, c, &panel, &cols);
                    for row in piece.chunks(c) {
                        for (j, &v) in row[..cols.len()].iter().enumerate() {
                            s[j] += v as f64;
                            r[j] += 1.0;
                        }
                    }
                    strips.lock().unwrap().push(cols);
                };
                let merge =
                    |before: usize, rows: usize, (s, r): Totals<'_>, (ps, pr): (&[f64], &[f64])| {
                        // Panels come in order: the rows already in are exactly what the strip counted.
                        assert!(r.iter().all(|&v| v == before as f64));
                        assert!(pr.iter().all(|&v| v == rows as f64));
                        s.iter_mut().zip(ps).for_each(|(s, p)| *s += p);
                        r.iter_mut().zip(pr).for_each(|(r, p)| *r += p);
                    };
                pool(threads).install(|| {
                    poison_scratch();
                    reduce_rows(x.len(), c, (&mut sums, &mut rows), partial, merge)
                });
                let expected: Vec<f64> = (0..c)
                    .map(|j| (0..n).map(|r| x[r * c + j] as f64).sum())
                    .collect();
                assert_eq!(sums, expected, "n {n} c {c} threads {threads}");
                assert_eq!(rows, vec![n as f64; c]);
                let mut cols = strips.into_inner().unwrap();
                cols.sort_by_key(|r| r.start);
                cols.dedup();
                let covered: Vec<usize> = cols.into_iter().flatten().collect();
                assert_eq!(
                    covered,
                    (0..c).collect::<Vec<_>>(),
                    "n {n} c {c} threads {threads}"
                );
            }
        }
    }

    #[test]
    fn small_matrices_are_shared_between_threads_and_one_thread_takes_whole_rows() {
        assert_eq!(pool(2).install(|| strip_width(128 * 100, 100)), 56);
        assert_eq!(pool(1).install(|| strip_width(128 * 100, 100)), 100);
        assert_eq!(
            pool(2).install(|| strip_width(60 * 100, 100)),
            100,
            "too small to share"
        );
    }

    #[test]
    fn row_chunks_cover_every_row_once() {
        for (n, c) in SHAPES {
            let x: Vec<f32> = (0..n * c).map(|i| i as f32).collect();
            for threads in [1, 2, 3] {
                let mut out = vec![0f32; n * c];
                pool(threads).install(|| {
                    for_each_row_chunk_mut(&mut out, c, |at, y| {
                        assert_eq!((at % c, y.len() % c), (0, 0), "whole rows");
                        y.copy_from_slice(&x[at..at + y.len()]);
                    })
                });
                assert_eq!(out, x, "n {n} c {c} threads {threads}");
            }
        }
    }

    #[test]
    fn a_thread_keeps_its_scratch_for_a_batch_but_not_for_a_huge_reduction() {
        // The capacity this thread keeps after a reduction with `len` values of scratch.
        let kept_after = |len: usize| {
            with_scratch(len, |_| ());
            let scratch = SCRATCH.take();
            let capacity = scratch.capacity();
            SCRATCH.set(scratch);
            capacity
        };
        assert!(kept_after(2 * 1024) >= 2 * 1024);
        assert!(kept_after(KEEP_AT_MOST) >= KEEP_AT_MOST);
        assert_eq!(kept_after(KEEP_AT_MOST + 1), 0);
    }
}
