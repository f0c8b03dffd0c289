//! `BatchNorm2d`, and `BatchNorm1d` on `[N, C, L]`: the planes of a feature give what
//! `BatchNorm1d` gives on the same values laid out as rows `[N * H * W, C]` (another loop
//! over memory, the same statistics); gradcheck through the layer; the same bits on any
//! thread count; the shapes PyTorch accepts and refuses. PyTorch's own values are in
//! `golden_batchnorm2d.rs`.

use tapegrad_core::{gradcheck, Tape, Tensor};
use tapegrad_kernels::assert_same_on_any_threads;
use tapegrad_layers::{
    Activation, BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormConfig, Mode, Module,
};

/// Deterministic values of `shape`, spread over about [-3, 5].
fn values(shape: &[usize], seed: usize) -> Tensor {
    let n = shape.iter().product::<usize>();
    let data = (0..n)
        .map(|i| ((((i + seed) * 7919) % 1013) as f32 / 127.0 - 3.0) + (i % 5) as f32 * 0.1)
        .collect();
    Tensor::from_vec(shape.to_vec(), data)
}

/// `[n, c, s]` as rows `[n * s, c]`, and back with `back`.
fn to_rows(x: &Tensor) -> Tensor {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let s = x.numel() / (n * c);
    let mut rows = vec![0f32; x.numel()];
    for (i, &v) in x.data().iter().enumerate() {
        let (image, j, k) = (i / (c * s), i / s % c, i % s);
        rows[(image * s + k) * c + j] = v;
    }
    Tensor::from_vec(vec![n * s, c], rows)
}

fn back(rows: &Tensor, shape: &[usize]) -> Vec<f32> {
    let (n, c) = (shape[0], shape[1]);
    let s = rows.numel() / (n * c);
    (0..rows.numel())
        .map(|i| rows.data()[((i / (c * s)) * s + i % s) * c + i / s % c])
        .collect()
}

/// Output, input gradient, gamma's and beta's gradients, running mean and variance after a
/// training pass, then the evaluation output, of `bn` on `x` with upstream gradient `dy`.
fn pass<const D: usize>(bn: &mut BatchNorm<D>, x: &Tensor, dy: &Tensor) -> [Tensor; 7] {
    let mut tape = Tape::new();
    let xv = tape.variable(x.clone());
    let y = bn.forward(&mut tape, xv, Mode::Train);
    let out = tape.value(y).clone();
    let grads = tape.backward_with(y, dy.clone());
    let param = |p: Option<&tapegrad_core::Param>| grads.param(p.unwrap()).unwrap().clone();
    let (dgamma, dbeta) = (param(bn.weight()), param(bn.bias()));
    let dx = grads.get(xv).unwrap().clone();
    let running = bn.running_stats().unwrap().clone();
    let mut tape = Tape::new();
    let xc = tape.constant(x.clone());
    let y = bn.forward(&mut tape, xc, Mode::Eval);
    let eval = tape.value(y).clone();
    [out, dx, dgamma, dbeta, running.mean, running.var, eval]
}

fn assert_near(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
        assert!(
            (a - b).abs() <= 2e-5 * (1.0 + a.abs().max(b.abs())),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

#[test]
fn the_planes_of_a_feature_give_batch_norm_1d_on_the_same_values_as_rows() {
    // Planes shorter and longer than a vector, one image and several, a ReLU fused or not.
    for shape in [[4, 3, 5, 6], [1, 2, 3, 3], [9, 5, 1, 7], [64, 4, 12, 12]] {
        for relu in [false, true] {
            let (x, dy) = (values(&shape, 1), values(&shape, 7));
            let mut bn2 = BatchNorm2d::new(shape[1]);
            let mut bn1 = BatchNorm1d::new(shape[1]);
            if relu {
                bn2.fuse_activation(Activation::Relu);
                bn1.fuse_activation(Activation::Relu);
            }
            let planes = pass(&mut bn2, &x, &dy);
            let rows = pass(&mut bn1, &to_rows(&x), &to_rows(&dy));
            let what = |w: &str| format!("{shape:?} relu {relu}: {w}");
            for (k, w) in [(0, "y"), (1, "dx"), (6, "eval")] {
                assert_near(&what(w), planes[k].data(), &back(&rows[k], &shape));
            }
            for (k, w) in [(2, "dgamma"), (3, "dbeta"), (4, "mean"), (5, "var")] {
                assert_near(&what(w), planes[k].data(), rows[k].data());
            }
        }
    }
}

#[test]
fn batch_norm_1d_takes_n_c_l_as_batch_norm_2d_takes_n_c_l_1() {
    let (x, dy) = (values(&[3, 4, 5], 2), values(&[3, 4, 5], 3));
    let as_image = |t: &Tensor| Tensor::from_vec(vec![3, 4, 5, 1], t.data().to_vec());
    let sequence = pass(&mut BatchNorm1d::new(4), &x, &dy);
    let image = pass(&mut BatchNorm2d::new(4), &as_image(&x), &as_image(&dy));
    for (a, b) in sequence.iter().zip(&image) {
        assert_eq!(a.data(), b.data(), "the same op on the same memory");
    }
}

#[test]
fn gradcheck_through_batch_norm_2d_in_train_and_eval() {
    let input = values(&[2, 3, 3, 4], 4);
    let mut trained = BatchNorm2d::new(3);
    pass(
        &mut trained,
        &values(&[3, 3, 3, 4], 5),
        &values(&[3, 3, 3, 4], 6),
    );
    for mode in [Mode::Train, Mode::Eval] {
        gradcheck(std::slice::from_ref(&input), |tape, v| {
            trained.clone().forward(tape, v[0], mode)
        })
        .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    }
}

#[test]
fn batch_norm_2d_gives_the_same_bits_on_any_thread_count() {
    // The first convolution's output in the MNIST net, and an odd small shape.
    for shape in [[64, 32, 26, 26], [3, 5, 7, 7]] {
        let (x, dy) = (values(&shape, 0), values(&shape, 9));
        let results = || {
            let mut bn = BatchNorm2d::new(shape[1]);
            bn.fuse_activation(Activation::Relu);
            let first = pass(&mut bn, &x, &dy);
            let second = pass(&mut bn, &dy, &x);
            [first, second].concat()
        };
        assert_same_on_any_threads(results);
    }
}

#[test]
fn shapes_are_accepted_and_refused_as_pytorch() {
    let mut tape = Tape::new();
    let mut try_shape =
        |bn: &mut dyn FnMut(&mut Tape, tapegrad_core::Var) -> Result<(), String>,
         shape: &[usize]| {
            let x = tape.constant(values(shape, 0));
            bn(&mut tape, x)
        };
    let mut bn2 = BatchNorm2d::new(3);
    let mut train2 = |tape: &mut Tape, x| {
        (bn2.try_forward(tape, x, Mode::Train).map(|_| ())).map_err(|e| e.to_string())
    };
    // One image has 4 values per channel: training accepts it.
    assert_eq!(try_shape(&mut train2, &[1, 3, 2, 2]), Ok(()));
    assert_eq!(
        try_shape(&mut train2, &[1, 3, 1, 1]),
        Err(
            "BatchNorm2d(3): expected more than 1 value per channel when training, got input \
             of shape [1, 3, 1, 1]"
                .into()
        )
    );
    assert_eq!(
        try_shape(&mut train2, &[4, 3]),
        Err(
            "BatchNorm2d(3): expected an input of shape [batch, 3, height, width], got [4, 3]"
                .into()
        )
    );
    let mut bn1 = BatchNorm1d::new(3);
    let mut train1 = |tape: &mut Tape, x| {
        (bn1.try_forward(tape, x, Mode::Train).map(|_| ())).map_err(|e| e.to_string())
    };
    assert_eq!(try_shape(&mut train1, &[1, 3, 5]), Ok(()));
    assert_eq!(
        try_shape(&mut train1, &[2, 3, 4, 4]),
        Err(
            "BatchNorm1d(3): expected an input of shape [batch, 3] or [batch, 3, length], \
             got [2, 3, 4, 4]"
                .into()
        )
    );
}

#[test]
fn without_tracking_eval_normalises_with_the_batch_as_training_does() {
    let config = BatchNormConfig {
        track_running_stats: false,
        ..Default::default()
    };
    let mut bn = BatchNorm2d::with_config(2, config);
    let x = values(&[2, 2, 3, 3], 8);
    let mut tape = Tape::new();
    let xv = tape.constant(x);
    let train = bn.forward(&mut tape, xv, Mode::Train);
    let eval = bn.forward(&mut tape, xv, Mode::Eval);
    assert_eq!(tape.value(train).data(), tape.value(eval).data());
    assert!(bn.running_stats().is_none());
}
