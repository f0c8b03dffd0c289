//! BatchNorm1d in training mode, forward and backward (gradients of x, gamma and beta), at
//! the shapes of `bn_fwd_bwd_*` in `benches/compare`: the fused op against the same
//! computation composed from core ops (`batch_norm_composed`), which is what fusion buys.
//!
//! `cargo bench --bench batchnorm`
//!
//! Criterion times the two one after the other, seconds apart; on a shared host their ratio
//! moves with the host's speed. `python3 benches/compare/run.py 'bn_fusion_*'` measures the
//! ratio in alternating 10 ms blocks instead (`run.py`'s bound: at least 4).

#[path = "common/mod.rs"]
mod common;

use common::{batch_norm_step, uniform};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use tapegrad::core::{Param, Tape};

const SHAPES: [(usize, usize); 5] = [
    (60, 100),
    (128, 512),
    (256, 1024),
    (1024, 1024),
    (4096, 256),
];

fn bench(c: &mut Criterion) {
    for (n, ch) in SHAPES {
        let x = Param::new(uniform(&[n, ch], 1));
        let gamma = Param::new(uniform(&[ch], 2));
        let beta = Param::new(uniform(&[ch], 3));
        let dy = uniform(&[n, ch], 4);
        let mut group = c.benchmark_group(format!("batchnorm_fwd_bwd/{n}x{ch}"));
        group.throughput(Throughput::Elements((n * ch) as u64));
        for (name, fused) in [("fused", true), ("composed", false)] {
            let mut tape = Tape::new();
            group.bench_function(BenchmarkId::from_parameter(name), |bench| {
                // The seed is the tape's to consume: its copy is made outside the timed part.
                bench.iter_batched(
                    || dy.clone(),
                    |dy| batch_norm_step(&mut tape, fused, &x, (&gamma, &beta), dy),
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
