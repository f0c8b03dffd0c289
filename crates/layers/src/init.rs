//! Seeded random initialisation: every random number in a model comes from a ChaCha8
//! generator built from a seed, so the same seed gives the same model on any platform.

use crate::Rng;
use rand::{Rng as _, SeedableRng};
use tapegrad_core::{AllocError, Tensor};

/// The generator of `seed` (ChaCha8, stream 0), what layer constructors draw from.
///
/// ```
/// use tapegrad_layers::{seeded_rng, Linear};
/// let a = Linear::new(3, 2, &mut seeded_rng(7));
/// let b = Linear::new(3, 2, &mut seeded_rng(7));
/// assert_eq!(a.weight().value(), b.weight().value());
/// ```
pub fn seeded_rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// A tensor of `shape` with elements drawn from `U(-bound, bound)`, in row-major order.
///
/// Panics with the [`AllocError`] message if the tensor cannot be allocated;
/// [`try_uniform`] returns the error instead.
pub fn uniform(shape: &[usize], bound: f32, rng: &mut Rng) -> Tensor {
    try_uniform(shape, bound, rng).unwrap_or_else(|e| panic!("{e}"))
}

/// [`uniform`] that returns an error instead of aborting when the tensor cannot be allocated
/// (see [`Tensor::try_zeros`]); the generator is left untouched then.
pub fn try_uniform(shape: &[usize], bound: f32, rng: &mut Rng) -> Result<Tensor, AllocError> {
    Tensor::try_from_fn(shape, |_| {
        if bound > 0.0 {
            rng.random_range(-bound..bound)
        } else {
            0.0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_shape_draws_nothing() {
        let mut rng = seeded_rng(2);
        assert!(try_uniform(&[1 << 40, 1 << 40], 0.1, &mut rng).is_err());
        assert_eq!(rng, seeded_rng(2));
        assert_eq!(
            try_uniform(&[3, 4], 0.1, &mut rng).unwrap(),
            uniform(&[3, 4], 0.1, &mut seeded_rng(2))
        );
    }

    #[test]
    fn uniform_stays_in_range_and_fills_it() {
        let t = uniform(&[100, 100], 0.5, &mut seeded_rng(1));
        assert!(t.data().iter().all(|&v| (-0.5..0.5).contains(&v)));
        let (lo, hi) = t
            .data()
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(lo < -0.49 && hi > 0.49, "{lo} {hi}");
        let mean = t.data().iter().map(|&v| v as f64).sum::<f64>() / 1e4;
        // The mean of 1e4 draws of U(-0.5, 0.5) has standard deviation 0.29 / 100.
        assert!(mean.abs() < 0.015, "{mean}");
    }
}
