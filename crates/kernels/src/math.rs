//! Element-wise functions written so that a loop over them vectorises: no branches, no
//! library calls (`libm`'s `expf` is scalar, one call per element).

use super::{for_each_chunk_mut, CHUNK};

/// `max(x, 0)` as PyTorch's `relu`: `0` for `x < 0`, `x` otherwise, so a NaN stays NaN
/// (`f32::max` would turn it into 0 and hide a training that diverged from the checks after
/// the activation) and `-0.0` stays `-0.0` (PyTorch's `clamp_min(x, 0)` keeps `x` unless it
/// is below 0). One function for every op that applies a ReLU, so that a fused op and the
/// plain `relu` give the same bits.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// The gradient through a ReLU whose input or output was `y`: `0` where `y <= 0` (its
/// derivative at 0 taken as 0), `g` elsewhere, a NaN included, as PyTorch's
/// `threshold_backward`.
#[inline(always)]
pub fn relu_backward(y: f32, g: f32) -> f32 {
    if y <= 0.0 {
        0.0
    } else {
        g
    }
}

/// `e^x` in `f32`, within 2 ulp of the exact value: Cephes' `expf` (range reduction by
/// `ln 2` in two parts, a degree-6 polynomial), with `+inf` above `ln(f32::MAX)` and `0`
/// below `ln(f32::MIN_POSITIVE)` (no subnormal results). Branch-free, so it vectorises.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts: n * LN2_HI is exact for the n that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAX: f32 = 88.722_84; // ln(f32::MAX)
    const MIN: f32 = -87.336_55; // ln(f32::MIN_POSITIVE)
                                 // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a library call.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(MIN, MAX);
    let shifted = clamped * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
    let e = (p * r * r + r) + 1.0;
    // n as an integer, read from the bits of `shifted` (whose ulp is 1): `n as i32` would be
    // a saturating conversion, which does not vectorise.
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // 2^n in two factors, each a normal number, since n reaches 128 and -126.
    let half = n >> 1;
    let scaled = e * pow2(half) * pow2(n.wrapping_sub(half));
    if x > MAX {
        f32::INFINITY
    } else if x < MIN {
        0.0
    } else {
        scaled
    }
}

/// `2^k` for `-126 <= k <= 127`, from its bits (any other `k` gives some finite value or
/// NaN, never a panic: `exp` only keeps the result for a NaN input, where it stays NaN).
#[inline(always)]
fn pow2(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32) << 23)
}

/// The logistic function `1 / (1 + e^-x)`: exactly 0 and 1 far out, never NaN for a finite
/// `x` (`e^-x` overflows to `+inf`, and `1 / inf = 0`).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

crate::multiversion! {
    fn sigmoid_serial(out: &mut [f32], a: &[f32]) {
        for (o, &x) in out.iter_mut().zip(a) {
            *o = sigmoid(x);
        }
    }
}

/// `out[i] = sigmoid(a[i])`, vectorised, in parallel chunks when large.
pub fn sigmoid_into(out: &mut [f32], a: &[f32]) {
    assert_eq!(out.len(), a.len(), "sigmoid_into: lengths differ");
    for_each_chunk_mut(out, CHUNK, |i, o| {
        sigmoid_serial(o, &a[i * CHUNK..][..o.len()])
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_the_exact_value() {
        let mut worst = 0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 * 1e-3 + 1e-4;
            let exact = (x as f64).exp();
            let ulp = (exact as f32).to_bits().abs_diff(exp(x).to_bits());
            worst = worst.max(ulp as f64);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(-100.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_is_exact_at_the_extremes_and_symmetric() {
        let x = [-200.0, -30.0, -1.5, 0.0, 0.7, 30.0, 200.0];
        let mut y = [0.0; 7];
        sigmoid_into(&mut y, &x);
        assert_eq!((y[0], y[3], y[6]), (0.0, 0.5, 1.0));
        for (&x, &y) in x.iter().zip(&y) {
            let exact = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!(
                (y as f64 - exact).abs() <= 2e-7 * exact.max(1e-30),
                "sigmoid({x}) = {y}"
            );
        }
    }
}
