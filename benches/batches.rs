//! Batches as training draws them: `Batches::next_batch` over a split the size of MNIST's
//! training set (60,000 images of 28x28), shuffled, at batches 32, 60, 128 and 512. Each
//! iteration is one batch; a new epoch's shuffle is counted when it comes, as in training.
//!
//! The pixels are a fixed pseudo-random pattern, not MNIST: what costs is where a shuffled
//! batch's images lie (scattered over 47 MB, beyond the caches) and converting them, not
//! their values. The MNIST epochs themselves are timed by `benches/compare`.
//!
//! `cargo bench --bench batches`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tapegrad::data::{BatchConfig, Split};

const IMAGES: usize = 60_000;
const SIDE: usize = 28;

/// A split of `IMAGES` images whose pixels follow a multiplicative hash of their position.
fn split() -> Split {
    let pixels = (0..IMAGES * SIDE * SIDE)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let labels = (0..IMAGES).map(|i| (i % 10) as u8).collect();
    Split::new(pixels, labels, SIDE, SIDE)
}

fn bench(c: &mut Criterion) {
    let split = split();
    let mut group = c.benchmark_group("next_batch");
    for batch in [32, 60, 128, 512] {
        let mut batches = split.batches(BatchConfig::shuffled(batch, 7).drop_last(true));
        let mut epoch = 0;
        group.bench_function(format!("shuffled_b{batch}"), |bench| {
            bench.iter(|| loop {
                if let Some(batch) = batches.next_batch() {
                    break black_box(batch.images.len());
                }
                epoch += 1;
                batches.set_epoch(epoch);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
