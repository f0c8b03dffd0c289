//! BatchNorm composed from the core's primitive ops: the reference the fused op is tested
//! against, and the baseline that shows what fusion buys.

use tapegrad_core::{Tape, Var};

/// Training-mode BatchNorm over `x: [n, c]` written with core ops only (mean, centre,
/// biased variance around the mean, divide by `sqrt(var + eps)`, scale, shift): eight ops,
/// each keeping its output for the backward, which autograd derives. The fused
/// [`BatchNormOp`](crate::BatchNormOp) agreeing with it checks the hand-written backward.
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
