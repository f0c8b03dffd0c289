//! Seeded random initialisation: every random number in a model comes from a ChaCha8
//! generator built from a seed, so the same seed gives the same model on any platform.
//!
//! The initialisers mirror `torch.nn.init`, with the same formulas for the bounds, standard
//! deviations, fans and gains; each returns a new tensor of the given shape, its elements
//! drawn in row-major order (PyTorch's end in `_` and fill a tensor in place). Normal draws
//! come from `rand_distr`'s ziggurat sampler, so the bits differ from PyTorch's for the same
//! seed, while the distributions are the same.
//!
//! ```
//! use tapegrad_layers::{kaiming_normal, seeded_rng, FanMode, Kaiming, Nonlinearity};
//! // A ReLU layer's weight, `torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`.
//! let config = Kaiming { mode: FanMode::FanOut, nonlinearity: Nonlinearity::Relu, ..Kaiming::default() };
//! let w = kaiming_normal(&[256, 784], config, &mut seeded_rng(0));
//! assert_eq!(w.shape(), &[256, 784]);
//! ```

use crate::Rng;
use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, Normal};
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

/// A tensor of `shape` whose elements are drawn one after the other by `draw`; panics with
/// the [`AllocError`] message if it cannot be allocated.
fn drawn(shape: &[usize], draw: impl FnMut() -> f32) -> Tensor {
    try_drawn(shape, draw).unwrap_or_else(|e| panic!("{e}"))
}

/// [`drawn`] that returns an error instead when the tensor cannot be allocated (see
/// [`Tensor::try_zeros`]); nothing is drawn then.
fn try_drawn(shape: &[usize], mut draw: impl FnMut() -> f32) -> Result<Tensor, AllocError> {
    Tensor::try_from_fn(shape, |_| draw())
}

/// A tensor of `shape` with elements drawn from `U(a, b)` (`a` included, `b` excluded), as
/// `torch.nn.init.uniform_(tensor, a, b)`. `a == b` gives `a` everywhere and draws nothing.
///
/// Panics if `a > b` or either is not finite.
///
/// ```
/// use tapegrad_layers::{seeded_rng, uniform};
/// let t = uniform(&[2, 3], -0.1, 0.1, &mut seeded_rng(0));
/// assert!(t.data().iter().all(|&v| (-0.1..0.1).contains(&v)));
/// ```
pub fn uniform(shape: &[usize], a: f32, b: f32, rng: &mut Rng) -> Tensor {
    try_uniform(shape, a, b, rng).unwrap_or_else(|e| panic!("{e}"))
}

/// [`uniform`] that returns an error instead of aborting when the tensor cannot be allocated
/// (see [`Tensor::try_zeros`]); the generator is left untouched then.
///
/// Panics if `a > b` or either is not finite.
pub fn try_uniform(shape: &[usize], a: f32, b: f32, rng: &mut Rng) -> Result<Tensor, AllocError> {
    assert!(
        a <= b && a.is_finite() && b.is_finite(),
        "uniform: expects a finite range a <= b, got a={a}, b={b}"
    );
    if a == b {
        return try_drawn(shape, || a);
    }
    try_drawn(shape, || rng.random_range(a..b))
}

/// A tensor of `shape` with elements drawn from `N(mean, std^2)`, as
/// `torch.nn.init.normal_(tensor, mean, std)`: for instance a paper's "small random Gaussian"
/// weights, `normal(shape, 0.0, 0.01, rng)`.
///
/// Panics if `std` is negative or either argument is not finite.
///
/// ```
/// use tapegrad_layers::{normal, seeded_rng};
/// let t = normal(&[1000], 5.0, 0.01, &mut seeded_rng(0));
/// assert!(t.data().iter().all(|&v| (4.9..5.1).contains(&v)));
/// ```
pub fn normal(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Tensor {
    // Checked here: `rand_distr` takes a negative `std` as the mirrored distribution, where
    // PyTorch raises an error.
    let dist = Normal::new(mean, std)
        .ok()
        .filter(|_| mean.is_finite() && std >= 0.0);
    let dist = dist.unwrap_or_else(|| {
        panic!("normal: expects a finite mean and a finite std >= 0, got mean={mean}, std={std}")
    });
    drawn(shape, || dist.sample(rng))
}

/// A tensor of `shape` filled with `value`, as `torch.nn.init.constant_(tensor, value)`.
///
/// ```
/// use tapegrad_layers::constant;
/// assert_eq!(constant(&[2], 0.5).data(), &[0.5, 0.5]);
/// ```
pub fn constant(shape: &[usize], value: f32) -> Tensor {
    drawn(shape, || value)
}

/// `(fan_in, fan_out)` of a weight of `shape`, as PyTorch's
/// `torch.nn.init._calculate_fan_in_and_fan_out`: for a Linear weight `[out, in]`,
/// `(in, out)`; for a convolution's `[out, in, k...]`, both multiplied by the kernel's size
/// (the product of the `k`s).
///
/// Panics for fewer than 2 dimensions, where PyTorch raises an error too.
///
/// ```
/// use tapegrad_layers::fan_in_and_fan_out;
/// assert_eq!(fan_in_and_fan_out(&[256, 784]), (784, 256));
/// assert_eq!(fan_in_and_fan_out(&[16, 3, 5, 5]), (75, 400));
/// ```
pub fn fan_in_and_fan_out(shape: &[usize]) -> (usize, usize) {
    assert!(
        shape.len() >= 2,
        "fan in and fan out can not be computed for a tensor of fewer than 2 dimensions \
         (shape {shape:?})"
    );
    let receptive_field: usize = shape[2..].iter().product();
    (shape[1] * receptive_field, shape[0] * receptive_field)
}

/// The nonlinearity that follows a layer, for its init's gain ([`calculate_gain`]): PyTorch's
/// `nonlinearity` strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nonlinearity {
    /// `"linear"` (also what PyTorch gives for the `conv*` names): gain 1.
    Linear,
    /// `"sigmoid"`: gain 1.
    Sigmoid,
    /// `"tanh"`: gain 5/3.
    Tanh,
    /// `"relu"`: gain `sqrt(2)`.
    Relu,
    /// `"leaky_relu"`: gain `sqrt(2 / (1 + slope^2))`, the slope being the `param` of
    /// [`calculate_gain`] (the `a` of [`Kaiming`]).
    LeakyRelu,
}

/// The slope [`calculate_gain`] uses for a leaky ReLU when none is given: PyTorch's 0.01,
/// `nn.LeakyReLU`'s default `negative_slope`.
const DEFAULT_LEAKY_SLOPE: f32 = 0.01;

/// The recommended gain for a nonlinearity, as `torch.nn.init.calculate_gain(nonlinearity,
/// param)`: the factor that keeps the variance of activations steady through layers followed
/// by it. `param` is the negative slope of [`Nonlinearity::LeakyRelu`] (0.01 when `None`), and
/// is ignored for the others.
///
/// ```
/// use tapegrad_layers::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Relu, None), 2f32.sqrt());
/// assert_eq!(calculate_gain(Nonlinearity::Tanh, None), 5.0 / 3.0);
/// ```
pub fn calculate_gain(nonlinearity: Nonlinearity, param: Option<f32>) -> f32 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f32.sqrt(),
        Nonlinearity::LeakyRelu => {
            let slope = param.unwrap_or(DEFAULT_LEAKY_SLOPE);
            assert!(
                slope.is_finite(),
                "calculate_gain: slope {slope} is not finite"
            );
            (2.0 / (1.0 + slope * slope)).sqrt()
        }
    }
}

/// Which fan a Kaiming init keeps the variance for: PyTorch's `mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FanMode {
    /// `"fan_in"` (the default): the variance of the forward pass's activations.
    #[default]
    FanIn,
    /// `"fan_out"`: the variance of the backward pass's gradients.
    FanOut,
}

/// The arguments of [`kaiming_uniform`] and [`kaiming_normal`] after the tensor, with
/// PyTorch's defaults: `a = 0`, `mode = "fan_in"`, `nonlinearity = "leaky_relu"` (which with
/// `a = 0` is a ReLU's gain, `sqrt(2)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kaiming {
    /// The negative slope of the leaky ReLU that follows the layer; used by the gain only with
    /// [`Nonlinearity::LeakyRelu`].
    pub a: f32,
    /// The fan whose variance is kept.
    pub mode: FanMode,
    /// The nonlinearity whose gain ([`calculate_gain`]) scales the init.
    pub nonlinearity: Nonlinearity,
}

impl Default for Kaiming {
    fn default() -> Self {
        Kaiming {
            a: 0.0,
            mode: FanMode::FanIn,
            nonlinearity: Nonlinearity::LeakyRelu,
        }
    }
}

impl Kaiming {
    /// The standard deviation of the init for a weight of `shape`: `gain / sqrt(fan)`.
    fn std(&self, shape: &[usize]) -> f32 {
        let (fan_in, fan_out) = fan_in_and_fan_out(shape);
        let fan = match self.mode {
            FanMode::FanIn => fan_in,
            FanMode::FanOut => fan_out,
        };
        assert!(fan > 0, "kaiming init: a zero fan in shape {shape:?}");
        calculate_gain(self.nonlinearity, Some(self.a)) / (fan as f32).sqrt()
    }
}

/// He et al.'s init, `U(-bound, bound)` with `bound = gain * sqrt(3 / fan)`, as
/// `torch.nn.init.kaiming_uniform_(tensor, a, mode, nonlinearity)`.
///
/// Panics for fewer than 2 dimensions or a zero fan.
///
/// ```
/// use tapegrad_layers::{kaiming_uniform, seeded_rng, Kaiming};
/// let w = kaiming_uniform(&[10, 600], Kaiming::default(), &mut seeded_rng(0));
/// // gain sqrt(2), fan_in 600: bound sqrt(6 / 600) = 0.1.
/// assert!(w.data().iter().all(|&v| v.abs() <= 0.1));
/// ```
pub fn kaiming_uniform(shape: &[usize], config: Kaiming, rng: &mut Rng) -> Tensor {
    try_kaiming_uniform(shape, config, rng).unwrap_or_else(|e| panic!("{e}"))
}

/// [`kaiming_uniform`] that returns an error instead of aborting when the tensor cannot be
/// allocated (see [`Tensor::try_zeros`]); the generator is left untouched then.
///
/// Panics for fewer than 2 dimensions or a zero fan.
pub fn try_kaiming_uniform(
    shape: &[usize],
    config: Kaiming,
    rng: &mut Rng,
) -> Result<Tensor, AllocError> {
    let bound = 3f32.sqrt() * config.std(shape);
    try_uniform(shape, -bound, bound, rng)
}

/// He et al.'s init, `N(0, std^2)` with `std = gain / sqrt(fan)`, as
/// `torch.nn.init.kaiming_normal_(tensor, a, mode, nonlinearity)`.
///
/// Panics for fewer than 2 dimensions or a zero fan.
pub fn kaiming_normal(shape: &[usize], config: Kaiming, rng: &mut Rng) -> Tensor {
    normal(shape, 0.0, config.std(shape), rng)
}

/// The standard deviation of a Xavier init: `gain * sqrt(2 / (fan_in + fan_out))`.
fn xavier_std(shape: &[usize], gain: f32) -> f32 {
    let (fan_in, fan_out) = fan_in_and_fan_out(shape);
    assert!(
        fan_in + fan_out > 0,
        "xavier init: zero fans in shape {shape:?}"
    );
    gain * (2.0 / (fan_in + fan_out) as f32).sqrt()
}

/// Glorot and Bengio's init, `U(-bound, bound)` with
/// `bound = gain * sqrt(6 / (fan_in + fan_out))`, as
/// `torch.nn.init.xavier_uniform_(tensor, gain)`; `gain` is 1 in PyTorch by default.
///
/// Panics for fewer than 2 dimensions or zero fans.
///
/// ```
/// use tapegrad_layers::{seeded_rng, xavier_uniform};
/// let w = xavier_uniform(&[100, 500], 1.0, &mut seeded_rng(0));
/// assert!(w.data().iter().all(|&v| v.abs() <= 0.1)); // sqrt(6 / 600)
/// ```
pub fn xavier_uniform(shape: &[usize], gain: f32, rng: &mut Rng) -> Tensor {
    let bound = 3f32.sqrt() * xavier_std(shape, gain);
    uniform(shape, -bound, bound, rng)
}

/// Glorot and Bengio's init, `N(0, std^2)` with `std = gain * sqrt(2 / (fan_in + fan_out))`,
/// as `torch.nn.init.xavier_normal_(tensor, gain)`; `gain` is 1 in PyTorch by default.
///
/// Panics for fewer than 2 dimensions or zero fans.
pub fn xavier_normal(shape: &[usize], gain: f32, rng: &mut Rng) -> Tensor {
    normal(shape, 0.0, xavier_std(shape, gain), rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;

    /// `(min, max, mean, std)` of a tensor's elements.
    fn stats(t: &Tensor) -> (f64, f64, f64, f64) {
        let d = t.data();
        let n = d.len() as f64;
        let mean = d.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = d.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let (lo, hi) = d.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| {
            (lo.min(v as f64), hi.max(v as f64))
        });
        (lo, hi, mean, var.sqrt())
    }

    /// Checks that `t` fills `[-bound, bound)` evenly: within it, reaching near both ends,
    /// with a mean near 0.
    fn assert_fills_symmetric_range(t: &Tensor, bound: f64) {
        let (lo, hi, mean, std) = stats(t);
        assert!(lo >= -bound && hi < bound, "[{lo}, {hi}] outside +-{bound}");
        assert!(
            lo < -0.99 * bound && hi > 0.99 * bound,
            "[{lo}, {hi}] vs +-{bound}"
        );
        // 1e5 draws: the mean's standard error is bound / sqrt(3e5), under 0.002 * bound.
        assert!(mean.abs() < 0.01 * bound, "mean {mean} for bound {bound}");
        let expected = bound / 3f64.sqrt();
        assert!(
            (std / expected - 1.0).abs() < 0.02,
            "std {std}, expected {expected}"
        );
    }

    /// Checks the sample mean and standard deviation of `t` against `N(mean, std^2)`.
    fn assert_normal(t: &Tensor, mean: f64, std: f64) {
        let (_, _, m, s) = stats(t);
        // 1e5 draws: standard errors std / 316 for the mean, std / 447 for the std.
        assert!((m - mean).abs() < 0.015 * std, "mean {m}, expected {mean}");
        assert!((s / std - 1.0).abs() < 0.015, "std {s}, expected {std}");
    }

    #[test]
    fn uniform_stays_in_range_and_fills_it() {
        let t = uniform(&[100, 1000], -0.5, 0.5, &mut seeded_rng(1));
        assert_fills_symmetric_range(&t, 0.5);
        let shifted = uniform(&[1000], 2.0, 3.0, &mut seeded_rng(1));
        assert!(shifted.data().iter().all(|&v| (2.0..3.0).contains(&v)));
        assert_eq!(
            uniform(&[3], 1.5, 1.5, &mut seeded_rng(1)).data(),
            &[1.5; 3]
        );
        assert!(catch_unwind(|| uniform(&[3], 1.0, 0.0, &mut seeded_rng(1))).is_err());
    }

    #[test]
    fn uniform_draws_what_linear_has_always_drawn() {
        // Linear's weights, and the goldens made from them, are these draws in this order.
        let mut rng = seeded_rng(3);
        let expected: Vec<f32> = (0..12).map(|_| rng.random_range(-0.25f32..0.25)).collect();
        assert_eq!(
            uniform(&[4, 3], -0.25, 0.25, &mut seeded_rng(3)).data(),
            &expected
        );
    }

    #[test]
    fn normal_and_constant_have_the_asked_statistics() {
        let t = normal(&[100_000], 0.0, 0.01, &mut seeded_rng(2));
        assert_normal(&t, 0.0, 0.01);
        assert_normal(
            &normal(&[100_000], -3.0, 2.0, &mut seeded_rng(4)),
            -3.0,
            2.0,
        );
        assert_eq!(
            normal(&[2], 1.0, 0.0, &mut seeded_rng(2)).data(),
            &[1.0, 1.0]
        );
        assert!(catch_unwind(|| normal(&[2], 0.0, -1.0, &mut seeded_rng(2))).is_err());
        assert_eq!(constant(&[2, 2], -0.5).data(), &[-0.5; 4]);
        assert_eq!(constant(&[2, 2], -0.5).shape(), &[2, 2]);
    }

    #[test]
    fn fans_are_pytorchs() {
        assert_eq!(fan_in_and_fan_out(&[3, 4]), (4, 3));
        assert_eq!(fan_in_and_fan_out(&[8, 3, 5, 5]), (75, 200));
        assert_eq!(fan_in_and_fan_out(&[8, 3, 7]), (21, 56));
        assert!(catch_unwind(|| fan_in_and_fan_out(&[5])).is_err());
    }

    #[test]
    fn gains_are_pytorchs_formulas() {
        use Nonlinearity::*;
        assert_eq!(calculate_gain(Linear, None), 1.0);
        assert_eq!(calculate_gain(Sigmoid, Some(0.3)), 1.0);
        assert_eq!(calculate_gain(Tanh, None), 5.0 / 3.0);
        assert_eq!(calculate_gain(Relu, None), 2f32.sqrt());
        // PyTorch: math.sqrt(2.0 / (1 + negative_slope ** 2)), slope 0.01 by default.
        assert_eq!(calculate_gain(LeakyRelu, None), (2.0f32 / 1.0001).sqrt());
        assert_eq!(calculate_gain(LeakyRelu, Some(0.2)), (2.0f32 / 1.04).sqrt());
        assert_eq!(calculate_gain(LeakyRelu, Some(0.0)), 2f32.sqrt());
        // nn.Linear's own init is kaiming_uniform_ with a = sqrt(5): bound 1 / sqrt(fan_in).
        let gain = calculate_gain(LeakyRelu, Some(5f32.sqrt()));
        assert!((gain * 3f32.sqrt() - 1.0).abs() < 1e-6, "{gain}");
    }

    #[test]
    fn kaiming_uniform_bounds_follow_fan_mode_and_gain() {
        let shape = [250, 400];
        let mut rng = seeded_rng(5);
        let default = kaiming_uniform(&shape, Kaiming::default(), &mut rng);
        assert_fills_symmetric_range(&default, (6.0f64 / 400.0).sqrt());
        let tanh_out = Kaiming {
            mode: FanMode::FanOut,
            nonlinearity: Nonlinearity::Tanh,
            ..Kaiming::default()
        };
        let t = kaiming_uniform(&shape, tanh_out, &mut rng);
        let bound = 5.0 / 3.0 * (3.0f32 / 250.0).sqrt();
        assert_fills_symmetric_range(&t, bound as f64);
        let leaky = Kaiming {
            a: 0.2,
            ..Kaiming::default()
        };
        let t = kaiming_uniform(&[100, 8, 5, 5], leaky, &mut rng);
        let bound = (2.0f32 / 1.04).sqrt() * (3.0f32 / 200.0).sqrt();
        assert_fills_symmetric_range(&t, bound as f64);
    }

    #[test]
    fn kaiming_normal_has_he_et_als_std() {
        let relu_out = Kaiming {
            mode: FanMode::FanOut,
            nonlinearity: Nonlinearity::Relu,
            ..Kaiming::default()
        };
        let t = kaiming_normal(&[200, 500], relu_out, &mut seeded_rng(6));
        assert_normal(&t, 0.0, (2.0f64 / 200.0).sqrt());
        let t = kaiming_normal(&[400, 250], Kaiming::default(), &mut seeded_rng(7));
        assert_normal(&t, 0.0, (2.0f64 / 250.0).sqrt());
    }

    #[test]
    fn xavier_inits_have_glorot_and_bengios_scale() {
        let t = xavier_uniform(&[300, 500], 1.0, &mut seeded_rng(8));
        assert_fills_symmetric_range(&t, (6.0f64 / 800.0).sqrt());
        let gain = calculate_gain(Nonlinearity::Tanh, None);
        let t = xavier_normal(&[300, 500], gain, &mut seeded_rng(9));
        assert_normal(&t, 0.0, 5.0 / 3.0 * (2.0f64 / 800.0).sqrt());
    }

    #[test]
    fn a_seed_fixes_every_init() {
        type Init = fn(&mut Rng) -> Tensor;
        let inits: [Init; 6] = [
            |r| uniform(&[50, 40], -1.0, 2.0, r),
            |r| normal(&[50, 40], 0.0, 0.01, r),
            |r| kaiming_uniform(&[50, 40], Kaiming::default(), r),
            |r| kaiming_normal(&[50, 40], Kaiming::default(), r),
            |r| xavier_uniform(&[50, 40], 1.0, r),
            |r| xavier_normal(&[50, 40], 1.0, r),
        ];
        for (i, init) in inits.iter().enumerate() {
            let a = init(&mut seeded_rng(11));
            assert_eq!(a.data(), init(&mut seeded_rng(11)).data(), "init {i}");
            assert_ne!(a.data(), init(&mut seeded_rng(12)).data(), "init {i}");
        }
    }
    #[test]
    fn a_refused_shape_draws_nothing() {
        let mut rng = seeded_rng(2);
        assert!(try_uniform(&[1 << 40, 1 << 40], -0.1, 0.1, &mut rng).is_err());
        assert_eq!(rng, seeded_rng(2));
        assert_eq!(
            try_uniform(&[3, 4], -0.1, 0.1, &mut rng).unwrap(),
            uniform(&[3, 4], -0.1, 0.1, &mut seeded_rng(2))
        );
    }
}
