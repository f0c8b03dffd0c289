//! One optimizer step, SGD (momentum 0.9) and AdamW, over the parameters of the benchmarks'
//! models: the MNIST MLP 784-512-256-10 (535,818 values) and the Ioffe-Szegedy net
//! 784-100-100-100-10 (99,710), weights and biases as separate slots, as training passes
//! them. The gradients are fixed; only the update is timed.
//!
//! `cargo bench --bench optimizer`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tapegrad::core::{Gradients, Param, Tensor};
use tapegrad::optim::{Adam, AdamConfig, Momentum, Optimizer, Sgd, SgdConfig};

/// The `(weight, bias)` sizes of a stack of fully connected layers of `widths`.
fn slot_sizes(widths: &[usize]) -> Vec<usize> {
    widths
        .windows(2)
        .flat_map(|pair| [pair[0] * pair[1], pair[1]])
        .collect()
}

/// The models' layer widths, by name.
const MODELS: [(&str, &[usize]); 2] = [
    ("mlp_784_512_256_10", &[784, 512, 256, 10]),
    ("sigmoid_784_100x3_10", &[784, 100, 100, 100, 10]),
];

/// Times `optimizer`'s step over every model's parameters, in the group `name`.
fn bench_optimizer<O: Optimizer>(c: &mut Criterion, name: &str, optimizer: impl Fn() -> O) {
    let mut group = c.benchmark_group(name);
    for (model, widths) in MODELS {
        let sizes = slot_sizes(widths);
        let mut params: Vec<Param> = (sizes.iter())
            .map(|&n| Param::new(Tensor::full(vec![n], 0.5)))
            .collect();
        let grads = Gradients::from_params(params.iter().map(|p| {
            let n = p.value().numel();
            let grad = (0..n).map(|i| (i % 13) as f32 * 1e-3).collect();
            (p.id(), Tensor::from_vec(vec![n], grad))
        }));
        let mut optimizer = optimizer();
        group.bench_function(model, |bench| {
            bench.iter(|| {
                let mut refs: Vec<&mut Param> = params.iter_mut().collect();
                (optimizer.step_slice(black_box(&mut refs), &grads)).expect("a step");
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    bench_optimizer(c, "sgd_momentum_step", || {
        let config = SgdConfig {
            lr: 0.01,
            momentum: Some(Momentum::Classic(0.9)),
            ..SgdConfig::default()
        };
        Sgd::new(config).expect("a valid configuration")
    });
    bench_optimizer(c, "adamw_step", || {
        Adam::new(AdamConfig::adamw()).expect("a valid configuration")
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
