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
//! This is the [`Backend::Team`](crate::Backend::Team) of [`parallel_for`](crate::parallel_for),
//! the default (see [`Backend::DEFAULT`](crate::Backend::DEFAULT)); `TAPEGRAD_THREADS=rayon`
//! hands the same loops to rayon's pool instead, faster on a machine whose cores other
//! processes keep busy (where spinning takes time from them).
//!
//! One caller uses the team at a time. Another thread that forks meanwhile, or a task that
//! forks inside a job, runs its tasks itself, one after the other: every kernel gives the
//! same bits on any number of threads, so who runs a task never changes a result.
//!
//! The number of tasks is the caller's choice (the kernels use [`threads`](crate::threads), rayon's thread
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
/// The most tasks one job can have (`2^24 - 1`: the width of a field of the state word).
pub const MAX_TASKS: usize = TASK_MASK as usize;

/// Runs `f(0)`, ..., `f(tasks - 1)` on the team's threads and the calling one, or all on the
/// calling one when the team is taken (by another caller, or by the job this call is nested
/// in) or there is none, and returns when all have returned, re-raising a task's panic.
pub(crate) fn run(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    match team().filter(|t| t.try_acquire()) {
        Some(team) => team.run(f, tasks),
        None => (0..tasks).for_each(f),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Runs `tasks` tasks on the team and counts the runs of each.
    fn counts_after(tasks: usize) -> Vec<u32> {
        let counts: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
        run(tasks, &|t| {
            counts[t].fetch_add(1, Relaxed);
        });
        counts.into_iter().map(AtomicU32::into_inner).collect()
    }

    #[test]
    fn a_sleeping_worker_wakes_for_the_next_job() {
        assert_eq!(counts_after(2), [1, 1]);
        std::thread::sleep(SPIN * 5);
        assert_eq!(counts_after(3), [1, 1, 1]);
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_team_stays_usable() {
        let caught = catch_unwind(|| run(4, &|t| assert!(t != 2, "task two fails")));
        let message = caught.expect_err("the panic reaches the caller");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"task two fails"));
        assert_eq!(counts_after(3), [1, 1, 1]);
    }
}
