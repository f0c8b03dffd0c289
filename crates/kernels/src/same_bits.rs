//! For tests of ops and layers, built-in or a user's: a computation run on every thread count
//! and backend, which must give the same result each time (the kernels' promise, which an op
//! keeps by cutting its work by its shape, never by the thread count).

use crate::{with_backend, Backend};

/// Asserts that `f` returns the same on 2, 3 and 4 threads of either backend as on one
/// thread (rayon's pools of those sizes, which set the kernels' task counts).
pub fn assert_same_on_any_threads<R: PartialEq + Send>(f: impl Fn() -> R + Sync) {
    let on = |backend, threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| with_backend(backend, &f))
    };
    let reference = on(Backend::Team, 1);
    for backend in [Backend::Team, Backend::Rayon] {
        for threads in [2, 3, 4] {
            assert!(
                on(backend, threads) == reference,
                "{backend:?} on {threads} threads differs from one thread"
            );
        }
    }
}
