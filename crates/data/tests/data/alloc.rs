//! A global allocator that records, per thread, how many allocations were made and the largest
//! one, so tests can assert "this did not allocate" without guessing from timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

thread_local! {
    // `const` initialisation: touching these never allocates, which an allocator requires.
    static COUNT: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: during thread teardown the slots may be gone; then nothing is recorded.
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

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

/// What the current thread allocated while running `f`: (number of allocations, largest size).
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
