//! The parallel loops every kernel is built on, and the choice of the threads that run them:
//! the spinning team of `team.rs` or rayon's pool ([`Backend`]).
//!
//! Both backends run the same tasks with the same arguments, and every kernel gives the same
//! bits whoever runs a task, so the choice changes speed only, never a result.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::team::{self, MAX_TASKS};

/// The environment variable that picks the [`Backend`]: `team` or `rayon` (any case). It is
/// read once, at the first parallel loop; unset or empty selects [`Backend::DEFAULT`].
pub const BACKEND_VAR: &str = "TAPEGRAD_THREADS";

/// The threads that run the kernels' parallel loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// tapegrad's own workers, which spin for a while between jobs so that a fork costs an
    /// atomic store rather than waking a sleeping thread (see `team.rs`). The calling thread
    /// works on its loop too; a loop started while the team is busy runs on its caller.
    Team,
    /// Rayon's pool (the global one, or the one a `ThreadPool::install` runs in), through
    /// `rayon::join`: the calling thread works on its loop too when it is one of the pool's.
    Rayon,
}

impl Backend {
    /// The backend used when [`BACKEND_VAR`] is unset: the team, faster on every MNIST epoch
    /// of `benches/compare/workloads.rs` on the 2-core machine the project is measured on when
    /// nothing else runs there (batch 128: 1.16 s against 1.42 s on rayon's pool, medians of 3
    /// interleaved runs; the 3x100 sigmoid net 0.34 s against 0.64 s): rayon's workers fall
    /// asleep between a step's short loops. With other processes keeping both cores busy,
    /// rayon's pool won instead (3.29 s against 4.67 s): `TAPEGRAD_THREADS=rayon` there.
    pub const DEFAULT: Backend = Backend::Team;

    /// Parses a value of [`BACKEND_VAR`]: `team` or `rayon`, in any case.
    ///
    /// ```
    /// use tapegrad_kernels::Backend;
    /// assert_eq!(Backend::parse("Rayon"), Some(Backend::Rayon));
    /// assert_eq!(Backend::parse("openmp"), None);
    /// ```
    pub fn parse(value: &str) -> Option<Backend> {
        match value.trim().to_ascii_lowercase().as_str() {
            "team" => Some(Backend::Team),
            "rayon" => Some(Backend::Rayon),
            _ => None,
        }
    }
}

/// The process-wide backend: [`BACKEND_VAR`]'s, read on first use.
fn configured() -> Backend {
    static CONFIGURED: OnceLock<Backend> = OnceLock::new();
    *CONFIGURED.get_or_init(|| match std::env::var(BACKEND_VAR) {
        Ok(value) if !value.trim().is_empty() => Backend::parse(&value).unwrap_or_else(|| {
            // A typo must not silently measure the other backend, nor stop a training run.
            eprintln!(
                "tapegrad: {BACKEND_VAR}={value:?} is neither `team` nor `rayon`; \
                 using {:?}",
                Backend::DEFAULT
            );
            Backend::DEFAULT
        }),
        _ => Backend::DEFAULT,
    })
}

thread_local! {
    /// The backend [`with_backend`] set on this thread, if any.
    static OVERRIDE: Cell<Option<Backend>> = const { Cell::new(None) };
}

/// The backend that runs a parallel loop started on this thread: the one [`with_backend`]
/// set, or else [`BACKEND_VAR`]'s.
pub fn backend() -> Backend {
    OVERRIDE.get().unwrap_or_else(configured)
}

/// Runs `f` with every parallel loop it starts, and every loop those loops' tasks start, on
/// `backend`, whatever [`BACKEND_VAR`] says. For tests and comparisons of the two backends in
/// one process; other threads are unaffected.
///
/// ```
/// use tapegrad_kernels::{backend, map_tasks, with_backend, Backend};
/// let squares = with_backend(Backend::Rayon, || {
///     assert_eq!(backend(), Backend::Rayon);
///     map_tasks(4, |i| i * i)
/// });
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub fn with_backend<R>(backend: Backend, f: impl FnOnce() -> R) -> R {
    /// Puts the previous setting back, even when `f` panics.
    struct Restore(Option<Backend>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.set(self.0);
        }
    }
    let _restore = Restore(OVERRIDE.replace(Some(backend)));
    f()
}

/// How many tasks the kernels split a large loop into: rayon's thread count where the call is
/// made (the global pool's, or that of the pool a `ThreadPool::install` runs in), on either
/// backend, so that `RAYON_NUM_THREADS` and `install` set the parallelism of both.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `f(0)`, `f(1)`, ..., `f(tasks - 1)`, on the [`backend`]'s threads and the calling one
/// (only the calling one where [`threads`] is 1), and returns when all have returned. Tasks
/// run in no particular order. A panic in a task is re-raised here.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use tapegrad_kernels::parallel_for;
///
/// let total = AtomicUsize::new(0);
/// parallel_for(10, |t| {
///     total.fetch_add(t, Ordering::Relaxed);
/// });
/// assert_eq!(total.into_inner(), 45);
/// ```
pub fn parallel_for(tasks: usize, f: impl Fn(usize) + Sync) {
    assert!(
        tasks <= MAX_TASKS,
        "parallel_for: {tasks} tasks is too many"
    );
    // One thread asked for (`--threads 1`, `RAYON_NUM_THREADS=1`, a one-thread pool): serial.
    if tasks <= 1 || threads() <= 1 {
        return (0..tasks).for_each(f);
    }
    match OVERRIDE.get() {
        // Without an override every thread reads the same process-wide backend: nothing to
        // carry into the tasks.
        None => run_on(configured(), tasks, &f),
        Some(chosen) => run_on(chosen, tasks, &|t| with_backend(chosen, || f(t))),
    }
}

/// Runs the tasks on `backend`'s threads and the calling one.
fn run_on(backend: Backend, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    match backend {
        Backend::Team => team::run(tasks, f),
        Backend::Rayon => run_on_rayon(tasks, f),
    }
}

/// The rayon backend: one worker per thread, spread by a tree of `rayon::join`s, claiming
/// task numbers from a shared counter until none is left, so that tasks go to whichever thread
/// is free, whatever their sizes. `join` keeps its jobs on the stack, where a scope's `spawn`
/// would allocate one per loop (a dozen per training step). Called from a thread of the pool,
/// the caller works too, and runs a worker no other thread has taken itself; called from
/// outside, the pool's threads do the work while the caller waits.
fn run_on_rayon(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    let next = AtomicUsize::new(0);
    let work = || loop {
        let task = next.fetch_add(1, Relaxed);
        if task >= tasks {
            break;
        }
        f(task);
    };
    spread(threads().min(tasks), &work);
}

/// Runs `work` on `workers` threads of rayon's pool at most (fewer when the others are busy).
fn spread(workers: usize, work: &(dyn Fn() + Sync)) {
    if workers <= 1 {
        work();
    } else {
        let half = workers / 2;
        rayon::join(|| spread(half, work), || spread(workers - half, work));
    }
}

/// Runs `a` and `b`, side by side when a thread of the [`backend`] is free, and returns their
/// results.
///
/// ```
/// use tapegrad_kernels::join;
/// assert_eq!(join(|| 1 + 1, || "two"), (2, "two"));
/// ```
pub fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    // Each closure is taken out of its slot by the one task that runs it. On both backends,
    // a thread done with one task runs the other too if no other thread has claimed it.
    let (a, b) = (Mutex::new(Some(a)), Mutex::new(Some(b)));
    let (ra, rb) = (Mutex::new(None), Mutex::new(None));
    parallel_for(2, |t| {
        if t == 0 {
            *lock(&ra) = lock(&a).take().map(|a| a());
        } else {
            *lock(&rb) = lock(&b).take().map(|b| b());
        }
    });
    let ran = "both tasks ran";
    let ra = ra.into_inner().ok().flatten().expect(ran);
    let rb = rb.into_inner().ok().flatten().expect(ran);
    (ra, rb)
}

/// Locks a mutex that a panicking task may have poisoned (the panic is re-raised anyway).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Calls `f(chunk index, chunk)` for the consecutive `chunk`-element pieces of `out` (the
/// last may be shorter), in parallel when there are several.
///
/// ```
/// use tapegrad_kernels::for_each_chunk_mut;
/// let mut v = vec![0.0f32; 10];
/// for_each_chunk_mut(&mut v, 4, |i, c| c.fill(i as f32));
/// assert_eq!(v, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]);
/// ```
pub fn for_each_chunk_mut<T: Send>(
    out: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    for_each_chunk_pair_mut(out, &mut [] as &mut [()], chunk, |i, o, _| f(i, o));
}

/// Like [`for_each_chunk_mut`], for two outputs updated together: `f(i, chunk i of a, chunk i
/// of b)`, where `b`'s chunks are empty past its end (pass an empty `b` for one output).
///
/// ```
/// use tapegrad_kernels::for_each_chunk_pair_mut;
/// let (mut a, mut b) = (vec![1.0f32; 5], vec![0.0f32; 5]);
/// for_each_chunk_pair_mut(&mut a, &mut b, 2, |_, a, b| {
///     b.copy_from_slice(a);
///     a.fill(0.0);
/// });
/// assert_eq!((a, b), (vec![0.0; 5], vec![1.0; 5]));
/// ```
pub fn for_each_chunk_pair_mut<T: Send, U: Send>(
    a: &mut [T],
    b: &mut [U],
    chunk: usize,
    f: impl Fn(usize, &mut [T], &mut [U]) + Sync,
) {
    assert!(chunk > 0, "for_each_chunk_mut: chunk size 0");
    let (a_len, b_len) = (a.len(), b.len());
    let (a_base, b_base) = (SharedMut(a.as_mut_ptr()), SharedMut(b.as_mut_ptr()));
    parallel_for(a_len.div_ceil(chunk), |i| {
        let start = i * chunk;
        let b_start = start.min(b_len);
        // SAFETY: the chunks are disjoint pieces of `a` and of `b`, which stay mutably
        // borrowed until every task has returned.
        let (a, b) = unsafe {
            (
                a_base.slice(start, chunk.min(a_len - start)),
                b_base.slice(b_start, chunk.min(b_len - b_start)),
            )
        };
        f(i, a, b)
    });
}

/// Calls `f(i, item)` for every item of `items`, each moved to the task that runs it, in
/// parallel when there are several. For work cut in pieces that are bundles of disjoint
/// `&mut` slices of several buffers (an image's output, its scratch, its partial sums), which
/// the chunks of one slice cannot express.
///
/// ```
/// use tapegrad_kernels::for_each_item;
/// let (mut a, mut b) = ([0.0f32; 4], [0u32; 2]);
/// let items: Vec<_> = a.chunks_mut(2).zip(b.iter_mut()).collect();
/// for_each_item(items, |i, (a, b)| {
///     a.fill(i as f32);
///     *b = 10 * i as u32;
/// });
/// assert_eq!((a, b), ([0.0, 0.0, 1.0, 1.0], [0, 10]));
/// ```
pub fn for_each_item<T: Send>(items: Vec<T>, f: impl Fn(usize, T) + Sync) {
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    parallel_for(slots.len(), |i| {
        let item = lock(&slots[i]).take().expect("each item is taken once");
        f(i, item)
    });
}

/// `[f(0), f(1), ..., f(n - 1)]`, computed in parallel, in index order.
///
/// ```
/// use tapegrad_kernels::map_tasks;
/// assert_eq!(map_tasks(4, |i| i * i), [0, 1, 4, 9]);
/// ```
pub fn map_tasks<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    for_each_chunk_mut(&mut out, 1, |i, slot| slot[0] = Some(f(i)));
    out.into_iter()
        .map(|r| r.expect("every task ran"))
        .collect()
}

/// A pointer into a slice whose disjoint pieces are handed to different tasks.
struct SharedMut<T>(*mut T);

impl<T> SharedMut<T> {
    /// `len` elements from `start`.
    ///
    /// SAFETY: the range must lie inside the slice, and no other live reference may overlap it.
    unsafe fn slice<'a>(&self, start: usize, len: usize) -> &'a mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

// SAFETY: tasks only touch disjoint pieces (see the callers), so sharing the base pointer
// across threads is sound for element types that may be sent between threads.
unsafe impl<T: Send> Sync for SharedMut<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;
    use std::sync::atomic::AtomicU32;

    const BOTH: [Backend; 2] = [Backend::Team, Backend::Rayon];

    /// Runs `f` on a pool of `threads` threads with `backend`.
    fn on<R: Send>(backend: Backend, threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| with_backend(backend, f))
    }

    #[test]
    fn every_task_runs_exactly_once_across_many_jobs() {
        for backend in BOTH {
            with_backend(backend, || {
                for tasks in [0, 1, 2, 3, 7, 100] {
                    for _ in 0..200 {
                        let counts: Vec<AtomicU32> =
                            (0..tasks).map(|_| AtomicU32::new(0)).collect();
                        parallel_for(tasks, |t| {
                            counts[t].fetch_add(1, Relaxed);
                        });
                        let once = counts.iter().all(|c| c.load(Relaxed) == 1);
                        assert!(once, "{backend:?}, {tasks} tasks");
                    }
                }
            });
        }
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_threads_stay_usable() {
        for backend in BOTH {
            with_backend(backend, || {
                let caught =
                    catch_unwind(|| parallel_for(4, |t| assert!(t != 2, "task two fails")));
                let message = caught.expect_err("the panic reaches the caller");
                assert_eq!(message.downcast_ref::<&str>(), Some(&"task two fails"));
                assert_eq!(map_tasks(3, |i| i + 1), [1, 2, 3], "{backend:?}");
            });
        }
    }

    #[test]
    fn nested_and_concurrent_calls_complete() {
        // Tasks that fork again, from several threads at once: nothing deadlocks (on the
        // team, the inner loops run serially where the team is taken).
        for backend in BOTH {
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        with_backend(backend, || {
                            for _ in 0..50 {
                                let sums =
                                    map_tasks(3, |i| map_tasks(5, |j| i * j).iter().sum::<usize>());
                                assert_eq!(sums, [0, 10, 20]);
                            }
                        })
                    });
                }
            });
        }
    }

    #[test]
    fn the_chosen_backend_reaches_the_tasks_and_is_restored() {
        let outside = backend();
        for chosen in BOTH {
            let seen = with_backend(chosen, || map_tasks(8, |_| backend()));
            assert!(seen.iter().all(|&b| b == chosen), "{seen:?}");
            assert_eq!(backend(), outside);
        }
        let caught = catch_unwind(|| with_backend(Backend::Rayon, || panic!("inside")));
        assert!(caught.is_err());
        assert_eq!(backend(), outside, "restored after a panic");
    }

    #[test]
    fn join_returns_both_results_on_either_backend() {
        for backend in BOTH {
            for threads in [1, 2, 3] {
                let (a, b) = on(backend, threads, || join(|| 6 * 7, || join(|| 1, || 2)));
                assert_eq!((a, b), (42, (1, 2)), "{backend:?} on {threads} threads");
            }
        }
    }

    #[test]
    fn for_each_chunk_mut_covers_a_ragged_end() {
        for backend in BOTH {
            let mut v = vec![0usize; 1001];
            on(backend, 2, || {
                for_each_chunk_mut(&mut v, 100, |i, c| c.iter_mut().for_each(|x| *x = i))
            });
            assert!(
                v.iter().enumerate().all(|(k, &x)| x == k / 100),
                "{backend:?}"
            );
        }
    }

    #[test]
    fn the_variable_accepts_the_two_names_only() {
        assert_eq!(Backend::parse(" team\n"), Some(Backend::Team));
        assert_eq!(Backend::parse("RAYON"), Some(Backend::Rayon));
        assert_eq!(Backend::parse(""), None);
        assert_eq!(Backend::parse("rayon,team"), None);
    }
}
