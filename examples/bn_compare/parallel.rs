//! Independent runs side by side: each on a worker thread of its own with a one-thread pool,
//! so that the kernels inside it run serially. Small steps (batches of 2, the paper's 100-unit
//! layers) gain nothing from splitting their loops over two cores, two runs at once use both
//! fully; every result is the same bits on any number of threads, so this changes the wall
//! time only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` of every item, computed by `workers` threads taking the items in turn (each inside a
/// rayon pool of one thread); the results in the order of the items. A panic in `f` is
/// raised here.
pub fn map<I: Sync, T: Send>(workers: usize, items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .expect("a one-thread pool");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let out = pool.install(|| f(item));
                    *slots[i].lock().expect("no job panicked holding it") = Some(out);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            let slot = slot.into_inner().expect("no job panicked holding it");
            slot.expect("every item was computed")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_order_of_the_items_on_one_thread_each() {
        let items: Vec<u64> = (0..20).collect();
        let out = map(3, &items, |&i| (i * i, rayon::current_num_threads()));
        assert_eq!(
            out.iter().map(|o| o.0).collect::<Vec<_>>(),
            items.iter().map(|i| i * i).collect::<Vec<_>>()
        );
        assert!(out.iter().all(|o| o.1 == 1));
        assert!(map(2, &[] as &[u8], |_| 0).is_empty());
    }
}
