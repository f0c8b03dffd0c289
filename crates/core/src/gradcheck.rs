//! Finite-difference gradient checking, public so that users can check their own ops.

use crate::{Backward, Tape, Tensor, Var};

/// Settings of [`gradcheck_with`]. The defaults (`step 1e-2`, `rtol 1e-2`, `atol 1e-3`,
/// `seed 0x5eed`, what [`gradcheck()`] uses) suit `f32` ops on unit-scale inputs.
#[derive(Clone, Copy, Debug)]
pub struct GradcheckConfig {
    /// The finite-difference step `h` (central differences: `(f(x+h) - f(x-h)) / 2h`).
    /// Default `1e-2`.
    pub step: f64,
    /// Relative tolerance: an element passes if `|analytic - numeric| <= atol + rtol * |numeric|`.
    /// Default `1e-2`.
    pub rtol: f64,
    /// Absolute tolerance (see `rtol`). Default `1e-3`.
    pub atol: f64,
    /// Seed of the random projection that turns a non-scalar output into a scalar.
    /// Default `0x5eed` (24301).
    pub seed: u64,
}

impl Default for GradcheckConfig {
    /// `step 1e-2, rtol 1e-2, atol 1e-3, seed 0x5eed`: an `f32` forward carries about 7
    /// digits, so a step of 1e-2 keeps the rounding error of the difference near 1e-5
    /// relative, while the truncation error (`h^2 f'''/6`) stays below the tolerance for
    /// smooth ops.
    fn default() -> Self {
        GradcheckConfig {
            step: 1e-2,
            rtol: 1e-2,
            atol: 1e-3,
            seed: 0x5eed,
        }
    }
}

/// Where a gradient check failed.
///
/// `analytic` and `numeric` are derivatives of the projected scalar `sum(output * r)`, not
/// of the op itself, so the message leads with [`per_output`](Self::per_output): the
/// derivative of each output element by backward and by finite differences, and whether
/// the point may be a kink (the one-sided differences disagree), where no derivative exists
/// and a central difference measures neither side (PyTorch's `gradcheck` likewise reports
/// the numerical and analytical Jacobians, not a projection).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "gradcheck: d(output)/d(input {input})[{element}] disagrees: {}",
    describe(self)
)]
pub struct GradcheckError {
    /// Which input (its position in the `inputs` slice).
    pub input: usize,
    /// Which element of that input (row-major index).
    pub element: usize,
    /// The derivative of the projected output `sum(output * r)` by backward.
    pub analytic: f64,
    /// The same by central finite differences.
    pub numeric: f64,
    /// Per output element (the first [`REPORTED_OUTPUTS`] of them), the derivative with
    /// respect to the failing input element both ways, and the one-sided differences.
    pub per_output: Vec<OutputDerivative>,
    /// Whether the one-sided differences of some output element disagree: the input may sit
    /// on a kink (ReLU's 0), where the check cannot pass and the point should be moved.
    pub may_be_kink: bool,
}

/// How many output elements a [`GradcheckError`] reports (each costs a backward pass).
pub const REPORTED_OUTPUTS: usize = 256;

/// The derivative of one output element with respect to the failing input element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputDerivative {
    /// Which output element (row-major index).
    pub output: usize,
    /// `d output[output] / d input` by backward.
    pub analytic: f64,
    /// The same by central differences.
    pub numeric: f64,
    /// The backward one-sided difference `(f(x) - f(x - h)) / h`.
    pub left: f64,
    /// The forward one-sided difference `(f(x + h) - f(x)) / h`.
    pub right: f64,
}

impl OutputDerivative {
    /// Whether the one-sided differences disagree beyond the tolerances.
    fn is_kink(&self, config: &GradcheckConfig) -> bool {
        let scale = self.left.abs().max(self.right.abs());
        (self.left - self.right).abs() > config.atol + config.rtol * scale
    }
}

/// The body of a [`GradcheckError`]'s message.
fn describe(e: &GradcheckError) -> String {
    let shown: Vec<String> = e
        .per_output
        .iter()
        .filter(|d| d.analytic != d.numeric)
        .take(8)
        .map(|d| {
            format!(
                "output[{}] is {} by backward but {} by finite differences",
                d.output, d.analytic, d.numeric
            )
        })
        .collect();
    let mut text = if shown.is_empty() {
        format!(
            "the projected output's derivative is {} by backward but {} by finite differences",
            e.analytic, e.numeric
        )
    } else {
        shown.join("; ")
    };
    text += &format!(
        " (projected: {} vs {}, |diff| {:.3e})",
        e.analytic,
        e.numeric,
        (e.analytic - e.numeric).abs()
    );
    let jump = |d: &&OutputDerivative| (d.left - d.right).abs();
    let widest = e
        .per_output
        .iter()
        .max_by(|a, b| jump(a).total_cmp(&jump(b)));
    if let Some(d) = widest.filter(|_| e.may_be_kink) {
        text += &format!(
            "; the one-sided differences of output[{}] disagree ({} from the left, {} from the right): the point may be a kink, where no derivative exists; move the input away from it",
            d.output, d.left, d.right
        );
    }
    text
}

/// What a passing gradient check measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradcheckReport {
    /// How many input elements were perturbed.
    pub elements: usize,
    /// The largest `|analytic - numeric|` seen.
    pub max_abs_error: f64,
}

/// Checks the backward of `f` against central finite differences at `inputs`, with the
/// default [`GradcheckConfig`].
///
/// `f` builds the computation on a fresh tape from one handle per input. A non-scalar output
/// is reduced to `sum(output * r)` for a fixed random `r` (a vector-Jacobian product), and
/// that scalar is accumulated in `f64`.
///
/// To check an op of your own, apply it in `f` (`|tape, v| tape.apply(MyOp::new(), &[v[0], v[1]])`);
/// a layer's parameters are checked the same way, passed to its op as inputs here rather
/// than through [`Tape::param`](crate::Tape::param). Keep inputs away from kinks (ReLU's 0):
/// a difference straddling one measures neither side.
///
/// ```
/// use tapegrad_core::{gradcheck, Tensor};
/// let x = Tensor::from_vec(vec![2, 2], vec![0.3, -1.2, 0.7, 2.0]);
/// gradcheck(&[x], |tape, v| tape.tanh(v[0])).unwrap();
/// ```
pub fn gradcheck(
    inputs: &[Tensor],
    f: impl Fn(&mut Tape, &[Var]) -> Var,
) -> Result<GradcheckReport, GradcheckError> {
    gradcheck_with(GradcheckConfig::default(), inputs, f)
}

/// [`gradcheck`] with explicit settings.
pub fn gradcheck_with(
    config: GradcheckConfig,
    inputs: &[Tensor],
    f: impl Fn(&mut Tape, &[Var]) -> Var,
) -> Result<GradcheckReport, GradcheckError> {
    // The analytic side: one backward seeded with the projection.
    let mut tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|t| tape.variable(t.clone())).collect();
    let out = f(&mut tape, &vars);
    let projection = random_projection(tape.value(out).numel(), config.seed);
    let seed = Tensor::from_vec(tape.shape(out).to_vec(), projection.clone());
    let grads = tape.backward_with(out, Backward::seeded(seed));
    let analytic: Vec<Vec<f32>> = vars
        .iter()
        .zip(inputs)
        .map(|(&v, t)| match grads.get(v) {
            Some(g) => g.data().to_vec(),
            None => vec![0.0; t.numel()],
        })
        .collect();

    // The numeric side: perturb each element in turn.
    let projected = |inputs: &[Tensor]| -> f64 {
        let mut tape = Tape::new();
        let out = tape.no_grad(|tape| {
            let vars: Vec<Var> = inputs.iter().map(|t| tape.constant(t.clone())).collect();
            f(tape, &vars)
        });
        tape.value(out)
            .data()
            .iter()
            .zip(&projection)
            .map(|(&y, &r)| y as f64 * r as f64)
            .sum()
    };
    let mut work = inputs.to_vec();
    let mut report = GradcheckReport {
        elements: 0,
        max_abs_error: 0.0,
    };
    for (input, analytic) in analytic.iter().enumerate() {
        for (element, &analytic) in analytic.iter().enumerate() {
            let x = inputs[input].data()[element];
            let up = (x as f64 + config.step) as f32;
            let down = (x as f64 - config.step) as f32;
            work[input].data_mut()[element] = up;
            let f_up = projected(&work);
            work[input].data_mut()[element] = down;
            let f_down = projected(&work);
            work[input].data_mut()[element] = x;
            // Divide by the step actually taken in f32, not the nominal one.
            let numeric = (f_up - f_down) / (up as f64 - down as f64);
            let analytic = analytic as f64;
            let diff = (analytic - numeric).abs();
            report.elements += 1;
            report.max_abs_error = report.max_abs_error.max(diff);
            // Written so that a NaN on either side fails the check.
            let within = diff <= config.atol + config.rtol * numeric.abs();
            if !within {
                let per_output = per_output(inputs, &f, input, element, (up, down));
                let may_be_kink = per_output.iter().any(|d| d.is_kink(&config));
                return Err(GradcheckError {
                    input,
                    element,
                    analytic,
                    numeric,
                    per_output,
                    may_be_kink,
                });
            }
        }
    }
    Ok(report)
}

/// The derivative of each output element (up to [`REPORTED_OUTPUTS`]) with respect to
/// element `element` of input `input`, by backward (one pass per output, seeded with a
/// one-hot) and by central and one-sided differences at the steps `(up, down)` taken.
fn per_output(
    inputs: &[Tensor],
    f: &impl Fn(&mut Tape, &[Var]) -> Var,
    input: usize,
    element: usize,
    (up, down): (f32, f32),
) -> Vec<OutputDerivative> {
    let outputs = |x: f32| -> Vec<f32> {
        let mut work = inputs.to_vec();
        work[input].data_mut()[element] = x;
        let mut tape = Tape::new();
        let vars: Vec<Var> = work.into_iter().map(|t| tape.constant(t)).collect();
        let out = f(&mut tape, &vars);
        tape.value(out).data().to_vec()
    };
    let x = inputs[input].data()[element];
    let (y_up, y_mid, y_down) = (outputs(up), outputs(x), outputs(down));
    let (h_up, h_down) = (up as f64 - x as f64, x as f64 - down as f64);
    (0..y_mid.len().min(REPORTED_OUTPUTS))
        .map(|j| {
            let mut tape = Tape::new();
            let vars: Vec<Var> = inputs.iter().map(|t| tape.variable(t.clone())).collect();
            let out = f(&mut tape, &vars);
            let mut seed = Tensor::zeros(tape.shape(out).to_vec());
            seed.data_mut()[j] = 1.0;
            let grads = tape.backward_with(out, seed);
            let analytic = grads
                .get(vars[input])
                .map_or(0.0, |g| g.data()[element] as f64);
            let (u, m, d) = (y_up[j] as f64, y_mid[j] as f64, y_down[j] as f64);
            OutputDerivative {
                output: j,
                analytic,
                numeric: (u - d) / (h_up + h_down),
                left: (m - d) / h_down,
                right: (u - m) / h_up,
            }
        })
        .collect()
}

/// Deterministic values in `[-1, 1)` (splitmix64), so core needs no RNG dependency.
fn random_projection(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackwardCtx, ForwardCtx, Op};

    /// y = 2x with a deliberately wrong backward (gives 3).
    struct WrongDouble;
    impl Op for WrongDouble {
        fn name(&self) -> &'static str {
            "wrong_double"
        }
        fn forward(&mut self, ctx: &mut ForwardCtx<'_>) -> Tensor {
            let x = ctx.input(0).clone();
            let mut y = ctx.buffer(x.shape());
            y.data_mut()
                .iter_mut()
                .zip(x.data())
                .for_each(|(y, &x)| *y = 2.0 * x);
            y
        }
        fn backward(&self, ctx: &mut BackwardCtx<'_>) {
            let g = ctx.grad_output().clone();
            let mut dx = ctx.buffer(g.shape());
            dx.data_mut()
                .iter_mut()
                .zip(g.data())
                .for_each(|(d, &g)| *d = 3.0 * g);
            ctx.set_grad(0, dx);
        }
    }

    #[test]
    fn a_wrong_backward_is_caught_and_located() {
        let x = Tensor::from_vec(vec![3], vec![0.5, 1.0, -1.0]);
        let err = gradcheck(&[x], |t, v| t.apply(WrongDouble, &[v[0]])).unwrap_err();
        assert_eq!(err.input, 0);
        assert_eq!(err.element, 0);
        assert!(err.to_string().contains("by finite differences"), "{err}");
        // 2x is smooth: its one-sided differences agree, so no kink is suggested.
        assert_eq!(err.per_output[0].analytic, 3.0);
        assert!((err.per_output[0].numeric - 2.0).abs() < 1e-4);
        assert!(!err.may_be_kink, "{err}");
        assert!(!err.to_string().contains("kink"), "{err}");
    }

    #[test]
    fn a_failure_at_a_kink_reports_the_derivatives_and_suggests_the_kink() {
        // relu at 0: the derivative is 0 from the left and 1 from the right, the central
        // difference 0.5 and the backward 0 (PyTorch's convention). The report used to give
        // only projected numbers (derivative times a random weight), neither of which is
        // relu's derivative, and no hint that the point is a kink.
        let x = Tensor::from_vec(vec![2], vec![0.0, 1.0]);
        let err = gradcheck(&[x], |t, v| t.relu(v[0])).unwrap_err();
        assert_eq!((err.input, err.element), (0, 0));
        assert_eq!(err.per_output.len(), 2);
        let d = err.per_output[0];
        assert_eq!((d.output, d.analytic, d.numeric), (0, 0.0, 0.5));
        assert_eq!((d.left, d.right), (0.0, 1.0));
        assert_eq!(err.per_output[1].numeric, 0.0);
        assert!(err.may_be_kink);
        let text = err.to_string();
        assert!(
            text.contains("output[0] is 0 by backward but 0.5 by finite differences"),
            "{text}"
        );
        assert!(text.contains("may be a kink"), "{text}");
    }

    #[test]
    fn projection_is_deterministic_and_in_range() {
        let a = random_projection(1000, 7);
        assert_eq!(a, random_projection(1000, 7));
        assert!(a.iter().all(|&r| (-1.0..1.0).contains(&r)));
        assert_ne!(a, random_projection(1000, 8));
    }
}
