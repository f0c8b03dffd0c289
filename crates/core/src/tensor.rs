//! `Tensor`: contiguous row-major `f32` data with a shape.

use std::fmt;

/// A dense, contiguous, row-major array of `f32` with a shape.
///
/// A tensor is plain data: it knows nothing of the tape or of gradients. A scalar has the
/// shape `[]` and one element.
///
/// ```
/// use tapegrad_core::Tensor;
/// let t = Tensor::from_vec(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// assert_eq!(t.shape(), &[2, 3]);
/// assert_eq!(t.row(1), &[4.0, 5.0, 6.0]);
/// ```
pub struct Tensor {
    /// The elements in `data[..numel]`, `numel` being the shape's product. A buffer reused
    /// for a smaller shape keeps its old values past them, so that growing back within them
    /// writes nothing (see [`Tensor::reset_to`]); they are never read.
    data: Vec<f32>,
    shape: Vec<usize>,
}

impl Tensor {
    /// Wraps `data` with `shape`; panics if the shape's element count differs from the data length.
    pub fn from_vec(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Self {
        let shape = shape.into();
        let numel: usize = shape.iter().product();
        assert_eq!(
            numel,
            data.len(),
            "Tensor::from_vec: shape {shape:?} holds {numel} elements but the data has {}",
            data.len()
        );
        Tensor { data, shape }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Self {
        Self::full(shape, 0.0)
    }

    /// A tensor with every element equal to `value`.
    pub fn full(shape: impl Into<Vec<usize>>, value: f32) -> Self {
        let shape = shape.into();
        let numel = shape.iter().product();
        Tensor {
            data: vec![value; numel],
            shape,
        }
    }

    /// A scalar (shape `[]`).
    pub fn scalar(value: f32) -> Self {
        Tensor {
            data: vec![value],
            shape: Vec::new(),
        }
    }

    /// The dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements in row-major order.
    pub fn data(&self) -> &[f32] {
        &self.data[..self.numel()]
    }

    /// The elements in row-major order, mutably (the shape stays).
    pub fn data_mut(&mut self) -> &mut [f32] {
        let numel = self.numel();
        &mut self.data[..numel]
    }

    /// Takes the data out, dropping the shape.
    pub fn into_vec(mut self) -> Vec<f32> {
        self.data.truncate(self.numel());
        self.data
    }

    /// The single value of a one-element tensor; panics otherwise.
    pub fn item(&self) -> f32 {
        assert_eq!(
            self.numel(),
            1,
            "Tensor::item: tensor of shape {:?} has {} elements, not 1",
            self.shape,
            self.numel()
        );
        self.data[0]
    }

    /// Views the tensor as a matrix `[rows, cols]`, where `cols` is the last dimension and
    /// `rows` the product of the others (a scalar or a vector of length `c` is `[1, c]`).
    pub fn as_matrix(&self) -> (usize, usize) {
        match self.shape.split_last() {
            None => (1, 1),
            Some((&cols, rest)) => (rest.iter().product(), cols),
        }
    }

    /// Row `r` of the matrix view (see [`Tensor::as_matrix`]).
    pub fn row(&self, r: usize) -> &[f32] {
        let (_, cols) = self.as_matrix();
        &self.data()[r * cols..(r + 1) * cols]
    }

    /// The same data with another shape of the same element count; panics otherwise.
    pub fn reshaped(mut self, shape: impl Into<Vec<usize>>) -> Self {
        let shape = shape.into();
        let numel: usize = shape.iter().product();
        assert_eq!(
            numel,
            self.numel(),
            "reshape: cannot view shape {:?} as {shape:?}",
            self.shape
        );
        self.shape = shape;
        self
    }

    /// Sets the shape and length in place, reusing the allocation; the contents are
    /// unspecified afterwards (old values or zeros), so callers must overwrite every element.
    ///
    /// Only elements never written before are zeroed: a pool buffer that held a 128x512
    /// matrix, then a 128x256 one, takes the larger shape back without a 128 KiB `memset`
    /// (which truncating and resizing the vector cost, nearly 1% of the main thread's time in
    /// an MNIST epoch with BatchNorm).
    pub(crate) fn reset_to(&mut self, shape: &[usize]) {
        let numel: usize = shape.iter().product();
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        if self.data.len() < numel {
            self.data.resize(numel, 0.0);
        }
    }

    /// The capacity of the data buffer, used by the tape's buffer pool.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
    }
}

/// A copy of the elements and the shape, not of a reused buffer's stale values past them.
impl Clone for Tensor {
    fn clone(&self) -> Self {
        Tensor::from_vec(self.shape.clone(), self.data().to_vec())
    }
}

/// Equal shapes and elements.
impl PartialEq for Tensor {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.data() == other.data()
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        write!(f, "Tensor{:?} [", self.shape)?;
        for (i, v) in self.data().iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v}")?;
        }
        if self.numel() > SHOWN {
            write!(f, ", … {} more", self.numel() - SHOWN)?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_view_of_vectors_and_scalars() {
        assert_eq!(Tensor::zeros(vec![3]).as_matrix(), (1, 3));
        assert_eq!(Tensor::scalar(1.0).as_matrix(), (1, 1));
        assert_eq!(Tensor::zeros(vec![2, 3, 4]).as_matrix(), (6, 4));
    }

    #[test]
    #[should_panic(expected = "shape [2, 2] holds 4 elements but the data has 3")]
    fn from_vec_rejects_a_wrong_length() {
        Tensor::from_vec(vec![2, 2], vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn a_buffer_shrunk_and_grown_back_keeps_its_values_and_hides_them() {
        let mut t = Tensor::from_vec(vec![4], vec![1.0, 2.0, 3.0, 4.0]);
        t.reset_to(&[2]);
        assert_eq!(t.data(), &[1.0, 2.0]);
        assert_eq!(t, Tensor::from_vec(vec![2], vec![1.0, 2.0]));
        assert_eq!(t.clone().into_vec(), vec![1.0, 2.0]);
        assert_eq!(format!("{t:?}"), "Tensor[2] [1, 2]");
        // Growing back within what was written before writes nothing: the old values.
        t.reset_to(&[3]);
        assert_eq!(t.data(), &[1.0, 2.0, 3.0]);
        // Past it, zeros.
        t.reset_to(&[6]);
        assert_eq!(t.data(), &[1.0, 2.0, 3.0, 4.0, 0.0, 0.0]);
    }

    #[test]
    fn reset_to_reuses_the_buffer() {
        let mut t = Tensor::zeros(vec![100]);
        let cap = t.capacity();
        t.reset_to(&[5, 2]);
        assert_eq!(t.shape(), &[5, 2]);
        assert_eq!(t.numel(), 10);
        assert_eq!(t.capacity(), cap);
    }
}
