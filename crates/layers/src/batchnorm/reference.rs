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
