//! The tape (a Wengert list): every value computed in a step, the op that made it and its
//! inputs, walked in reverse by [`Tape::backward`].

use crate::op::{BackwardCtx, ForwardCtx};
use crate::op_times::{timed, Pass};
use crate::pool::BufferPool;
use crate::{Gradients, Op, OpTimes, Param, ParamId, Tensor};
use std::ops::{Deref, Range};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tapegrad_kernels::axpy_into;

static NEXT_TAPE_ID: AtomicU32 = AtomicU32::new(1);

/// A small `Copy` handle to a value on a [`Tape`].
///
/// It remembers which tape and which step (the tape's generation, bumped by
/// [`Tape::reset`]) it belongs to, so a handle used on the wrong tape, or after a reset, is
/// rejected with a clear panic instead of silently reading another value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    tape: u32,
    generation: u32,
    index: u32,
}

impl Var {
    pub(crate) fn new(tape: u32, generation: u32, index: usize) -> Self {
        Var {
            tape,
            generation,
            index: index as u32,
        }
    }

    /// The position of this value on its tape (the order it was computed in).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// A value on the tape: computed by an op (its buffer returns to the pool on reset), or a
/// parameter's value, shared with the [`Param`] instead of copied.
pub(crate) enum Slot {
    Owned(Tensor),
    Shared(Arc<Tensor>),
}

impl Deref for Slot {
    type Target = Tensor;

    fn deref(&self) -> &Tensor {
        match self {
            Slot::Owned(t) => t,
            Slot::Shared(t) => t,
        }
    }
}

/// How a backward is run: from which seed, and which gradients it returns.
///
/// [`Tape::backward`] is the default (seed 1, leaves only); [`Tape::backward_with`] takes
/// these options.
///
/// ```
/// use tapegrad_core::{Backward, Tape, Tensor};
///
/// let mut tape = Tape::new();
/// let x = tape.variable(Tensor::from_vec(vec![2], vec![1.0, -2.0]));
/// let y = tape.mul(x, x);
/// // The vector-Jacobian product with seed [1, 10], keeping the gradient of `y` too.
/// let seed = Tensor::from_vec(vec![2], vec![1.0, 10.0]);
/// let grads = tape.backward_with(y, Backward::seeded(seed).retain_grads());
/// assert_eq!(grads.get(x).unwrap().data(), &[2.0, -40.0]);
/// assert_eq!(grads.get(y).unwrap().data(), &[1.0, 10.0]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Backward {
    seed: Option<Tensor>,
    retain_grads: bool,
}

impl Backward {
    /// Seed 1 (the output must have one element), gradients of the leaves only: what
    /// [`Tape::backward`] does.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from `seed` (of the output's shape) instead of 1: the backward gives the
    /// gradients of `sum(output * seed)`, a vector-Jacobian product.
    pub fn seeded(seed: Tensor) -> Self {
        Backward {
            seed: Some(seed),
            retain_grads: false,
        }
    }

    /// Also keeps the gradient of every computed value (PyTorch's `retain_grad` on every
    /// tensor), readable with [`Gradients::get`]. Costs memory and cache: a training step
    /// needs only the leaves'.
    pub fn retain_grads(mut self) -> Self {
        self.retain_grads = true;
        self
    }
}

/// A seed alone: the vector-Jacobian product's vector.
impl From<Tensor> for Backward {
    fn from(seed: Tensor) -> Self {
        Backward::seeded(seed)
    }
}

/// The record of one op application: the op (holding what its backward needs) and where its
/// input indices sit in the tape's flat input list.
struct Node {
    op: Box<dyn Op>,
    inputs: Range<usize>,
}

/// Records the ops of one step and computes gradients by walking them in reverse.
///
/// One tape is typically reused for every step: [`Tape::reset`] forgets the values and the
/// ops but keeps the allocations, so a step in steady state reuses the previous step's
/// memory.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// let mut tape = Tape::new();
/// let x = tape.variable(Tensor::from_vec(vec![3], vec![1.0, 2.0, 3.0]));
/// let y = tape.mul(x, x); // x^2, x used twice
/// let loss = tape.sum(y);
/// let grads = tape.backward(loss);
/// assert_eq!(grads.get(x).unwrap().data(), &[2.0, 4.0, 6.0]);
/// ```
pub struct Tape {
    id: u32,
    generation: u32,
    recording: bool,
    values: Vec<Slot>,
    requires_grad: Vec<bool>,
    producers: Vec<Option<Node>>,
    input_ids: Vec<u32>,
    params: Vec<(ParamId, u32)>,
    pool: BufferPool,
    scratch_grads: Vec<Option<Tensor>>,
    /// Wall time per kind of op, when timing (see [`Tape::time_ops`]).
    op_times: Option<OpTimes>,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    /// An empty tape that records ops (training mode).
    pub fn new() -> Self {
        Tape {
            id: NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed),
            generation: 0,
            recording: true,
            values: Vec::new(),
            requires_grad: Vec::new(),
            producers: Vec::new(),
            input_ids: Vec::new(),
            params: Vec::new(),
            pool: BufferPool::default(),
            scratch_grads: Vec::new(),
            op_times: None,
        }
    }

    /// Forgets every value and op, keeping the memory for the next step. Handles from
    /// before the reset become invalid.
    pub fn reset(&mut self) {
        for slot in self.values.drain(..) {
            if let Slot::Owned(t) = slot {
                self.pool.give(t);
            }
        }
        self.requires_grad.clear();
        self.producers.clear();
        self.input_ids.clear();
        self.params.clear();
        self.generation = self.generation.wrapping_add(1);
    }

    /// Gives the buffers of a used gradient store back to this tape's pool, so the next
    /// backward allocates nothing new.
    pub fn recycle(&mut self, grads: Gradients) {
        for t in grads.into_buffers() {
            self.pool.give(t);
        }
    }

    /// Starts timing every op's forward and backward (`true`), or stops and forgets the
    /// times (`false`). The times add up across [`Tape::reset`]s, so a run of many steps gives
    /// each op's share of them; see [`OpTimes`]. Off by default: two clock reads per op.
    pub fn time_ops(&mut self, on: bool) {
        if on != self.op_times.is_some() {
            self.op_times = on.then(OpTimes::default);
        }
    }

    /// The op times since timing started (or since [`Tape::take_op_times`]), if timing.
    pub fn op_times(&self) -> Option<&OpTimes> {
        self.op_times.as_ref()
    }

    /// The op times so far, if timing, which then starts again from zero.
    pub fn take_op_times(&mut self) -> Option<OpTimes> {
        self.op_times.as_mut().map(std::mem::take)
    }

    /// Whether ops are recorded for a backward: false only inside [`Tape::no_grad`].
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Runs `f` with recording off, then restores the previous setting (PyTorch's
    /// `torch.no_grad()`): ops compute their values but record nothing and keep no backward
    /// state, and variables and parameters put on the tape need no gradient. The way to run
    /// a model for evaluation or inference.
    ///
    /// ```
    /// use tapegrad_core::{Tape, Tensor};
    /// let mut tape = Tape::new();
    /// let y = tape.no_grad(|tape| {
    ///     let x = tape.variable(Tensor::from_vec(vec![2], vec![1.0, 2.0]));
    ///     tape.exp(x)
    /// });
    /// assert_eq!(tape.num_recorded_ops(), 0);
    /// assert!(tape.is_recording());
    /// assert_eq!(tape.shape(y), &[2]);
    /// ```
    pub fn no_grad<R>(&mut self, f: impl FnOnce(&mut Tape) -> R) -> R {
        let previous = std::mem::replace(&mut self.recording, false);
        let result = f(self);
        self.recording = previous;
        result
    }

    /// How many values are on the tape.
    pub fn num_values(&self) -> usize {
        self.values.len()
    }

    /// How many op applications were recorded for a backward.
    pub fn num_recorded_ops(&self) -> usize {
        self.producers.iter().filter(|p| p.is_some()).count()
    }

    /// A value that needs no gradient (a data batch, a label mask, a constant).
    pub fn constant(&mut self, value: Tensor) -> Var {
        self.push(value, false, None)
    }

    /// A constant copied from a slice into a reused buffer (no allocation in steady state).
    pub fn constant_from_slice(&mut self, shape: &[usize], data: &[f32]) -> Var {
        let numel: usize = shape.iter().product();
        assert_eq!(
            numel,
            data.len(),
            "constant_from_slice: shape {shape:?} holds {numel} elements but the slice has {}",
            data.len()
        );
        let t = self.pool.copy_of(shape, data);
        self.constant(t)
    }

    /// A leaf value whose gradient [`Tape::backward`] computes (what tests and
    /// [`gradcheck`](crate::gradcheck()) differentiate with respect to).
    pub fn variable(&mut self, value: Tensor) -> Var {
        let requires_grad = self.recording;
        self.push(value, requires_grad, None)
    }

    /// Puts a parameter's value on the tape, shared rather than copied (see [`Param`]); its
    /// gradient is then found by the parameter's id in the [`Gradients`]. Using the same
    /// parameter twice in a step gives the same handle, so its gradients add up.
    pub fn param(&mut self, param: &Param) -> Var {
        if let Some(&(_, index)) = self.params.iter().find(|(id, _)| *id == param.id()) {
            return self.handle(index as usize);
        }
        let var = self.push_slot(Slot::Shared(param.shared_value()), self.recording, None);
        self.params.push((param.id(), var.index));
        var
    }

    /// The value behind a handle.
    pub fn value(&self, var: Var) -> &Tensor {
        &self.values[self.check(var, "value")]
    }

    /// The shape of the value behind a handle.
    pub fn shape(&self, var: Var) -> &[usize] {
        self.value(var).shape()
    }

    /// Applies an op: checks the handles, runs its forward and, when a gradient will be
    /// needed, records it for the backward. This is how every op, built-in or not, runs.
    pub fn apply<O: Op>(&mut self, mut op: O, inputs: &[Var]) -> Var {
        let start = self.input_ids.len();
        let mut needs_backward = false;
        for &v in inputs {
            let index = self.check(v, op.name());
            needs_backward |= self.requires_grad[index];
            self.input_ids.push(index as u32);
        }
        needs_backward &= self.recording;
        let name = op.name();
        let output = timed(
            self.op_times.as_mut(),
            || name,
            Pass::Forward,
            || {
                op.forward(&mut ForwardCtx {
                    values: &self.values,
                    inputs: &self.input_ids[start..],
                    pool: &mut self.pool,
                    needs_backward,
                })
            },
        );
        let node = if needs_backward {
            Some(Node {
                op: Box::new(op),
                inputs: start..self.input_ids.len(),
            })
        } else {
            self.input_ids.truncate(start);
            None
        };
        self.push(output, needs_backward, node)
    }

    /// The gradients of a scalar `loss` with respect to the tape's leaves: its variables and
    /// parameters (a parameter's is found by [`Gradients::param`]).
    ///
    /// The gradient of each computed value goes back to the pool as soon as the backward of
    /// the op that made it has used it, so the next op writes its own gradient into a buffer
    /// still in the cache. [`Gradients::get`] of a computed value then gives `None`, as
    /// PyTorch keeps no gradient of a non-leaf tensor unless asked
    /// (see [`Backward::retain_grads`]).
    ///
    /// Panics if `loss` has more than one element (seed it with [`Tape::backward_with`]).
    ///
    /// ```
    /// use tapegrad_core::{Tape, Tensor};
    ///
    /// let mut tape = Tape::new();
    /// let x = tape.variable(Tensor::from_vec(vec![2], vec![1.0, -2.0]));
    /// let y = tape.mul(x, x);
    /// let loss = tape.sum(y);
    /// let grads = tape.backward(loss);
    /// assert_eq!(grads.get(x).unwrap().data(), &[2.0, -4.0]);
    /// assert!(grads.get(y).is_none());
    /// ```
    pub fn backward(&mut self, loss: Var) -> Gradients {
        self.backward_with(loss, Backward::new())
    }

    /// [`Tape::backward`] with options: another seed than 1 (for an output of any shape)
    /// and/or the gradients of the computed values kept too.
    ///
    /// Panics if the seed's shape is not the output's, or if no seed is given and the output
    /// has more than one element.
    /// A bare tensor as `options` is the seed (`Backward::seeded`).
    pub fn backward_with(&mut self, output: Var, options: impl Into<Backward>) -> Gradients {
        let options = options.into();
        let out = self.check(output, "backward");
        let shape = self.values[out].shape();
        // A seed given by the caller is dropped once used, not added to the pool: the pool
        // only takes back what the tape allocated, so a loop that seeds every step with a new
        // tensor does not grow it without bound.
        let pooled_seed = options.seed.is_none();
        let seed = match options.seed {
            Some(seed) => {
                assert_eq!(
                    seed.shape(),
                    shape,
                    "backward: seed shape {:?} differs from output shape {shape:?}",
                    seed.shape(),
                );
                seed
            }
            None => {
                assert_eq!(
                    self.values[out].numel(),
                    1,
                    "backward: the loss must have one element, got shape {shape:?} (seed another output with backward_with)"
                );
                let shape = shape.to_vec();
                self.pool.copy_of(&shape, &[1.0])
            }
        };
        let mut grads: Vec<Option<Tensor>> = Vec::with_capacity(out + 1);
        grads.resize_with(out + 1, || None);
        if self.requires_grad[out] {
            grads[out] = Some(seed);
        } else if pooled_seed {
            self.pool.give(seed);
        }
        for i in (0..=out).rev() {
            let Some(node) = &self.producers[i] else {
                continue;
            };
            let (earlier, rest) = grads.split_at_mut(i);
            let Some(grad_output) = &rest[0] else {
                continue;
            };
            let inputs = &self.input_ids[node.inputs.clone()];
            self.scratch_grads.clear();
            self.scratch_grads.resize_with(inputs.len(), || None);
            timed(
                self.op_times.as_mut(),
                || node.op.name(),
                Pass::Backward,
                || {
                    node.op.backward(&mut BackwardCtx {
                        values: &self.values,
                        inputs,
                        requires_grad: &self.requires_grad,
                        output: &self.values[i],
                        grad_output,
                        pool: &mut self.pool,
                        grads: &mut self.scratch_grads,
                    })
                },
            );
            for (slot, &input) in inputs.iter().enumerate() {
                let input = input as usize;
                let given = self.scratch_grads[slot].take();
                if !self.requires_grad[input] {
                    if let Some(t) = given {
                        self.pool.give(t);
                    }
                    continue;
                }
                let grad = given.unwrap_or_else(|| {
                    panic!(
                        "{}: backward gave no gradient for input {slot} (shape {:?})",
                        node.op.name(),
                        self.values[input].shape()
                    )
                });
                assert_eq!(
                    grad.shape(),
                    self.values[input].shape(),
                    "{}: backward gave a gradient of shape {:?} for input {slot} of shape {:?}",
                    node.op.name(),
                    grad.shape(),
                    self.values[input].shape()
                );
                match &mut earlier[input] {
                    Some(acc) => {
                        axpy_into(acc.data_mut(), 1.0, grad.data());
                        self.pool.give(grad);
                    }
                    empty => *empty = Some(grad),
                }
            }
            // Every op that used value `i` came after it and has added its part: the
            // gradient of `i` is complete and, once its producer's backward has read it,
            // needed by nothing else.
            if !options.retain_grads {
                if let Some(used) = grads[i].take() {
                    if pooled_seed || i != out {
                        self.pool.give(used);
                    }
                }
            }
        }
        let params = self
            .params
            .iter()
            .map(|&(id, index)| (id, index as usize))
            .collect();
        Gradients::new(self.id, self.generation, grads, params)
    }

    fn push(&mut self, value: Tensor, requires_grad: bool, node: Option<Node>) -> Var {
        self.push_slot(Slot::Owned(value), requires_grad, node)
    }

    fn push_slot(&mut self, value: Slot, requires_grad: bool, node: Option<Node>) -> Var {
        let index = self.values.len();
        self.values.push(value);
        self.requires_grad.push(requires_grad);
        self.producers.push(node);
        self.handle(index)
    }

    fn handle(&self, index: usize) -> Var {
        Var::new(self.id, self.generation, index)
    }

    /// The index behind `var`, or a panic naming `op` if the handle is not of this tape's
    /// current step.
    fn check(&self, var: Var, op: &str) -> usize {
        assert_eq!(
            var.tape, self.id,
            "{op}: the value #{} belongs to tape {}, not to this tape ({}); values cannot cross tapes",
            var.index, var.tape, self.id
        );
        assert_eq!(
            var.generation, self.generation,
            "{op}: the value #{} is from before the tape was reset (step {} vs now {})",
            var.index, var.generation, self.generation
        );
        var.index as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_param_is_shared_with_the_tape_and_copied_only_on_write() {
        let mut p = Param::new(Tensor::from_vec(vec![3], vec![1.0, 2.0, 3.0]));
        let mut tape = Tape::new();
        let v = tape.param(&p);
        assert_eq!(
            tape.value(v).data().as_ptr(),
            p.value().data().as_ptr(),
            "no copy onto the tape"
        );
        // Written while the tape holds it: the tape keeps the value its ops saw.
        p.value_mut().data_mut()[0] = 10.0;
        assert_eq!(tape.value(v).data(), &[1.0, 2.0, 3.0]);
        assert_eq!(p.value().data(), &[10.0, 2.0, 3.0]);
        // Once the tape forgot it, the update is in place.
        tape.reset();
        let before = p.value().data().as_ptr();
        p.value_mut().data_mut()[1] = 20.0;
        assert_eq!(p.value().data().as_ptr(), before);
        assert_eq!(p.value().data(), &[10.0, 20.0, 3.0]);
    }

    #[test]
    fn backward_gives_the_leaves_the_bits_of_retain_grads_and_frees_the_rest() {
        let w = Param::new(Tensor::from_vec(
            vec![3, 2],
            vec![0.5, -1.0, 0.25, 2.0, -0.75, 1.5],
        ));
        let run = |retain: bool| {
            let mut tape = Tape::new();
            let x = tape.variable(Tensor::from_vec(vec![2, 2], vec![1.0, -2.0, 0.5, 3.0]));
            let wv = tape.param(&w);
            let h = tape.linear(x, wv, None);
            let a = tape.relu(h);
            let z = tape.mul(a, a); // `a` used twice: its gradient sums two parts
            let loss = tape.cross_entropy(z, &[0, 2]);
            let grads = if retain {
                tape.backward_with(loss, Backward::new().retain_grads())
            } else {
                tape.backward(loss)
            };
            let leaves = [grads.get(x).cloned(), grads.param(&w).cloned()];
            let computed = [h, a, z, loss].map(|v| grads.get(v).is_some());
            (leaves, computed)
        };
        let (every, every_computed) = run(true);
        let (leaves, leaves_computed) = run(false);
        assert!(every.iter().all(Option::is_some));
        assert_eq!(every, leaves);
        assert_eq!(every_computed, [true; 4]);
        assert_eq!(leaves_computed, [false; 4]);
    }

    #[test]
    fn op_times_count_every_forward_and_backward_and_restart_when_taken() {
        let mut tape = Tape::new();
        let step = |tape: &mut Tape| {
            tape.reset();
            let x = tape.variable(Tensor::from_vec(vec![2], vec![1.0, -2.0]));
            let c = tape.constant(Tensor::from_vec(vec![2], vec![3.0, 4.0]));
            let y = tape.mul(x, c);
            let z = tape.mul(y, y);
            let unused = tape.exp(c); // no gradient needed: a forward, never a backward
            assert!(!tape.value(unused).data().is_empty());
            let loss = tape.sum(z);
            tape.backward(loss);
        };
        step(&mut tape);
        assert!(tape.op_times().is_none(), "off by default");
        tape.time_ops(true);
        for _ in 0..3 {
            step(&mut tape);
        }
        let calls = |tape: &Tape, name: &str| {
            let t = tape.op_times().unwrap().get(name).unwrap();
            (t.forward_calls, t.backward_calls)
        };
        assert_eq!(calls(&tape, "mul"), (6, 6));
        assert_eq!(calls(&tape, "exp"), (3, 0));
        assert_eq!(calls(&tape, "sum"), (3, 3));
        let taken = tape.take_op_times().unwrap();
        assert!(taken.total() > Duration::ZERO);
        assert_eq!(tape.op_times(), Some(&OpTimes::default()));
        step(&mut tape);
        assert_eq!(calls(&tape, "mul"), (2, 2));
        tape.time_ops(false);
        assert!(tape.op_times().is_none());
    }

    #[test]
    #[should_panic(expected = "backward: seed shape [3] differs from output shape [2]")]
    fn backward_with_checks_the_seed_shape() {
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::zeros(vec![2]));
        let y = tape.exp(x);
        tape.backward_with(y, Backward::seeded(Tensor::zeros(vec![3])));
    }

    #[test]
    fn a_seeded_backward_gives_the_vector_jacobian_product() {
        let mut tape = Tape::new();
        let x = tape.variable(Tensor::from_vec(vec![2], vec![0.5, -1.5]));
        let y = tape.mul(x, x);
        let seed = Tensor::from_vec(vec![2], vec![3.0, -2.0]);
        let grads = tape.backward_with(y, Backward::seeded(seed));
        // d/dx sum(seed * x^2) = 2 x seed.
        assert_eq!(grads.get(x).unwrap().data(), &[3.0, 6.0]);
        assert!(grads.get(y).is_none(), "the output is not a leaf");
    }
}
