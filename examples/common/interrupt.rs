//! Ctrl-C (SIGINT) ends the run between steps rather than in the middle of one: the step
//! under way and a checkpoint being written are finished, then the run exits 130 (128 + 2,
//! as a shell reports a process stopped by SIGINT). The checkpoint at `--save` then holds
//! the last finished epoch. A second Ctrl-C stops the process at once.
//!
//! The handler uses `libc`, already built for the progress bar's terminal crate, rather than
//! `ctrlc` or `signal-hook`, which would add crates for one flag.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler (on Unix; elsewhere Ctrl-C keeps its default effect).
pub fn install() {
    #[cfg(unix)]
    {
        extern "C" fn on_sigint(_: libc::c_int) {
            REQUESTED.store(true, Ordering::SeqCst);
            // SAFETY: signal() is async-signal-safe; restoring the default makes a second
            // Ctrl-C end the process as if no handler had been installed.
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
            }
        }
        let handler: extern "C" fn(libc::c_int) = on_sigint;
        // SAFETY: the handler only stores to an atomic and calls signal(), both
        // async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        }
    }
}

/// Whether Ctrl-C was pressed since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
