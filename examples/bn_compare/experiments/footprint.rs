//! What a model costs besides time: its parameters and buffers, counted, and the memory of a
//! training step and of inference, counted at the allocator (`alloc_meter.rs`).

use crate::alloc_meter;
use crate::data::Dataset;
use serde::{Deserialize, Serialize};
use tapegrad::data::BatchConfig;
use tapegrad::layers::{BufferRef, Mode, Module, ModuleExt, Path, Sequential, Visitor};
use tapegrad::prelude::Tape;

/// The size of one model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Footprint {
    /// Which model.
    pub model: String,
    /// Trainable scalars.
    pub params: usize,
    /// Scalars of state that is not trained (running statistics, batch counters).
    pub buffers: usize,
    /// Bytes a training step's forward allocated (fresh tape, batch of 64) that were still
    /// held when the backward started: what the tape keeps for the backward, the input batch's
    /// copy included. `None` for a model that is not trained (the folded one).
    pub saved_bytes: Option<usize>,
    /// The most bytes held above the start during that forward and backward.
    pub step_peak_bytes: Option<usize>,
    /// The most bytes held above the start during a forward of 1000 test images in
    /// evaluation mode, recording nothing. Each figure is the least of three measurements.
    pub inference_peak_bytes: usize,
}

/// Counts the buffers' scalars (a float tensor's elements, an integer counter as one).
fn buffer_scalars(model: &Sequential) -> usize {
    struct Count(usize);
    impl Visitor<'_> for Count {
        fn buffer(&mut self, _: Path<'_>, buffer: BufferRef<'_>) {
            self.0 += match buffer {
                BufferRef::Float(t) => t.numel(),
                BufferRef::Int(_) => 1,
            };
        }
    }
    let mut count = Count(0);
    model.visit(Path::root(), &mut count);
    count.0
}

/// The most bytes held while `f` ran, above what was held before. Meaningful when nothing
/// else allocates meanwhile.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = alloc_meter::mark();
    let out = f();
    (out, (alloc_meter::peak() - base).max(0) as usize)
}

/// A training step's forward and backward on a fresh tape (so that every buffer is
/// allocated, none reused): the bytes the forward left held when the backward starts, and
/// the most held during both.
fn training_step(model: &mut Sequential, images: &[f32], labels: &[usize]) -> (usize, usize) {
    let mut tape = Tape::new();
    let base = alloc_meter::mark();
    let x = tape.constant_from_slice(&[labels.len(), images.len() / labels.len()], images);
    let logits = model.forward(&mut tape, x, Mode::Train);
    let loss = tape.cross_entropy(logits, labels);
    let saved = (alloc_meter::live() - base).max(0) as usize;
    let grads = tape.backward(loss);
    let peak = (alloc_meter::peak() - base).max(0) as usize;
    drop(grads);
    (saved, peak)
}

/// The footprint of `model`; `train`: measure a training step too. Measured on one thread:
/// a loop split over threads allocates its partial sums in an order that changes from run to
/// run, and so would the peak.
pub fn footprint(name: &str, model: &mut Sequential, data: &Dataset, train: bool) -> Footprint {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    one_thread.install(|| measure(name, model, data, train))
}

/// Repeats of each memory measurement; the least is kept (an allocation of another thread
/// during a measurement can only add to it).
const REPEATS: usize = 3;

fn measure(name: &str, model: &mut Sequential, data: &Dataset, train: bool) -> Footprint {
    let config = |batch| BatchConfig::sequential(batch).normalization(data.normalization);
    let features = data.train.pixels_per_image();
    let least = |measure: &mut dyn FnMut() -> usize| (0..REPEATS).map(|_| measure()).min();
    let (saved_bytes, step_peak_bytes) = if train {
        let mut batches = data.train.batches(config(64));
        let batch = batches.next_batch().expect("a batch of training images");
        let steps: Vec<(usize, usize)> = (0..REPEATS)
            .map(|_| training_step(model, batch.images, batch.labels))
            .collect();
        (
            steps.iter().map(|s| s.0).min(),
            steps.iter().map(|s| s.1).min(),
        )
    } else {
        (None, None)
    };
    let mut batches = data.test.batches(config(1000));
    let batch = batches.next_batch().expect("a batch of test images");
    let inference_peak_bytes = least(&mut || {
        let mut tape = Tape::new();
        let ((), peak) = peak_of(|| {
            tape.no_grad(|tape| {
                let x = tape.constant_from_slice(&[batch.len(), features], batch.images);
                model.forward(tape, x, Mode::Eval);
            })
        });
        peak
    })
    .expect("at least one repeat");
    Footprint {
        model: name.to_string(),
        params: model.param_count(),
        buffers: buffer_scalars(model),
        saved_bytes,
        step_peak_bytes,
        inference_peak_bytes,
    }
}
