//! A stochastic layer: it owns a seeded generator and shows it to visitors, so that a
//! checkpoint saves it and a resumed run draws the same numbers.

use tapegrad::core::{Tape, Var};
use tapegrad::layers::{normal, seeded_rng, Mode, Module, Path, Rng, Visitor, VisitorMut};

/// Adds `N(0, std^2)` noise to every element in `Mode::Train`; the identity in `Mode::Eval`
/// (Keras' `GaussianNoise`, a regulariser).
///
/// The noise enters the tape as a constant added to `x`, so the layer needs no op of its
/// own (`dx = dy`). Its generator is named `rng` in checkpoints, as Dropout's.
///
/// ```
/// use tapegrad::prelude::*;
/// use tapegrad_extending_example::GaussianNoise;
///
/// let mut noise = GaussianNoise::new(0.1, 7);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::zeros(vec![1000]));
/// let y = noise.forward(&mut tape, x, Mode::Train);
/// let mean = tape.value(y).data().iter().sum::<f32>() / 1000.0;
/// assert!(mean.abs() < 0.02); // 6 standard deviations of the mean (0.1 / sqrt(1000))
/// assert_eq!(noise.forward(&mut tape, x, Mode::Eval), x);
/// ```
#[derive(Clone, Debug)]
pub struct GaussianNoise {
    std: f32,
    rng: Rng,
}

impl GaussianNoise {
    /// A layer adding noise of standard deviation `std`, drawn from the generator of `seed`.
    ///
    /// Panics unless `std` is finite and `>= 0`.
    pub fn new(std: f32, seed: u64) -> Self {
        assert!(
            std >= 0.0 && std.is_finite(),
            "GaussianNoise: std must be finite and >= 0, got {std}"
        );
        GaussianNoise {
            std,
            rng: seeded_rng(seed),
        }
    }

    /// The standard deviation of the noise.
    pub fn std(&self) -> f32 {
        self.std
    }
}

impl Module for GaussianNoise {
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        if mode == Mode::Eval || self.std == 0.0 {
            return x; // no op recorded, no number drawn
        }
        let shape = tape.shape(x).to_vec();
        let noise = tape.constant(normal(&shape, 0.0, self.std, &mut self.rng));
        tape.add(x, noise)
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        visitor.rng(path.name("rng"), &self.rng);
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        visitor.rng(path.name("rng"), &mut self.rng);
    }
}
