//! The fused BatchNorm's output and gradients against the same formulas in `f64`, on `f32`
//! inputs: how much its `f32` arithmetic loses. `dgamma` and `dbeta` are sums over the
//! batch; the op adds their terms in `f64`, which keeps them within a few `f32` roundings
//! of exact however large the batch. (Adding every row in
//! `f32`, as PyTorch's CPU kernel does per thread, loses 4e-6 at 4096 rows and 1e-4 on a
//! feature of mean 100 here, which these bounds reject.)

use rand::Rng;
use rand_distr::StandardNormal;
use tapegrad_core::{Tape, Tensor};
use tapegrad_layers::{batch_norm_train, seeded_rng};

/// A deterministic standard normal sample (a seeded ChaCha8 generator).
fn normals(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = seeded_rng(seed);
    (0..len).map(|_| rng.sample(StandardNormal)).collect()
}

fn to_f32(values: impl IntoIterator<Item = f64>) -> Vec<f32> {
    values.into_iter().map(|v| v as f32).collect()
}

/// The largest error of `got` against `want`, over the mean magnitude of `want`.
fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().map(|w| w.abs()).sum::<f64>() / want.len() as f64;
    let worst = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max);
    worst / scale
}

/// `(y, dx, dgamma, dbeta)` of training-mode BatchNorm in `f64`, from the `f32` inputs.
fn reference(x: &[f32], dy: &[f32], affine: (&[f32], &[f32]), n: usize, eps: f32) -> [Vec<f64>; 4] {
    let (gamma, beta) = affine;
    let c = gamma.len();
    let (mut y, mut dx) = (vec![0.0; n * c], vec![0.0; n * c]);
    let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
    for j in 0..c {
        let column = |v: &[f32]| (0..n).map(|i| v[i * c + j] as f64).collect::<Vec<_>>();
        let (xs, gs) = (column(x), column(dy));
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        let invstd = 1.0 / (var + eps as f64).sqrt();
        let x_hat: Vec<f64> = xs.iter().map(|v| (v - mean) * invstd).collect();
        dbeta[j] = gs.iter().sum();
        dgamma[j] = gs.iter().zip(&x_hat).map(|(g, h)| g * h).sum();
        for i in 0..n {
            y[i * c + j] = gamma[j] as f64 * x_hat[i] + beta[j] as f64;
            let k = gamma[j] as f64 * invstd / n as f64;
            dx[i * c + j] = k * (n as f64 * gs[i] - dbeta[j] - x_hat[i] * dgamma[j]);
        }
    }
    [y, dx, dgamma, dbeta]
}

#[test]
fn output_and_gradients_stay_within_a_few_f32_roundings_of_f64() {
    // (rows, features, mean, spread of x)
    let cases = [
        (60, 100, 0.0, 1.0),
        (128, 512, 0.0, 1.0),
        (1024, 64, 5.0, 0.1),
        (4096, 32, 0.0, 1.0),
        (4096, 16, 100.0, 1.0),
    ];
    for (seed, &(n, c, mean, spread)) in cases.iter().enumerate() {
        let seed = 10 * seed as u64;
        let x = to_f32(normals(n * c, seed).into_iter().map(|v| mean + spread * v));
        let dy = to_f32(normals(n * c, seed + 1));
        let gamma = to_f32(normals(c, seed + 2).into_iter().map(|v| 1.0 + 0.2 * v));
        let beta = to_f32(normals(c, seed + 3).into_iter().map(|v| 0.1 * v));

        let mut tape = Tape::new();
        let xv = tape.variable(Tensor::from_vec(vec![n, c], x.clone()));
        let g = tape.variable(Tensor::from_vec(vec![c], gamma.clone()));
        let b = tape.variable(Tensor::from_vec(vec![c], beta.clone()));
        let y = batch_norm_train(&mut tape, xv, Some((g, b)), 1e-5);
        let grads = tape.backward_with(y, Tensor::from_vec(vec![n, c], dy.clone()));
        let gradients = [xv, g, b].map(|v| grads.get(v).unwrap().data().to_vec());
        let [dx, dgamma, dbeta] = gradients;
        let got = [tape.value(y).data().to_vec(), dx, dgamma, dbeta];

        let want = reference(&x, &dy, (&gamma, &beta), n, 1e-5);
        // PyTorch in float32: up to 7e-6 for y, 1e-4 for dx and 4e-6 for dgamma and dbeta on
        // these distributions.
        let bounds = [("y", 2e-6), ("dx", 3e-6), ("dgamma", 1e-6), ("dbeta", 1e-6)];
        for (k, (what, bound)) in bounds.into_iter().enumerate() {
            let error = relative_error(&got[k], &want[k]);
            assert!(
                error <= bound,
                "{n}x{c}, mean {mean}: {what} off by {error:.2e} of its mean magnitude (bound {bound:e})"
            );
        }
    }
}
