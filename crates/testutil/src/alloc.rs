//! A counting global allocator, so tests can assert "this did not allocate" or "nothing
//! this large was reserved" without guessing from timings or RSS.
//!
//! The allocator is a type here; each test binary that wants it installs it itself (a
//! global allocator belongs to a binary, not to a library every test links):
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: tapegrad_testutil::alloc::Counting = tapegrad_testutil::alloc::Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting every allocation (and reallocation) per thread and in
/// total, and the largest one per thread.
pub struct Counting;

/// Allocations by every thread since the start (rayon's workers allocate too).
static TOTAL: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // `const` initialisation: touching these never allocates, which an allocator requires.
    static COUNT: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    // `try_with`: during thread teardown the slots may be gone; then nothing is recorded.
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only touches
// atomics and `const`-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// What the current thread allocated while running `f`: (result, number of allocations,
/// largest size in bytes). Meaningful only where [`Counting`] is the global allocator.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let count = COUNT.with(Cell::get);
    LARGEST.with(|l| l.set(0));
    let result = f();
    (
        result,
        COUNT.with(Cell::get) - count,
        LARGEST.with(Cell::get),
    )
}

/// Allocations made by all threads so far. Meaningful only where [`Counting`] is the global
/// allocator.
pub fn total_allocations() -> usize {
    TOTAL.load(Ordering::Relaxed)
}
