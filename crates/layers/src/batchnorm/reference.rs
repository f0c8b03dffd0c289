//! BatchNorm composed from the core's primitive ops: the reference the fused op is tested
//! against, and the baseline that shows what fusion buys.

use tapegrad_core::{Tape, Var};

/// Training-mode BatchNorm over `x: [n, c]` written with core ops only:
///
/// ```text
/// mean  = mean_axis(x, 0)                      [c]
/// xc    = x - mean                             [n, c]
/// var   = mean_axis(xc * xc, 0)                [c]   biased, two passes
/// x_hat = xc / sqrt(var + eps)
/// y     = x_hat * gamma + beta
/// ```
///
/// Eight ops, each saving its output for the backward, which replays a reduction, a
/// broadcast and a square per statistic over the whole activation; the fused
/// [`BatchNormOp`](crate::BatchNormOp) records one op and no per-element state. Autograd
/// derives the backward here, so the two agreeing checks the hand-written one.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{batch_norm_composed, batch_norm_train};
///
/// let mut tape = Tape::new();
/// let x = tape.variable(Tensor::from_vec(vec![3, 2], vec![1.0, 2.0, 3.0, 5.0, 2.0, -1.0]));
/// let g = tape.variable(Tensor::from_vec(vec![2], vec![1.5, 0.5]));
/// let b = tape.variable(Tensor::from_vec(vec![2], vec![0.1, -0.2]));
/// let composed = batch_norm_composed(&mut tape, x, g, b, 1e-5);
/// let fused = batch_norm_train(&mut tape, x, Some((g, b)), 1e-5);
/// for (c, f) in tape.value(composed).data().iter().zip(tape.value(fused).data()) {
///     assert!((c - f).abs() < 1e-5);
/// }
/// ```
pub fn batch_norm_composed(tape: &mut Tape, x: Var, gamma: Var, beta: Var, eps: f32) -> Var {
    let mean = tape.mean_axis(x, 0);
    let centred = tape.sub(x, mean);
    let squared = tape.mul(centred, centred);
    let var = tape.mean_axis(squared, 0);
    let var_eps = tape.add_scalar(var, eps);
    let std = tape.sqrt(var_eps);
    let x_hat = tape.div(centred, std);
    let scaled = tape.mul(x_hat, gamma);
    tape.add(scaled, beta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch_norm_train;
    use tapegrad_core::{Gradients, Tensor};
    use tapegrad_testutil::SplitMix64;

    /// A deterministic normal-ish sample (sum of uniforms from a splitmix64 stream).
    fn sample(n: usize, seed: u64) -> Vec<f32> {
        let mut stream = SplitMix64::new(seed);
        let mut uniform = move || (stream.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (0..n)
            .map(|_| (0..12).map(|_| uniform()).sum::<f32>() - 6.0)
            .collect()
    }

    /// `(y, dx, dgamma, dbeta)` of the fused or the composed version, seeded with `dy`.
    fn run(fused: bool, x: &Tensor, gamma: &Tensor, beta: &Tensor, dy: &Tensor) -> [Vec<f32>; 4] {
        let mut tape = Tape::new();
        let (xv, g, b) = (
            tape.variable(x.clone()),
            tape.variable(gamma.clone()),
            tape.variable(beta.clone()),
        );
        let y = if fused {
            batch_norm_train(&mut tape, xv, Some((g, b)), 1e-5)
        } else {
            batch_norm_composed(&mut tape, xv, g, b, 1e-5)
        };
        let out = tape.value(y).data().to_vec();
        let grads: Gradients = tape.backward_with(y, dy.clone());
        let get = |v| grads.get(v).unwrap().data().to_vec();
        [out, get(xv), get(g), get(b)]
    }

    /// `|a - b| <= rtol * (|b| + scale) + 1e-6`: relative to each quantity's typical size,
    /// so an element that is near 0 by cancellation is judged against the others; the
    /// absolute 1e-6 (against unit-scale `dy`) is for a whole tensor that is ~0, as `dx` of
    /// a batch of two rows (exactly 0 in exact arithmetic).
    fn assert_agree(what: &str, fused: &[f32], composed: &[f32], rtol: f32) {
        let scale = composed.iter().map(|v| v.abs()).sum::<f32>() / composed.len() as f32;
        for (i, (&f, &c)) in fused.iter().zip(composed).enumerate() {
            assert!(
                (f - c).abs() <= rtol * (c.abs() + scale) + 1e-6,
                "{what}[{i}]: fused {f} vs composed {c} (scale {scale})"
            );
        }
    }

    fn compare(x: Tensor, rtol: f32) {
        let c = x.shape()[1];
        let gamma = Tensor::from_vec(
            vec![c],
            sample(c, 2).iter().map(|v| 1.0 + 0.3 * v).collect(),
        );
        let beta = Tensor::from_vec(vec![c], sample(c, 3));
        let dy = Tensor::from_vec(x.shape().to_vec(), sample(x.numel(), 4));
        let fused = run(true, &x, &gamma, &beta, &dy);
        let composed = run(false, &x, &gamma, &beta, &dy);
        for (k, what) in ["y", "dx", "dgamma", "dbeta"].iter().enumerate() {
            assert_agree(what, &fused[k], &composed[k], rtol);
        }
    }

    #[test]
    fn fused_and_composed_agree_on_unit_scale_inputs() {
        for (n, c) in [(2, 3), (16, 8), (64, 33), (300, 130)] {
            compare(Tensor::from_vec(vec![n, c], sample(n * c, n as u64)), 1e-4);
        }
    }

    #[test]
    fn fused_and_composed_agree_on_a_feature_of_mean_1e3() {
        // Feature 0: mean 1e3, std 1; the others unit scale.
        let (n, c) = (32, 4);
        let data = sample(n * c, 9)
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % c == 0 { 1e3 + v } else { v })
            .collect();
        compare(Tensor::from_vec(vec![n, c], data), 1e-3);
    }
}
