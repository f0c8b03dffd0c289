//! One training step of the study: `tapegrad::train::step`'s sequence (forward, finite-loss
//! check, backward, update, buffers back to the tape), with what the study measures besides
//! the loss (the gradient's norm) and BatchNorm over ghost batches.

use tapegrad::layers::{Mode, Module, ModuleExt, Sequential};
use tapegrad::optim::{Optimizer, OptimizerExt};
use tapegrad::prelude::Tape;
use tapegrad::train::StepError;

/// What one step measured.
#[derive(Clone, Copy, Debug)]
pub struct StepOutcome {
    /// The mean cross-entropy of the batch, before the update.
    pub loss: f32,
    /// The Euclidean norm of the gradient of every parameter together.
    pub grad_norm: f64,
}

/// One SGD step of `model` on a batch (`images` row-major `[labels.len(), features]`).
///
/// With `ghost = Some(g)` the batch is cut into parts of `g` rows, each forwarded alone, so
/// that every BatchNorm normalises a part by the part's statistics; the loss is the mean of
/// the parts' (equal-sized) mean losses, so the gradient is that of the whole batch's mean
/// loss, and the running statistics are updated once per part. The other layers act on one
/// sample at a time, so only the normalisation sees the difference. `g` must divide the
/// batch (the recipe's check).
pub fn train_step(
    tape: &mut Tape,
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    images: &[f32],
    labels: &[usize],
    ghost: Option<usize>,
) -> Result<StepOutcome, StepError> {
    tape.reset();
    let rows = labels.len();
    let features = images.len() / rows;
    let part = ghost.unwrap_or(rows).min(rows);
    let mut losses = Vec::with_capacity(rows / part);
    for (x, y) in images.chunks(part * features).zip(labels.chunks(part)) {
        let x = tape.constant_from_slice(&[y.len(), features], x);
        let logits = model.forward(tape, x, Mode::Train);
        losses.push(tape.cross_entropy(logits, y));
    }
    let parts = losses.len();
    let sum = losses
        .into_iter()
        .reduce(|a, b| tape.add(a, b))
        .expect("a batch has at least one row");
    let loss = if parts > 1 {
        tape.mul_scalar(sum, 1.0 / parts as f32)
    } else {
        sum
    };
    let value = tape.value(loss).item();
    if !value.is_finite() {
        tape.reset();
        return Err(StepError::NonFiniteLoss(value));
    }
    let grads = tape.backward(loss);
    let squares: f64 = grads
        .param_ids()
        .filter_map(|id| grads.by_id(id))
        .map(|g| sum_of_squares(g.data()))
        .sum();
    // The tape shares the parameters' values: forgetting them lets the update run in place.
    tape.reset();
    let updated = optimizer.step(model.params_mut(), &grads);
    tape.recycle(grads);
    updated?;
    Ok(StepOutcome {
        loss: value,
        grad_norm: squares.sqrt(),
    })
}

/// `sum x²` of `values`: eight `f32` lanes over blocks of 4096 (so that the loop vectorises),
/// the blocks added in `f64`; the same order every time, so the same bits.
fn sum_of_squares(values: &[f32]) -> f64 {
    values
        .chunks(4096)
        .map(|block| {
            let mut lanes = [0f32; 8];
            let mut eights = block.chunks_exact(8);
            for eight in eights.by_ref() {
                lanes.iter_mut().zip(eight).for_each(|(l, &v)| *l += v * v);
            }
            let rest: f32 = eights.remainder().iter().map(|v| v * v).sum();
            lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + f64::from(rest)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::build;
    use crate::recipe::Recipe;
    use tapegrad::layers::BatchNorm1d;
    use tapegrad::train::train_step as library_step;

    fn batch() -> (Vec<f32>, Vec<usize>) {
        let images = (0..8 * 6)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        (images, vec![0, 3, 1, 9, 2, 2, 7, 4])
    }

    fn bits(model: &Sequential) -> Vec<u32> {
        let params = model.named_params().into_iter();
        params
            .flat_map(|(_, p)| {
                p.value()
                    .data()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn small(bn: bool) -> Recipe {
        Recipe {
            hidden: vec![5],
            ..Recipe::reference(3).bn(bn)
        }
    }

    /// Without ghost batches the step is the library's, to the bit.
    #[test]
    fn a_whole_batch_step_is_the_library_step() {
        let (images, labels) = batch();
        let recipe = small(true);
        let (mut ours, mut theirs) = (build(&recipe, 6), build(&recipe, 6));
        let (mut opt_a, mut opt_b) = (recipe.optimizer(), recipe.optimizer());
        let (mut tape_a, mut tape_b) = (Tape::new(), Tape::new());
        for _ in 0..3 {
            let a = train_step(&mut tape_a, &mut ours, &mut opt_a, &images, &labels, None).unwrap();
            let b = library_step(&mut tape_b, &mut theirs, &mut opt_b, &images, &labels).unwrap();
            assert_eq!(a.loss, b.loss);
            assert!(a.grad_norm > 0.0);
        }
        assert_eq!(bits(&ours), bits(&theirs));
    }

    /// Ghost batches of 4 normalise each half of the batch alone: the BatchNorm sees two
    /// batches (two updates of its running statistics), the loss is that of the two halves
    /// averaged, and without BatchNorm nothing changes but rounding.
    #[test]
    fn ghost_batches_normalise_each_part_alone() {
        let (images, labels) = batch();
        // One step of a fresh model of `recipe`: the outcome and the model after it.
        let step = |recipe: &Recipe, ghost| {
            let mut model = build(recipe, 6);
            let (mut tape, mut optimizer) = (Tape::new(), recipe.optimizer());
            let outcome = train_step(
                &mut tape,
                &mut model,
                &mut optimizer,
                &images,
                &labels,
                ghost,
            );
            (outcome.unwrap(), model)
        };
        let recipe = small(true);
        let (whole, _) = step(&recipe, None);
        let (ghost, model) = step(&recipe, Some(4));
        let bn = model.get_as::<BatchNorm1d>(1).unwrap();
        assert_eq!(bn.running_stats().unwrap().num_batches_tracked, 2);
        assert_ne!(ghost.loss, whole.loss);
        // The halves' losses, each on a fresh copy in training mode, averaged.
        let half = |rows: std::ops::Range<usize>| {
            let mut m = build(&recipe, 6);
            let mut t = Tape::new();
            let x = t.constant_from_slice(&[4, 6], &images[rows.start * 6..rows.end * 6]);
            let logits = m.forward(&mut t, x, Mode::Train);
            let l = t.cross_entropy(logits, &labels[rows]);
            t.value(l).item()
        };
        assert!((ghost.loss - (half(0..4) + half(4..8)) / 2.0).abs() < 1e-6);

        let plain = small(false);
        let ((x, _), (y, _)) = (step(&plain, None), step(&plain, Some(2)));
        assert!((x.loss - y.loss).abs() < 1e-6 && (x.grad_norm - y.grad_norm).abs() < 1e-5);
    }
}
