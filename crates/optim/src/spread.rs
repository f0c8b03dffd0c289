//! An optimizer step over every slot at once, spread evenly over the threads.
//!
//! A step updates parameters of very different sizes (a 784x512 weight, a 10-value bias).
//! SGD split one parameter at a time: the small ones ran on the calling thread while the
//! other threads waited, and a large one fell into an uneven number of chunks (Adam ran every
//! slot on the calling thread). Instead the step's
//! values, slot after slot, are cut into one even [`Run`] per thread, a slot cut where a run
//! ends. The updates are element-wise, so where the cuts fall never changes a result.
//!
//! The runs wait for their thread in an array on the stack: a step in steady state allocates
//! nothing (`reliability_allocations` counts).

use crate::slot::ParamSlot;
use std::sync::{Mutex, PoisonError};
use tapegrad_kernels::{parallel_for, threads};

/// The fewest values worth a thread of their own: handing a task over costs about a
/// microsecond, the time an update takes over a few thousand values.
const MIN_TASK: usize = 1 << 14;

/// The most runs a step is cut into: each waits in a slot of an array on the stack, and an
/// update bound by memory bandwidth gains little from more threads than that.
const MOST_TASKS: usize = 16;

/// What an optimizer keeps per slot, seen by a spread step.
pub(crate) trait StepState: Send {
    /// What every slot's step shares (the configuration).
    type Shared: Sync + ?Sized;
    /// A run of the state's per-value buffers, with the slot's per-step constants.
    type Part<'r>: Cut + Default + Send
    where
        Self: 'r;

    /// The slot's part for this step, over its `len` values. Called once per step for each
    /// slot with a gradient, before any of its values is updated: the place for per-slot
    /// bookkeeping (a step count, a first buffer).
    fn begin<'r>(&'r mut self, len: usize, shared: &Self::Shared) -> Self::Part<'r>;
}

/// Something per value that can be cut in two at a value.
pub(crate) trait Cut: Sized {
    /// The values before `at` and those from it.
    fn cut(self, at: usize) -> (Self, Self);
}

/// Consecutive values of one slot, their gradient and the state's part for them.
pub(crate) struct Piece<'r, P> {
    pub value: &'r mut [f32],
    pub grad: &'r [f32],
    pub part: P,
}

impl<P: Default> Default for Piece<'_, P> {
    fn default() -> Self {
        Piece {
            value: &mut [],
            grad: &[],
            part: P::default(),
        }
    }
}

impl<'r, P: Cut + Default> Piece<'r, P> {
    /// A slot's values with everything their update needs; none when it has no gradient.
    fn of<S>(slot: &'r mut ParamSlot<'_>, state: &'r mut S, shared: &S::Shared) -> Self
    where
        S: StepState<Part<'r> = P>,
    {
        let Some(grad) = slot.grad else {
            return Piece::default();
        };
        let part = state.begin(slot.value.len(), shared);
        Piece {
            value: &mut *slot.value,
            grad,
            part,
        }
    }

    fn len(&self) -> usize {
        self.value.len()
    }
}

impl<P: Cut> Cut for Piece<'_, P> {
    fn cut(self, at: usize) -> (Self, Self) {
        let (value, value_tail) = self.value.split_at_mut(at);
        let (grad, grad_tail) = self.grad.split_at(at);
        let (part, part_tail) = self.part.cut(at);
        let head = Piece { value, grad, part };
        let tail = Piece {
            value: value_tail,
            grad: grad_tail,
            part: part_tail,
        };
        (head, tail)
    }
}

/// A per-value buffer's piece: cut with the values; empty when the step keeps none.
impl Cut for &mut [f32] {
    fn cut(self, at: usize) -> (Self, Self) {
        let at = at.min(self.len());
        self.split_at_mut(at)
    }
}

/// The length of run `t` of `tasks` over `total` values: run `t` covers `total * t / tasks`
/// to `total * (t + 1) / tasks`, so lengths differ by at most one.
fn run_len(total: usize, tasks: usize, t: usize) -> usize {
    total * (t + 1) / tasks - total * t / tasks
}

/// Values of a step in order: the end of a slot (`head`), whole slots, the start of a slot
/// (`tail`).
pub(crate) struct Run<'r, 'a, S: StepState> {
    head: Piece<'r, S::Part<'r>>,
    slots: &'r mut [ParamSlot<'a>],
    states: &'r mut [S],
    tail: Piece<'r, S::Part<'r>>,
    shared: &'r S::Shared,
}

/// The values a slot's update touches: all of them if it has a gradient, none otherwise.
fn updated_len(slot: &ParamSlot<'_>) -> usize {
    slot.grad.map_or(0, |_| slot.value.len())
}

impl<'r, 'a, S: StepState> Run<'r, 'a, S> {
    /// Every slot of a step, with its state (same length).
    pub(crate) fn new(
        slots: &'r mut [ParamSlot<'a>],
        states: &'r mut [S],
        shared: &'r S::Shared,
    ) -> Self {
        assert_eq!(slots.len(), states.len(), "one state per slot");
        Run {
            head: Piece::default(),
            slots,
            states,
            tail: Piece::default(),
            shared,
        }
    }

    /// A run of one piece.
    fn of_piece(piece: Piece<'r, S::Part<'r>>, shared: &'r S::Shared) -> Self {
        Run {
            head: piece,
            slots: &mut [],
            states: &mut [],
            tail: Piece::default(),
            shared,
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
            shared,
        } = self;
        if at <= head.len() {
            let (before, after) = head.cut(at);
            let rest = Run {
                head: after,
                slots,
                states,
                tail,
                shared,
            };
            return (Run::of_piece(before, shared), rest);
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
                shared,
            };
            return (first, Run::of_piece(after, shared));
        };
        let (slots_before, rest) = slots.split_at_mut(i);
        let (slot, slots_after) = rest.split_first_mut().expect("slot i");
        let (states_before, rest) = states.split_at_mut(i);
        let (state, states_after) = rest.split_first_mut().expect("state i");
        let (before, after) = Piece::of(slot, state, shared).cut(at);
        let first = Run {
            head,
            slots: slots_before,
            states: states_before,
            tail: before,
            shared,
        };
        let rest = Run {
            head: after,
            slots: slots_after,
            states: states_after,
            tail,
            shared,
        };
        (first, rest)
    }

    /// `update` for every piece, in order.
    fn for_each(self, update: &impl Fn(Piece<'r, S::Part<'r>>)) {
        update(self.head);
        for (slot, state) in self.slots.iter_mut().zip(self.states.iter_mut()) {
            update(Piece::of(slot, state, self.shared));
        }
        update(self.tail);
    }

    /// `update` for every piece, the values cut into one even run per thread when there are
    /// enough of them (at most [`MOST_TASKS`]), otherwise all on the calling thread.
    pub(crate) fn spread(self, update: &(impl Fn(Piece<'r, S::Part<'r>>) + Sync)) {
        let total = self.len();
        let tasks = threads().min(total / MIN_TASK).clamp(1, MOST_TASKS);
        if tasks == 1 {
            return self.for_each(update);
        }
        let runs: [Mutex<Option<Run<'r, 'a, S>>>; MOST_TASKS] = Default::default();
        let mut rest = self;
        for (t, run) in runs.iter().enumerate().take(tasks - 1) {
            let (first, after) = rest.cut(run_len(total, tasks, t));
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
    use crate::{
        Adam, AdamConfig, Momentum, Optimizer, Sgd, SgdConfig, SgdParamState, WeightDecay,
    };
    use tapegrad_core::{Gradients, Param, Tensor};

    /// Three steps of the optimizer `make` gives (the first creates its state) over values
    /// enough for five runs, with `threads` threads, the values in slots of `slot_len`.
    fn train<O: Optimizer>(
        make: &(impl Fn() -> O + Sync),
        threads: usize,
        slot_len: usize,
    ) -> Vec<f32> {
        let len = 5 * MIN_TASK + 17;
        let values: Vec<f32> = (0..len).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
        let grad = |step: usize| -> Vec<f32> {
            (0..len)
                .map(|i| (((i * 31 + step * 7) % 89) as f32 - 44.0) * 0.003)
                .collect()
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut params: Vec<Param> = (values.chunks(slot_len))
                .map(|p| Param::new(Tensor::from_vec(vec![p.len()], p.to_vec())))
                .collect();
            let mut optimizer = make();
            for step in 0..3 {
                let g = grad(step);
                let grads = Gradients::from_params(
                    (params.iter().zip(g.chunks(slot_len)))
                        .map(|(p, g)| (p.id(), Tensor::from_vec(vec![g.len()], g.to_vec()))),
                );
                let mut refs: Vec<&mut Param> = params.iter_mut().collect();
                optimizer.step_slice(&mut refs, &grads).unwrap();
            }
            params
                .iter()
                .flat_map(|p| p.value().data().to_vec())
                .collect()
        })
    }

    /// The bits of one thread and one slot (no cut anywhere) on 2 and 3 threads, in one slot
    /// or many.
    fn assert_same_bits_on_any_thread_count<O: Optimizer>(make: impl Fn() -> O + Sync) {
        let serial = train(&make, 1, usize::MAX);
        for (threads, slot_len) in [
            (2, usize::MAX),
            (3, usize::MAX),
            (2, 1000),
            (3, 7),
            (1, 1000),
        ] {
            assert!(
                train(&make, threads, slot_len) == serial,
                "{threads} threads, slots of {slot_len}: not the bits of one thread"
            );
        }
    }

    #[test]
    fn sgd_has_the_same_bits_on_any_thread_count_and_slot_split() {
        assert_same_bits_on_any_thread_count(|| {
            Sgd::new(SgdConfig {
                lr: 0.1,
                momentum: Some(Momentum::Nesterov(0.9)),
                weight_decay: Some(WeightDecay::L2(1e-3)),
                ..SgdConfig::default()
            })
            .unwrap()
        });
    }

    #[test]
    fn adam_has_the_same_bits_on_any_thread_count_and_slot_split() {
        assert_same_bits_on_any_thread_count(|| {
            Adam::new(AdamConfig {
                lr: 0.01,
                amsgrad: true,
                ..AdamConfig::adamw()
            })
            .unwrap()
        });
    }

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
        let mut states: Vec<SgdParamState> = (sizes.iter())
            .map(|&len| SgdParamState {
                len,
                momentum_buffer: None,
            })
            .collect();
        let total: usize = (slots.iter()).map(updated_len).sum();
        let mut rest = Run::new(&mut slots, &mut states, &true);
        let mut runs = Vec::new();
        for t in 0..tasks {
            let len = run_len(total, tasks, t);
            let (first, after) = rest.cut(len);
            assert_eq!(first.len(), len, "run {t} of {tasks}");
            let seen = std::cell::RefCell::new(Vec::new());
            first.for_each(&|piece| {
                assert_eq!(
                    piece.part.buffer.len(),
                    piece.value.len(),
                    "a buffer per value"
                );
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
