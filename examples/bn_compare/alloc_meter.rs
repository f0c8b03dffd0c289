//! Memory counted at the allocator: the bytes the process holds, and the most it held since a
//! mark. The study installs it as the global allocator so that `overhead` can say how much
//! memory a training step's saved activations take, exactly and without the noise of RSS.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes live and their peak.
pub struct Metered;

/// Bytes allocated and not yet freed, by every thread.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most `LIVE` reached since the last [`mark`].
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes as isize, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping touches only two
// atomics, which never allocate.
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
}

/// The bytes live now.
pub fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak from the bytes live now; returns them.
pub fn mark() -> isize {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The most bytes live since the last [`mark`].
pub fn peak() -> isize {
    PEAK.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The study's binaries, tests included, run on this allocator (main.rs installs it):
    /// a buffer held shows in the live bytes and the peak, and leaves the live bytes when
    /// dropped. Other tests allocate in parallel, so the checks leave them room.
    #[test]
    fn a_held_buffer_is_counted_and_released() {
        const SIZE: usize = 64 << 20;
        let base = mark();
        let buffer = vec![1u8; SIZE];
        assert!(live() - base >= SIZE as isize / 2, "{} {}", live(), base);
        assert!(peak() - base >= SIZE as isize / 2);
        drop(buffer);
        assert!(live() - base < SIZE as isize / 2);
    }
}
