//! The threads behind the kernels' parallel loops: a team of workers that spin between jobs.
//!
//! Why not rayon's pool: a training step forks a dozen times, tens of microseconds apart.
//! Rayon's idle workers go to sleep after a few microseconds without work, and waking one
//! costs a futex call and, on a virtual machine, an interrupt to a halted virtual CPU:
//! profiles of an MNIST epoch at batch 128 showed 11% of the time in the kernel's
//! `try_to_wake_up`, and the second core idle while its thread woke. The team's workers spin
//! for [`SPIN`] after each job instead (as the OpenMP runtime under PyTorch does), so a fork
//! costs one atomic store seen by a spinning core. When no job comes for longer they sleep,
//! so a program that has stopped computing does not keep a core busy.
//!
//! One caller uses the team at a time. Another thread that forks meanwhile, or a task that
//! forks inside a job, runs its tasks itself, one after the other: every kernel gives the
//! same bits on any number of threads, so who runs a task never changes a result.
//!
//! The number of tasks is the caller's choice (the kernels use [`threads`], rayon's thread
//! count, so `ThreadPool::install` and `RAYON_NUM_THREADS` still set the parallelism); the
//! team has one worker fewer than the machine has cores, since the caller works too.

use std::any::Any;
use std::hint::spin_loop;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long an idle worker spins, waiting for the next job, before it sleeps: far longer than
/// the gaps between the parallel loops of a training step, far shorter than a human notices.
const SPIN: Duration = Duration::from_millis(2);
/// Checks of the job number, a few nanoseconds each, before the spinning worker starts
/// yielding its core between checks.
const PURE_SPINS: u32 = 1 << 12;

/// Bits of the team's state word for the next task to claim and for the job's task count.
const TASK_BITS: u32 = 24;
const TASK_MASK: u64 = (1 << TASK_BITS) - 1;
/// The most tasks one job can have.
pub const MAX_TASKS: usize = TASK_MASK as usize;

/// How many tasks the kernels split a large loop into: rayon's thread count where the call is
/// made (the global pool's, or that of the pool a `ThreadPool::install` runs in).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `f(0)`, `f(1)`, ..., `f(tasks - 1)`, on the team's threads and the calling one (only
/// the calling one where [`threads`] is 1), and returns when all have returned. Tasks run in no particular order. A panic in a task is
/// re-raised here, after every task has finished.
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
    let parallel = tasks > 1 && threads() > 1;
    match parallel.then(team).flatten().filter(|t| t.try_acquire()) {
        Some(team) => team.run(&f, tasks),
        None => (0..tasks).for_each(f),
    }
}

/// Runs `a` and `b`, side by side when a team worker is free, and returns their results.
///
/// ```
/// use tapegrad_kernels::join;
/// assert_eq!(join(|| 1 + 1, || "two"), (2, "two"));
/// ```
pub fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    // Each closure is taken out of its slot by the one task that runs it.
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

/// The job being run: the tasks' function, borrowed from the caller's stack for as long as
/// the caller waits for its tasks.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
}

/// What the caller and the workers share.
struct Team {
    /// `job number | task count | next task`, in one word so that a claim (a compare-and-swap
    /// on it) can only take a task of the job it was read from.
    state: AtomicU64,
    /// The current job: valid while any of its tasks is unclaimed or running.
    job: AtomicPtr<Job<'static>>,
    /// Tasks of the current job that have returned.
    done: AtomicUsize,
    /// The first panic of the current job's tasks.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Whether a caller is using the team.
    busy: AtomicBool,
    /// Workers asleep (or about to be) on `wake`.
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
}

/// The team, started on first use; `None` when there is one core (or one thread is asked
/// for with `RAYON_NUM_THREADS=1`).
fn team() -> Option<&'static Team> {
    static TEAM: OnceLock<Option<&'static Team>> = OnceLock::new();
    *TEAM.get_or_init(|| {
        let workers = worker_count();
        (workers > 0).then(|| {
            let team: &'static Team = Box::leak(Box::new(Team {
                state: AtomicU64::new(0),
                job: AtomicPtr::new(std::ptr::null_mut()),
                done: AtomicUsize::new(0),
                panic: Mutex::new(None),
                busy: AtomicBool::new(false),
                sleepers: AtomicUsize::new(0),
                sleep_lock: Mutex::new(()),
                wake: Condvar::new(),
            }));
            for i in 0..workers {
                std::thread::Builder::new()
                    .name(format!("tapegrad-worker-{i}"))
                    .spawn(move || team.work_forever())
                    .expect("tapegrad: cannot start a worker thread");
            }
            team
        })
    })
}

/// Workers: one fewer than the cores (the caller is the other), as many as rayon would use.
fn worker_count() -> usize {
    let cores = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    cores - 1
}

fn pack(job: u64, tasks: usize, next: usize) -> u64 {
    (job << (2 * TASK_BITS)) | ((tasks as u64) << TASK_BITS) | next as u64
}

fn job_number(state: u64) -> u64 {
    state >> (2 * TASK_BITS)
}

impl Team {
    fn try_acquire(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
    }

    /// Publishes a job, works on it, waits for the workers' tasks, and releases the team.
    fn run(&self, f: &(dyn Fn(usize) + Sync), tasks: usize) {
        let job = Job { f };
        self.done.store(0, Relaxed);
        // SAFETY of the lifetime change: the pointer is only dereferenced for a task claimed
        // from this job, and this function returns only when every task has returned.
        self.job
            .store((&job as *const Job<'_>).cast_mut().cast(), Release);
        let number = job_number(self.state.load(Relaxed)).wrapping_add(1);
        // SeqCst with the sleepers count below: either a worker about to sleep sees the new
        // job, or this thread sees that it sleeps and wakes it.
        self.state.store(pack(number, tasks, 0), SeqCst);
        if self.sleepers.load(SeqCst) > 0 {
            let _guard = lock(&self.sleep_lock);
            self.wake.notify_all();
        }
        self.work_on(number);
        let mut spins = 0u32;
        while self.done.load(Acquire) < tasks {
            // A worker descheduled mid-task may take a while: stop hogging the core then.
            spins = spins.saturating_add(1);
            if spins < 1 << 16 {
                spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let panic = lock(&self.panic).take();
        self.busy.store(false, Release);
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }

    /// Claims and runs tasks of job `number` until none is left.
    fn work_on(&self, number: u64) {
        let mut state = self.state.load(Acquire);
        loop {
            let (tasks, next) = ((state >> TASK_BITS) & TASK_MASK, state & TASK_MASK);
            if job_number(state) != number || next >= tasks {
                return;
            }
            match self
                .state
                .compare_exchange_weak(state, state + 1, AcqRel, Acquire)
            {
                Ok(_) => {
                    // SAFETY: task `next` of the current job is claimed and not yet done, so
                    // the caller is still waiting and the job it points to is alive.
                    let job = unsafe { &*self.job.load(Acquire) };
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (job.f)(next as usize)))
                    {
                        lock(&self.panic).get_or_insert(payload);
                    }
                    self.done.fetch_add(1, Release);
                    state = self.state.load(Acquire);
                }
                Err(now) => state = now,
            }
        }
    }

    /// A worker's life: wait for a job (spinning, then asleep), work on it, repeat.
    fn work_forever(&self) -> ! {
        let mut seen = job_number(self.state.load(Acquire));
        loop {
            seen = self.wait_for_job_after(seen);
            self.work_on(seen);
        }
    }

    /// Waits until the job number differs from `seen`, and returns the new one.
    fn wait_for_job_after(&self, seen: u64) -> u64 {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let number = job_number(self.state.load(Acquire));
            if number != seen {
                return number;
            }
            spins = spins.wrapping_add(1);
            if spins < PURE_SPINS {
                spin_loop();
            } else if start.elapsed() < SPIN {
                // Past the first microseconds, give the core to any other runnable thread
                // (a test runner's, a compiler's) before checking again.
                std::thread::yield_now();
            } else {
                return self.sleep_until_job_after(seen);
            }
        }
    }

    fn sleep_until_job_after(&self, seen: u64) -> u64 {
        let mut guard = lock(&self.sleep_lock);
        self.sleepers.fetch_add(1, SeqCst);
        let mut number = job_number(self.state.load(SeqCst));
        while number == seen {
            guard = self
                .wake
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
            number = job_number(self.state.load(SeqCst));
        }
        self.sleepers.fetch_sub(1, SeqCst);
        number
    }
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
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_task_runs_exactly_once_across_many_jobs() {
        for tasks in [0, 1, 2, 3, 7, 100] {
            for _ in 0..200 {
                let counts: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
                parallel_for(tasks, |t| {
                    counts[t].fetch_add(1, Relaxed);
                });
                assert!(counts.iter().all(|c| c.load(Relaxed) == 1), "{tasks} tasks");
            }
        }
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_team_stays_usable() {
        let caught = catch_unwind(|| parallel_for(4, |t| assert!(t != 2, "task two fails")));
        let message = caught.expect_err("the panic reaches the caller");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"task two fails"));
        assert_eq!(map_tasks(3, |i| i + 1), [1, 2, 3]);
    }

    #[test]
    fn nested_and_concurrent_calls_complete() {
        // Tasks that fork again, from several threads at once: the inner loops run serially
        // where the team is taken, and nothing deadlocks.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let sums = map_tasks(3, |i| map_tasks(5, |j| i * j).iter().sum::<usize>());
                        assert_eq!(sums, [0, 10, 20]);
                    }
                });
            }
        });
    }

    #[test]
    fn a_sleeping_worker_wakes_for_the_next_job() {
        std::thread::sleep(SPIN * 5);
        assert_eq!(map_tasks(2, |i| i * 10), [0, 10]);
    }

    #[test]
    fn for_each_chunk_mut_covers_a_ragged_end() {
        let mut v = vec![0usize; 1001];
        for_each_chunk_mut(&mut v, 100, |i, c| c.iter_mut().for_each(|x| *x = i));
        assert!(v.iter().enumerate().all(|(k, &x)| x == k / 100));
    }
}
