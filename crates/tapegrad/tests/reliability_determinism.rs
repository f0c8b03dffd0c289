//! The same seed gives bit-identical losses and parameters: across two runs, and across one
//! and two worker threads, over 200 steps of the real MNIST MLP (784-512-256-10, BatchNorm,
//! dropout, SGD with momentum).

mod common;
#[path = "reliability/fixtures.rs"]
mod fixtures;

use fixtures::{mnist_mlp, sgd, state_bits, step_next_batch};
use tapegrad::data::{BatchConfig, Mnist};
use tapegrad::prelude::*;

const STEPS: usize = 200;
const SEED: u64 = 7;

/// Every step's loss bits and the final state's bits of one run on `threads` threads.
fn run(mnist: &Mnist, threads: usize) -> (Vec<u32>, String) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        assert_eq!(rayon::current_num_threads(), threads);
        let (mut model, mut optimizer, mut tape) = (mnist_mlp(SEED), sgd(0.1), Tape::new());
        let mut batches = mnist
            .train
            .batches(BatchConfig::shuffled(128, SEED).drop_last(true));
        let losses = (0..STEPS)
            .map(|_| {
                let step = step_next_batch(&mut tape, &mut model, &mut optimizer, &mut batches);
                step.loss.to_bits()
            })
            .collect();
        (losses, state_bits(&model))
    })
}

#[test]
fn same_seed_same_bits_across_runs_and_thread_counts() {
    let mnist = common::load_mnist();
    let one = run(&mnist, 1);
    let two = run(&mnist, 2);
    let two_again = run(&mnist, 2);
    // Training did something, so equality is not the trivial equality of untouched models.
    assert_ne!(one.0[0], one.0[STEPS - 1]);
    assert_ne!(one.1, state_bits(&mnist_mlp(SEED)));
    let first_difference = |a: &[u32], b: &[u32]| a.iter().zip(b).position(|(x, y)| x != y);
    assert_eq!(
        first_difference(&two.0, &two_again.0),
        None,
        "2 threads, run to run"
    );
    assert_eq!(
        first_difference(&one.0, &two.0),
        None,
        "1 thread vs 2 threads"
    );
    assert!(two.1 == two_again.1, "final state differs run to run");
    assert!(
        one.1 == two.1,
        "final state differs between 1 and 2 threads"
    );
}
