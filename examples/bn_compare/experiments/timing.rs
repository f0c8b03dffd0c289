//! Timing on a shared machine: the compared models take turns, step by step in training and
//! batch by batch in inference (the order rotating), so that a burst of other load slows
//! every model alike and their ratio survives it; times are kept per block of steps and per
//! repeat, the units the ratio's interval is computed over.

use crate::data::Dataset;
use crate::model::build;
use crate::recipe::Recipe;
use crate::runner::Endless;
use crate::step::train_step;
use std::hint::black_box;
use std::time::Instant;
use tapegrad::data::{BatchConfig, Split};
use tapegrad::layers::{Mode, Module, Sequential};
use tapegrad::prelude::Tape;

/// Training steps per timed block.
pub const BLOCK: usize = 50;

/// What [`train_in_turns`] measured.
pub struct Turns {
    /// The trained models, in the order of the recipes.
    pub models: Vec<Sequential>,
    /// Per block of [`BLOCK`] steps, the seconds each model spent in its steps.
    pub blocks: Vec<Vec<f64>>,
}

/// Trains one model per recipe on the same batches (those of the first recipe's batch size
/// and seed), each step every model in turn, for `steps` steps or until a loss is not
/// finite; times each model's steps, per block.
pub fn train_in_turns(recipes: &[Recipe], data: &Dataset, steps: usize) -> Turns {
    let inputs = data.train.pixels_per_image();
    let mut models: Vec<Sequential> = recipes.iter().map(|r| build(r, inputs)).collect();
    let mut optimizers: Vec<_> = recipes.iter().map(Recipe::optimizer).collect();
    let mut tapes: Vec<Tape> = recipes.iter().map(|_| Tape::new()).collect();
    let mut batches = Endless::new(&recipes[0], data);
    let mut blocks = Vec::new();
    let mut block = vec![0.0; recipes.len()];
    'steps: for step in 0..steps {
        let batch = batches.next();
        for turn in 0..models.len() {
            let i = (step + turn) % models.len();
            let started = Instant::now();
            let (tape, model) = (&mut tapes[i], &mut models[i]);
            let optimizer = &mut optimizers[i];
            let result = train_step(tape, model, optimizer, batch.images, batch.labels, None);
            block[i] += started.elapsed().as_secs_f64();
            if result.is_err() {
                break 'steps;
            }
        }
        if (step + 1) % BLOCK == 0 {
            blocks.push(std::mem::replace(&mut block, vec![0.0; recipes.len()]));
        }
    }
    Turns { models, blocks }
}

/// Forwards every image of `split` through each model in evaluation mode, in batches of
/// `batch_size`, the models taking turns on each batch; returns each model's seconds.
pub fn infer_in_turns(
    models: &mut [&mut Sequential],
    data: &Dataset,
    split: &Split,
    batch_size: usize,
) -> Vec<f64> {
    let mut tapes: Vec<Tape> = models.iter().map(|_| Tape::new()).collect();
    let mut seconds = vec![0.0; models.len()];
    let config = BatchConfig::sequential(batch_size).normalization(data.normalization);
    let mut batches = split.batches(config);
    let mut round = 0;
    while let Some(batch) = batches.next_batch() {
        for turn in 0..models.len() {
            let i = (round + turn) % models.len();
            let started = Instant::now();
            let tape = &mut tapes[i];
            tape.reset();
            let y = tape.no_grad(|tape| {
                let shape = [batch.len(), split.pixels_per_image()];
                let x = tape.constant_from_slice(&shape, batch.images);
                models[i].forward(tape, x, Mode::Eval)
            });
            black_box(tape.value(y));
            seconds[i] += started.elapsed().as_secs_f64();
        }
        round += 1;
    }
    seconds
}
