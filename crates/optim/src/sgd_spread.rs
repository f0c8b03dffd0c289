//! An SGD step over every slot at once, spread evenly over the threads.
//!
//! A step updates parameters of very different sizes (a 784x512 weight, a 10-value bias).
//! Split one parameter at a time, the small ones ran on the calling thread while the other
//! threads waited, and a large one fell into an uneven number of chunks. Instead the step's
//! values, slot after slot, are cut into one even [`Run`] per thread, a slot cut where a run
//! ends. The update is element-wise, so where the cuts fall never changes a result.
//!
//! The runs wait for their thread in an array on the stack: a step in steady state allocates
//! nothing (`reliability_allocations` counts).

use crate::sgd::SgdSlotState;
use crate::ParamSlot;
use std::sync::{Mutex, PoisonError};
use tapegrad_core::kernels::{parallel_for, threads};

/// The fewest values worth a thread of their own: handing a task over costs about a
/// microsecond, the time the update takes over a few thousand values.
const MIN_TASK: usize = 1 << 14;

/// The most runs a step is cut into: each waits in a slot of an array on the stack, and an
/// update bound by memory bandwidth gains little from more threads than that.
const MOST_TASKS: usize = 16;

/// Consecutive values of one slot: the values, their gradient, their momentum buffer (empty
/// without momentum), and whether this is the buffer's first step (see [`Piece::of`]).
#[derive(Default)]
pub(crate) struct Piece<'r> {
    pub value: &'r mut [f32],
    pub grad: &'r [f32],
    pub buffer: &'r mut [f32],
    pub first: bool,
}

impl<'r> Piece<'r> {
    /// A slot's values with everything its update needs; none when it has no gradient. With
    /// `momentum`, a slot without a buffer gets one here (zeros, to be set by its first step),
    /// which is the only allocation of a step and happens once per slot.
    fn of(slot: &'r mut ParamSlot<'_>, state: &'r mut SgdSlotState, momentum: bool) -> Self {
        let Some(grad) = slot.grad else {
            return Piece::default();
        };
        let first = momentum && state.momentum_buffer.is_none();
        if first {
            state.momentum_buffer = Some(vec![0.0; slot.value.len()]);
        }
        let buffer = state.momentum_buffer.as_deref_mut().filter(|_| momentum);
        Piece {
            value: &mut *slot.value,
            grad,
            buffer: buffer.unwrap_or_default(),
            first,
        }
    }

    fn len(&self) -> usize {
        self.value.len()
    }

    /// The values before `at` and those from it.
    fn cut(self, at: usize) -> (Self, Self) {
        let (value, value_tail) = self.value.split_at_mut(at);
        let (grad, grad_tail) = self.grad.split_at(at);
        let (buffer, buffer_tail) = self.buffer.split_at_mut(at.min(self.buffer.len()));
        let first = self.first;
        (
            Piece {
                value,
                grad,
                buffer,
                first,
            },
            Piece {
                value: value_tail,
                grad: grad_tail,
                buffer: buffer_tail,
                first,
            },
        )
    }
}

/// Values of a step in order: the end of a slot (`head`), whole slots, the start of a slot
/// (`tail`).
pub(crate) struct Run<'r, 'a> {
    head: Piece<'r>,
    slots: &'r mut [ParamSlot<'a>],
    states: &'r mut [SgdSlotState],
    tail: Piece<'r>,
    momentum: bool,
}

/// The values a slot's update touches: all of them if it has a gradient, none otherwise.
fn updated_len(slot: &ParamSlot<'_>) -> usize {
    slot.grad.map_or(0, |_| slot.value.len())
}

impl<'r, 'a> Run<'r, 'a> {
    /// Every slot of a step, with its state (same length); `momentum` when the step keeps
    /// buffers.
    pub(crate) fn new(
        slots: &'r mut [ParamSlot<'a>],
        states: &'r mut [SgdSlotState],
        momentum: bool,
    ) -> Self {
        assert_eq!(slots.len(), states.len(), "one state per slot");
        Run {
            head: Piece::default(),
            slots,
            states,
            tail: Piece::default(),
            momentum,
        }
    }

    /// A run of one piece.
    fn of_piece(piece: Piece<'r>, momentum: bool) -> Self {
        Run {
            head: piece,
            slots: &mut [],
            states: &mut [],
            tail: Piece::default(),
            momentum,
        }
    }

    fn len(&self) -> usize {
        let whole: usize = self.slots.iter().map(updated_len).sum();
        self.head.len() + whole + self.tail.len()
    }

    /// The first `at` values and the rest.
    fn cut(self, at: usize) -> (Self, Self) {
        let Run {
            head,
            slots,
            states,
            tail,
            momentum,
        } = self;
        if at <= head.len() {
            let (before, after) = head.cut(at);
            let rest = Run {
                head: after,
                slots,
                states,
                tail,
                momentum,
            };
            return (Run::of_piece(before, momentum), rest);
        }
        let mut at = at - head.len();
        let inside = slots.iter().position(|slot| {
            let len = updated_len(slot);
            let here = at < len;
            if !here {
                at -= len;
            }
            here
        });
        let Some(i) = inside else {
            let at = at.min(tail.len());
            let (before, after) = tail.cut(at);
            let first = Run {
                head,
                slots,
                states,
                tail: before,
                momentum,
            };
            return (first, Run::of_piece(after, momentum));
        };
        let (slots_before, rest) = slots.split_at_mut(i);
        let (slot, slots_after) = rest.split_first_mut().expect("slot i");
        let (states_before, rest) = states.split_at_mut(i);
        let (state, states_after) = rest.split_first_mut().expect("state i");
        let (before, after) = Piece::of(slot, state, momentum).cut(at);
        let first = Run {
            head,
            slots: slots_before,
            states: states_before,
            tail: before,
            momentum,
        };
        let rest = Run {
            head: after,
            slots: slots_after,
            states: states_after,
            tail,
            momentum,
        };
        (first, rest)
    }

    /// `update` for every piece, in order.
    fn for_each(self, update: &impl Fn(Piece<'_>)) {
        let momentum = self.momentum;
        update(self.head);
        for (slot, state) in self.slots.iter_mut().zip(self.states.iter_mut()) {
            update(Piece::of(slot, state, momentum));
        }
        update(self.tail);
    }

    /// `update` for every piece, the values cut into one even run per thread when there are
    /// enough of them (at most [`MOST_TASKS`]), otherwise all on the calling thread.
    pub(crate) fn spread(self, update: &(impl Fn(Piece<'_>) + Sync)) {
        let total = self.len();
        let tasks = threads().min(total / MIN_TASK).clamp(1, MOST_TASKS);
        if tasks == 1 {
            return self.for_each(update);
        }
        let runs: [Mutex<Option<Run<'_, '_>>>; MOST_TASKS] = Default::default();
        let mut rest = self;
        for (t, run) in runs.iter().enumerate().take(tasks - 1) {
            // Run `t` ends at `total * (t + 1) / tasks`; `rest` starts at `total * t / tasks`.
            let len = total * (t + 1) / tasks - total * t / tasks;
            let (first, after) = rest.cut(len);
            *run.lock().unwrap_or_else(PoisonError::into_inner) = Some(first);
            rest = after;
        }
        *runs[tasks - 1]
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(rest);
        parallel_for(tasks, |t| {
            let run = runs[t]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            run.expect("each run is taken once").for_each(update);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slots' values in the order the runs give them, with the run each came in.
    fn cut_into(sizes: &[usize], without_grad: &[usize], tasks: usize) -> Vec<Vec<f32>> {
        let mut values: Vec<Vec<f32>> = (sizes.iter().scan(0, |next, &n| {
            *next += n;
            Some((*next - n..*next).map(|v| v as f32).collect())
        }))
        .collect();
        let grads: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let mut slots: Vec<ParamSlot<'_>> = (values.iter_mut().zip(&grads).enumerate())
            .map(|(i, (v, g))| ParamSlot::new(v, (!without_grad.contains(&i)).then_some(&g[..])))
            .collect();
        let mut states: Vec<SgdSlotState> = (sizes.iter())
            .map(|&len| SgdSlotState {
                len,
                momentum_buffer: None,
            })
            .collect();
        let total: usize = (slots.iter()).map(updated_len).sum();
        let mut rest = Run::new(&mut slots, &mut states, true);
        let mut runs = Vec::new();
        for t in 0..tasks {
            let len = total * (t + 1) / tasks - total * t / tasks;
            let (first, after) = rest.cut(len);
            assert_eq!(first.len(), len, "run {t} of {tasks}");
            let seen = std::cell::RefCell::new(Vec::new());
            first.for_each(&|piece: Piece<'_>| {
                assert_eq!(piece.buffer.len(), piece.value.len(), "a buffer per value");
                seen.borrow_mut().extend_from_slice(piece.value);
            });
            runs.push(seen.into_inner());
            rest = after;
        }
        assert_eq!(rest.len(), 0, "nothing left after the last run");
        runs
    }

    #[test]
    fn runs_are_even_and_cover_every_updated_value_once_in_order() {
        let sizes = [784 * 512, 512, 512 * 256, 256, 2560, 10, 0, 7];
        for tasks in [1, 2, 3, 4, 7, 16] {
            let runs = cut_into(&sizes, &[], tasks);
            let lengths: Vec<usize> = runs.iter().map(Vec::len).collect();
            let (shortest, longest) = (lengths.iter().min(), lengths.iter().max());
            assert!(longest.unwrap() - shortest.unwrap() <= 1, "{lengths:?}");
            let total: usize = sizes.iter().sum();
            let expected: Vec<f32> = (0..total).map(|v| v as f32).collect();
            assert_eq!(runs.concat(), expected, "{tasks} tasks");
        }
    }

    #[test]
    fn a_slot_without_a_gradient_is_left_out() {
        // Slot 1 (values 3 to 7) has no gradient: its values are neither updated nor counted.
        let runs = cut_into(&[3, 5, 2], &[1], 2);
        assert_eq!(runs, vec![vec![0.0, 1.0], vec![2.0, 8.0, 9.0]]);
    }
}
