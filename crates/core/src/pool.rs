//! A pool of `f32` buffers, so a training step in steady state reuses the memory of the
//! previous one instead of asking the allocator again.

use crate::Tensor;

/// Free tensors kept for reuse. The tape returns every value to its pool on
/// [`Tape::reset`](crate::Tape::reset), and ops draw their outputs and gradients from it.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: Vec<Tensor>,
}

impl BufferPool {
    /// A tensor of `shape` whose contents are unspecified (old values or zeros): the caller
    /// must write every element. The smallest free buffer that fits is reused; of several
    /// of that size, the one given back last, the likeliest to be still in the cache (a
    /// backward that frees each gradient once used hands it to the next op).
    pub(crate) fn take(&mut self, shape: &[usize]) -> Tensor {
        let numel: usize = shape.iter().product();
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, t)| t.capacity() >= numel)
            .min_by_key(|&(i, t)| (t.capacity(), std::cmp::Reverse(i)))
            .map(|(i, _)| i);
        let mut t = match best {
            Some(i) => self.free.swap_remove(i),
            None => Tensor::zeros(Vec::new()),
        };
        t.reset_to(shape);
        t
    }

    /// A tensor of `shape` filled with zeros.
    pub(crate) fn zeros(&mut self, shape: &[usize]) -> Tensor {
        let mut t = self.take(shape);
        t.data_mut().fill(0.0);
        t
    }

    /// A copy of `data` with `shape`, in a reused buffer.
    pub(crate) fn copy_of(&mut self, shape: &[usize], data: &[f32]) -> Tensor {
        let mut t = self.take(shape);
        t.data_mut().copy_from_slice(data);
        t
    }

    /// Gives a tensor's buffer back for reuse.
    pub(crate) fn give(&mut self, t: Tensor) {
        if t.capacity() > 0 {
            self.free.push(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_buffer_that_fits_is_reused_and_of_equals_the_last_given() {
        let mut pool = BufferPool::default();
        let [small, older, newer] = [2, 8, 8].map(|n| Tensor::zeros(vec![n]));
        let (older_ptr, newer_ptr) = (older.data().as_ptr(), newer.data().as_ptr());
        for t in [small, older, newer] {
            pool.give(t);
        }
        assert_eq!(
            pool.take(&[3]).data().as_ptr(),
            newer_ptr,
            "of two that fit, the last given"
        );
        assert_eq!(pool.take(&[2, 2]).data().as_ptr(), older_ptr);
        assert_eq!(pool.take(&[2]).shape(), &[2]);
        assert!(pool.free.is_empty());
    }
}
