//! Seeded random initialisation: every random number in a model comes from a ChaCha8
//! generator built from a seed, so the same seed gives the same model on any platform.

use crate::Rng;
use rand::{Rng as _, SeedableRng};
use tapegrad_core::Tensor;

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
pub fn uniform(shape: &[usize], bound: f32, rng: &mut Rng) -> Tensor {
    let numel = shape.iter().product();
    let data = (0..numel)
        .map(|_| {
            if bound > 0.0 {
                rng.random_range(-bound..bound)
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(shape.to_vec(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

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
