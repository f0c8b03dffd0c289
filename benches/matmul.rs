//! GEMM at the shapes of the MNIST MLP's training step (`784-512-256-10`, batches 32, 128,
//! 512) and of the sigmoid `3x100` net (batch 60): each layer's forward `x W^T`, weight
//! gradient `G^T x` and input gradient `G W`, on all threads and on one.
//!
//! `cargo bench --bench matmul`

#[path = "common/mod.rs"]
mod common;

use common::uniform;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tapegrad_kernels::{gemm, gemm_serial, MatRef};

/// `(name, batch, fan_in, fan_out)` of each layer.
const LAYERS: &[(&str, usize, usize, usize)] = &[
    ("mlp_l1", 128, 784, 512),
    ("mlp_l2", 128, 512, 256),
    ("mlp_l3", 128, 256, 10),
    ("mlp_l1", 32, 784, 512),
    ("mlp_l1", 512, 784, 512),
    ("sigmoid_l1", 60, 784, 100),
    ("sigmoid_l2", 60, 100, 100),
];

fn bench(c: &mut Criterion) {
    for &(layer, n, fan_in, fan_out) in LAYERS {
        let x = uniform(&[n, fan_in], 1);
        let w = uniform(&[fan_out, fan_in], 2);
        let g = uniform(&[n, fan_out], 3);
        let (xm, wm, gm) = (
            MatRef::new(x.data(), n, fan_in),
            MatRef::new(w.data(), fan_out, fan_in),
            MatRef::new(g.data(), n, fan_out),
        );
        // (product, a, b, output length)
        let products = [
            ("forward x W^T", xm, wm.t(true), n * fan_out),
            ("weight grad G^T x", gm.t(true), xm, fan_out * fan_in),
            ("input grad G W", gm, wm, n * fan_in),
        ];
        let mut group = c.benchmark_group(format!("gemm/{layer}_b{n}"));
        group.throughput(Throughput::Elements((2 * n * fan_in * fan_out) as u64));
        for (product, a, b, len) in products {
            let mut out = vec![0.0; len];
            group.bench_function(BenchmarkId::new(product, "all threads"), |bench| {
                bench.iter(|| gemm(a, b, 0.0, &mut out))
            });
            group.bench_function(BenchmarkId::new(product, "one thread"), |bench| {
                bench.iter(|| gemm_serial(a, b, 0.0, &mut out))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
