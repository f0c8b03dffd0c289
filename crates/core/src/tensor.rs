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
    ///
    /// Panics with the [`AllocError`] message if the buffer cannot be allocated (as PyTorch
    /// raises); [`Tensor::try_zeros`] returns the error instead.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Self {
        Self::full(shape, 0.0)
    }

    /// A tensor with every element equal to `value`.
    ///
    /// Panics with the [`AllocError`] message if the buffer cannot be allocated;
    /// [`Tensor::try_full`] returns the error instead.
    pub fn full(shape: impl Into<Vec<usize>>, value: f32) -> Self {
        Self::try_full(shape, value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Tensor::zeros`] that returns an error instead of panicking or aborting when the
    /// buffer cannot be had: a shape whose byte count does not fit in an `isize`, or a request
    /// the allocator refuses.
    ///
    /// On Linux the allocator may accept a request larger than the free memory (overcommit)
    /// and the kernel kill the process when the pages are written; see [`AllocError`].
    ///
    /// ```
    /// use tapegrad_core::{AllocFailure, Tensor};
    /// assert_eq!(Tensor::try_zeros(vec![2, 3]).unwrap(), Tensor::zeros(vec![2, 3]));
    /// let err = Tensor::try_zeros(vec![1 << 40, 1 << 40]).unwrap_err();
    /// assert_eq!(err.failure(), AllocFailure::TooLarge);
    /// ```
    pub fn try_zeros(shape: impl Into<Vec<usize>>) -> Result<Self, AllocError> {
        Self::try_full(shape, 0.0)
    }

    /// [`Tensor::full`] that returns an error instead of panicking or aborting (see
    /// [`Tensor::try_zeros`]).
    pub fn try_full(shape: impl Into<Vec<usize>>, value: f32) -> Result<Self, AllocError> {
        let shape = shape.into();
        let mut data = try_buffer(&shape)?;
        data.resize(shape.iter().product(), value);
        Ok(Tensor { data, shape })
    }

    /// A tensor of `shape` whose element `i` (in row-major order) is `f(i)`, called once per
    /// element in order; an error instead of an abort if the buffer cannot be allocated (see
    /// [`Tensor::try_zeros`]).
    ///
    /// The buffer is reserved before `f` is first called, so a refused shape draws nothing
    /// from a generator that `f` holds.
    ///
    /// ```
    /// use tapegrad_core::Tensor;
    /// let t = Tensor::try_from_fn(vec![2, 2], |i| i as f32).unwrap();
    /// assert_eq!(t.data(), &[0.0, 1.0, 2.0, 3.0]);
    /// ```
    pub fn try_from_fn(
        shape: impl Into<Vec<usize>>,
        f: impl FnMut(usize) -> f32,
    ) -> Result<Self, AllocError> {
        let shape = shape.into();
        let mut data = try_buffer(&shape)?;
        let numel = shape.iter().product();
        data.extend((0..numel).map(f));
        Ok(Tensor { data, shape })
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

/// An empty vector with room for exactly the elements of `shape`, or why there is none.
///
/// The element and byte counts are checked before the allocator is asked, so a shape whose
/// size overflows is refused without touching memory; `try_reserve_exact` then returns the
/// allocator's refusal instead of aborting as `vec![..]` would. Nothing is written: the pages
/// of a large reservation are only mapped when the caller fills them.
fn try_buffer(shape: &[usize]) -> Result<Vec<f32>, AllocError> {
    let error = |failure| AllocError::new(shape, failure);
    let numel = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| error(AllocFailure::TooLarge))?;
    match numel.checked_mul(size_of::<f32>()) {
        Some(bytes) if bytes <= isize::MAX as usize => {}
        _ => return Err(error(AllocFailure::TooLarge)),
    }
    let mut data = Vec::new();
    // Past the checks above, the standard library's capacity check passes: only the
    // allocator can refuse.
    data.try_reserve_exact(numel)
        .map_err(|_| error(AllocFailure::OutOfMemory))?;
    Ok(data)
}

/// What went wrong when a tensor's buffer could not be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocFailure {
    /// The element or byte count overflows, or exceeds `isize::MAX` bytes, the most one
    /// allocation may hold in Rust: refused before the allocator is asked.
    TooLarge,
    /// The allocator refused the request (not enough memory or address space).
    OutOfMemory,
}

/// A tensor's buffer that could not be allocated, with its shape and byte count, and the
/// layer and parameter it was for when a layer constructor adds them
/// ([`AllocError::for_param`]).
///
/// Returned by [`Tensor::try_zeros`] and the other `try_` constructors, where the infallible
/// ones panic with the same message. What it can and cannot catch on Linux: a shape too large
/// to address is always refused; a request the kernel refuses (larger than RAM and swap
/// together under the default heuristic overcommit, or beyond `ulimit -v`) is refused; but a
/// request the kernel accepts lazily (less than RAM and swap, more than is free) succeeds
/// here, and the process is killed by the kernel later, when the pages are written. Callers
/// that must not be killed compare their needs with the available memory first, as the
/// `mnist_mlp` example does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct AllocError {
    shape: Vec<usize>,
    failure: AllocFailure,
    /// The layer, as `Linear(784 -> 512)`, and the name of the parameter in it.
    owner: Option<(String, String)>,
}

impl AllocError {
    fn new(shape: &[usize], failure: AllocFailure) -> Self {
        AllocError {
            shape: shape.to_vec(),
            failure,
            owner: None,
        }
    }

    /// The same error, saying that the tensor was the parameter `param` of `layer` (as
    /// `Linear(784 -> 512)` and `weight`): the message then names them.
    pub fn for_param(mut self, layer: impl Into<String>, param: impl Into<String>) -> Self {
        self.owner = Some((layer.into(), param.into()));
        self
    }

    /// The shape asked for.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The bytes asked for, `None` if they exceed even a `u128` (a shape of many large
    /// dimensions).
    pub fn bytes(&self) -> Option<u128> {
        self.shape
            .iter()
            .try_fold(size_of::<f32>() as u128, |n, &d| n.checked_mul(d as u128))
    }

    /// Why the allocation failed.
    pub fn failure(&self) -> AllocFailure {
        self.failure
    }

    /// The layer and parameter names given to [`AllocError::for_param`], if any.
    pub fn param(&self) -> Option<(&str, &str)> {
        self.owner.as_ref().map(|(l, p)| (l.as_str(), p.as_str()))
    }

    fn message(&self) -> String {
        let bytes = match self.bytes() {
            Some(bytes) => format!("{bytes} bytes"),
            None => "more than 2^128 bytes".to_string(),
        };
        let why = match self.failure {
            AllocFailure::TooLarge => {
                format!("more than the {} bytes one allocation can hold", isize::MAX)
            }
            AllocFailure::OutOfMemory => {
                "the allocator refused (not enough memory or address space)".to_string()
            }
        };
        match &self.owner {
            Some((layer, param)) => format!(
                "{layer}: could not allocate {bytes} for {param} {:?}: {why}",
                self.shape
            ),
            None => format!(
                "could not allocate {bytes} for a tensor of shape {:?}: {why}",
                self.shape
            ),
        }
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
    fn the_fallible_constructors_build_what_the_infallible_ones_do() {
        for shape in [vec![], vec![0], vec![3, 0, 2], vec![5], vec![4, 7]] {
            let zeros = Tensor::try_zeros(shape.clone()).unwrap();
            assert_eq!(zeros, Tensor::zeros(shape.clone()));
            assert_eq!(zeros.into_vec(), vec![0.0; shape.iter().product()]);
            let full = Tensor::try_full(shape.clone(), -2.5).unwrap();
            assert_eq!(full, Tensor::full(shape.clone(), -2.5));
        }
        let t = Tensor::try_from_fn(vec![2, 3], |i| i as f32 * 0.5).unwrap();
        assert_eq!(
            t,
            Tensor::from_vec(vec![2, 3], vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
        );
    }

    #[test]
    fn shapes_too_large_to_address_are_errors_before_any_allocation() {
        let cases: [(&[usize], Option<u128>); 4] = [
            // 2^80 elements: the element count overflows usize.
            (&[1 << 40, 1 << 40], Some(1 << 82)),
            // 2^62 elements fit; their 2^64 bytes do not.
            (&[1 << 31, 1 << 31], Some(1 << 64)),
            // 2^63 bytes fit in a usize but exceed isize::MAX, Rust's limit for one allocation.
            (&[1 << 30, 1 << 31], Some(1 << 63)),
            // Beyond even the u128 the error counts bytes in.
            (&[usize::MAX; 3], None),
        ];
        for (shape, bytes) in cases {
            let err = Tensor::try_zeros(shape).unwrap_err();
            assert_eq!(err.failure(), AllocFailure::TooLarge, "{shape:?}");
            assert_eq!(err.shape(), shape);
            assert_eq!(err.bytes(), bytes);
            assert!(err.to_string().contains("one allocation can hold"), "{err}");
        }
        let mut calls = 0;
        let err = Tensor::try_from_fn(vec![1 << 40, 1 << 40], |_| {
            calls += 1;
            0.0
        })
        .unwrap_err();
        assert_eq!(calls, 0, "{err}");
    }

    #[test]
    fn the_message_names_the_bytes_and_the_layer() {
        let err = AllocError::new(&[100_000, 100_000], AllocFailure::OutOfMemory);
        assert_eq!(
            err.to_string(),
            "could not allocate 40000000000 bytes for a tensor of shape [100000, 100000]: \
             the allocator refused (not enough memory or address space)"
        );
        let err = err.for_param("Linear(100000 -> 100000)", "weight");
        assert_eq!(err.param(), Some(("Linear(100000 -> 100000)", "weight")));
        assert_eq!(
            err.to_string(),
            "Linear(100000 -> 100000): could not allocate 40000000000 bytes for weight \
             [100000, 100000]: the allocator refused (not enough memory or address space)"
        );
        let huge = Tensor::try_zeros(vec![usize::MAX; 3]).unwrap_err();
        assert!(huge.to_string().contains("more than 2^128 bytes"), "{huge}");
    }

    #[test]
    #[should_panic(expected = "could not allocate 73786976294838206464 bytes for a tensor")]
    fn the_infallible_constructor_panics_with_the_message() {
        Tensor::zeros(vec![1 << 32, 1 << 32]);
    }

    /// Twice the RAM and swap: more than Linux commits under its default heuristic overcommit
    /// (mode 0: a single request beyond RAM + swap is refused) or strict accounting (mode 2),
    /// so the allocator refuses it and nothing is mapped. Under mode 1 (always overcommit)
    /// the reservation would succeed lazily: the test is skipped there, and only reserves,
    /// never writes, so that it cannot be killed for memory either way.
    #[test]
    fn a_request_beyond_ram_and_swap_is_refused_by_the_allocator() {
        let mode = std::fs::read_to_string("/proc/sys/vm/overcommit_memory");
        let meminfo = std::fs::read_to_string("/proc/meminfo");
        let (Ok(mode), Ok(meminfo)) = (mode, meminfo) else {
            eprintln!("no /proc/sys/vm/overcommit_memory or /proc/meminfo: skipped");
            return;
        };
        if !matches!(mode.trim(), "0" | "2") {
            eprintln!(
                "overcommit_memory is {}: a request may succeed lazily; skipped",
                mode.trim()
            );
            return;
        }
        let kib = |key: &str| -> usize {
            let line = meminfo.lines().find(|l| l.starts_with(key)).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        let bytes = 2 * 1024 * (kib("MemTotal:") + kib("SwapTotal:"));
        let shape = [bytes / 4];
        let err = try_buffer(&shape).unwrap_err();
        assert_eq!(err.failure(), AllocFailure::OutOfMemory, "{err}");
        assert!(err.to_string().contains("the allocator refused"), "{err}");
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
