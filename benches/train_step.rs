//! One training step (forward, cross-entropy, backward, SGD update) of the benchmarked
//! models, with and without BatchNorm: the MNIST MLP `784-512-256-10` at batches 32,
//! 128 and 512, and the sigmoid `3x100` net at batch 60. Inputs are seeded random batches
//! (the MNIST epochs themselves are timed by `benches/compare`).
//!
//! `cargo bench --bench train_step`

#[path = "common/mod.rs"]
mod common;

use common::train_case;
use criterion::{criterion_group, criterion_main, Criterion};
use tapegrad::core::Tape;
use tapegrad::train::train_step;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    for (sigmoid_net, batch) in [(false, 32), (true, 60), (false, 128), (false, 512)] {
        for batch_norm in [false, true] {
            let mut case = train_case(sigmoid_net, batch_norm, batch);
            let mut tape = Tape::new();
            group.bench_function(&case.name, |bench| {
                bench.iter(|| {
                    train_step(
                        &mut tape,
                        &mut case.model,
                        &mut case.sgd,
                        case.images.data(),
                        &case.labels,
                    )
                    .expect("a finite loss")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
