//! A pool of `f32` buffers, so a training step in steady state reuses the memory of the
//! previous one instead of asking the allocator again.

use crate::Tensor;

/// Free tensors kept for reuse. The tape returns every value to its pool on
/// [`Tape::reset`](crate::Tape::reset), and ops draw their outputs and gradients from it.
#[derive(Default)]
pub struct BufferPool {
    free: Vec<Tensor>,
}

impl BufferPool {
    /// A tensor of `shape` whose contents are unspecified (old values or zeros): the caller
    /// must write every element. The smallest free buffer that fits is reused.
    pub fn take(&mut self, shape: &[usize]) -> Tensor {
        let numel: usize = shape.iter().product();
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, t)| t.capacity() >= numel)
            .min_by_key(|(_, t)| t.capacity())
            .map(|(i, _)| i);
        let mut t = match best {
            Some(i) => self.free.swap_remove(i),
            None => Tensor::zeros(Vec::new()),
        };
        t.reset_to(shape);
        t
    }

    /// A tensor of `shape` filled with zeros.
    pub fn zeros(&mut self, shape: &[usize]) -> Tensor {
        let mut t = self.take(shape);
        t.data_mut().fill(0.0);
        t
    }

    /// A copy of `data` with `shape`, in a reused buffer.
    pub fn copy_of(&mut self, shape: &[usize], data: &[f32]) -> Tensor {
        let mut t = self.take(shape);
        t.data_mut().copy_from_slice(data);
        t
    }

    /// Gives a tensor's buffer back for reuse.
    pub fn give(&mut self, t: Tensor) {
        if t.capacity() > 0 {
            self.free.push(t);
        }
    }

    /// How many buffers are waiting for reuse.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether no buffer is waiting for reuse.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}
