//! Tests of BatchNorm: the layer, the fused op (against gradcheck and the composed
//! reference), the statistics, and thread-count independence. The PyTorch golden cases are
//! in `tests/golden_batchnorm.rs`.

use super::*;
use crate::{batch_norm_composed, seeded_rng, Activation, Linear, Mlp, ModuleExt, Sequential};
use tapegrad_core::gradcheck;
use tapegrad_kernels::assert_same_on_any_threads;

fn x(n: usize, c: usize) -> Tensor {
    Tensor::from_vec(
        vec![n, c],
        (0..n * c)
            .map(|i| (i as f32 * 0.77).sin() * 2.0 + 0.3)
            .collect(),
    )
}

fn forward(bn: &mut BatchNorm1d, x: Tensor, mode: Mode) -> Vec<f32> {
    let mut tape = Tape::new();
    let v = tape.constant(x);
    let y = bn.forward(&mut tape, v, mode);
    tape.value(y).data().to_vec()
}

#[test]
#[should_panic(
    expected = "BatchNorm1d(3): expected more than 1 value per channel when training, got input of shape [1, 3]"
)]
fn a_training_batch_of_one_panics_with_the_layer_and_the_shape() {
    forward(&mut BatchNorm1d::new(3), x(1, 3), Mode::Train);
}

#[test]
fn an_eval_batch_of_one_uses_the_running_statistics() {
    let mut bn = BatchNorm1d::new(3);
    forward(&mut bn, x(4, 3), Mode::Train);
    let y = forward(&mut bn, x(1, 3), Mode::Eval);
    assert!(y.iter().all(|v| v.is_finite()));
}

#[test]
#[should_panic(
    expected = "BatchNorm1d(3): expected more than 1 value per channel when training, got input of shape [1, 3]"
)]
fn without_running_statistics_eval_needs_a_batch_too() {
    let config = BatchNormConfig {
        track_running_stats: false,
        ..Default::default()
    };
    forward(
        &mut BatchNorm1d::with_config(3, config),
        x(1, 3),
        Mode::Eval,
    );
}

#[test]
#[should_panic(
    expected = "BatchNorm1d(3): expected an input of shape [batch, 3] or [batch, 3, length], got [4, 5]"
)]
fn a_wrong_feature_count_panics_with_both_shapes() {
    forward(&mut BatchNorm1d::new(3), x(4, 5), Mode::Train);
}

#[test]
#[should_panic(
    expected = "BatchNorm1d(3): expected an input of shape [batch, 3] or [batch, 3, length], got [12]"
)]
fn a_1d_input_panics_with_both_shapes() {
    forward(
        &mut BatchNorm1d::new(3),
        Tensor::zeros(vec![12]),
        Mode::Eval,
    );
}

#[test]
#[should_panic(expected = "BatchNorm1d(4): momentum must be in [0, 1], got 1.5")]
fn a_momentum_above_one_is_rejected() {
    BatchNorm1d::new(4).set_momentum(Some(1.5));
}

#[test]
fn names_follow_pytorch_and_depend_on_the_switches() {
    let names = |bn: &BatchNorm1d| {
        struct Names(Vec<String>);
        impl<'a> Visitor<'a> for Names {
            fn param(&mut self, path: Path<'_>, _: &'a Param) {
                self.0.push(path.to_string());
            }
            fn buffer(&mut self, path: Path<'_>, _: BufferRef<'a>) {
                self.0.push(path.to_string());
            }
        }
        let mut n = Names(Vec::new());
        bn.visit(Path::root(), &mut n);
        n.0
    };
    let full = [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ];
    assert_eq!(names(&BatchNorm1d::new(2)), full);
    let no_affine = BatchNormConfig {
        affine: false,
        ..Default::default()
    };
    assert_eq!(names(&BatchNorm1d::with_config(2, no_affine)), full[2..]);
    let no_stats = BatchNormConfig {
        track_running_stats: false,
        ..Default::default()
    };
    assert_eq!(names(&BatchNorm1d::with_config(2, no_stats)), full[..2]);
    let bn = BatchNorm1d::new(2);
    assert_eq!(bn.weight().unwrap().value().data(), &[1.0, 1.0]);
    assert_eq!(bn.bias().unwrap().value().data(), &[0.0, 0.0]);
    assert_eq!(bn.running_stats(), Some(&RunningStats::new(2)));
}

#[test]
fn without_running_statistics_eval_uses_the_batch() {
    let config = BatchNormConfig {
        track_running_stats: false,
        ..Default::default()
    };
    let mut bn = BatchNorm1d::with_config(3, config);
    assert_eq!(
        forward(&mut bn, x(6, 3), Mode::Eval),
        forward(&mut bn, x(6, 3), Mode::Train)
    );
    assert!(bn.running_stats().is_none());
}

#[test]
fn eval_uses_running_statistics_and_does_not_update_them() {
    let mut bn = BatchNorm1d::new(3);
    forward(&mut bn, x(5, 3), Mode::Train);
    let after_train = bn.running_stats().unwrap().clone();
    let y = forward(&mut bn, x(5, 3), Mode::Eval);
    assert_eq!(bn.running_stats().unwrap(), &after_train);
    for (r, row) in y.chunks(3).enumerate() {
        for (j, &got) in row.iter().enumerate() {
            let (m, v) = (after_train.mean.data()[j], after_train.var.data()[j]);
            let want = (x(5, 3).row(r)[j] - m) / (v + 1e-5).sqrt();
            assert!((got - want).abs() < 1e-5);
        }
    }
}

#[test]
fn training_under_no_grad_still_updates_the_running_statistics() {
    let mut bn = BatchNorm1d::new(3);
    let mut tape = Tape::new();
    tape.no_grad(|tape| {
        let v = tape.constant(x(4, 3));
        bn.forward(tape, v, Mode::Train)
    });
    assert_eq!(bn.running_stats().unwrap().num_batches_tracked, 1);
    assert_eq!(
        tape.num_recorded_ops(),
        0,
        "nothing recorded, no backward state"
    );
}

#[test]
fn momentum_none_averages_every_batch() {
    let config = BatchNormConfig {
        momentum: None,
        ..Default::default()
    };
    let mut bn = BatchNorm1d::with_config(3, config);
    let batches: Vec<Tensor> = (0..3).map(|k| x(4 + k, 3)).collect();
    for b in &batches {
        forward(&mut bn, b.clone(), Mode::Train);
    }
    let r = bn.running_stats().unwrap();
    for j in 0..3 {
        let mean: f64 = batches
            .iter()
            .map(|b| BatchStats::of(b).mean[j])
            .sum::<f64>()
            / 3.0;
        assert!((r.mean.data()[j] as f64 - mean).abs() < 1e-6);
    }
}

#[test]
fn gradcheck_through_the_layer_in_train_and_eval() {
    let input = x(5, 3);
    let trained = {
        let mut bn = BatchNorm1d::new(3);
        forward(&mut bn, x(7, 3), Mode::Train);
        bn
    };
    for mode in [Mode::Train, Mode::Eval] {
        gradcheck(std::slice::from_ref(&input), |tape, v| {
            trained.clone().forward(tape, v[0], mode)
        })
        .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    }
}

#[test]
fn eval_is_differentiable_wrt_the_parameters() {
    let mut bn = BatchNorm1d::new(3);
    forward(&mut bn, x(7, 3), Mode::Train);
    let mut tape = Tape::new();
    let v = tape.constant(x(5, 3));
    let y = bn.forward(&mut tape, v, Mode::Eval);
    let loss = tape.sum(y);
    let grads = tape.backward(loss);
    // d sum(y) / d beta = n per feature.
    assert_eq!(
        grads.param(bn.bias().unwrap()).unwrap().data(),
        &[5.0, 5.0, 5.0]
    );
    assert!(grads
        .param(bn.weight().unwrap())
        .unwrap()
        .data()
        .iter()
        .any(|&g| g != 0.0));
}

/// The classic bug of a fused op: it computes the right values but records no backward, so
/// nothing upstream learns. Here the Linear before the BatchNorm must get gradients, and
/// the same ones as through the composed BatchNorm.
#[test]
fn gradients_reach_a_linear_before_the_batch_norm() {
    let mut linear = Linear::new(4, 3, &mut seeded_rng(8));
    let mut bn = BatchNorm1d::new(3);
    bn.weight_mut()
        .unwrap()
        .value_mut()
        .data_mut()
        .copy_from_slice(&[1.5, 0.5, -1.0]);
    bn.bias_mut()
        .unwrap()
        .value_mut()
        .data_mut()
        .copy_from_slice(&[0.1, 0.2, 0.3]);
    let input = x(6, 4);
    let seed = Tensor::from_vec(
        vec![6, 3],
        (0..18).map(|i| (i as f32 * 1.7).cos()).collect(),
    );

    let grads_of = |fused: bool, linear: &mut Linear, bn: &mut BatchNorm1d| {
        let mut tape = Tape::new();
        let v = tape.constant(input.clone());
        let z = linear.forward(&mut tape, v, Mode::Train);
        let y = if fused {
            bn.forward(&mut tape, z, Mode::Train)
        } else {
            let g = tape.param(bn.weight().unwrap());
            let b = tape.param(bn.bias().unwrap());
            batch_norm_composed(&mut tape, z, g, b, 1e-5)
        };
        assert_eq!(tape.num_recorded_ops(), if fused { 2 } else { 10 });
        let grads = tape.backward_with(y, seed.clone());
        let params = linear.named_params().into_iter().chain(bn.named_params());
        params
            .map(|(name, p)| {
                (
                    name,
                    grads
                        .param(p)
                        .expect("every parameter gets a gradient")
                        .clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let fused = grads_of(true, &mut linear, &mut bn);
    let composed = grads_of(false, &mut linear, &mut bn);
    let dw = &fused[0].1;
    assert!(
        dw.data().iter().any(|g| g.abs() > 1e-3),
        "the Linear's weight gradient is zero: {dw:?}"
    );
    // The Linear's bias gradient is 0 up to rounding (a BatchNorm removes any per-feature
    // shift): each side leaves f32 noise of about 1e-6 there (six rows of a seed of about 1),
    // of either sign, hence a floor of 1e-5 under the tolerance.
    for ((name, f), (_, c)) in fused.iter().zip(&composed) {
        let scale = c.data().iter().map(|v| v.abs()).fold(0f32, f32::max);
        for (a, b) in f.data().iter().zip(c.data()) {
            assert!(
                (a - b).abs() <= 1e-4 * scale.max(0.1),
                "{name}: fused {a} vs composed {b}"
            );
        }
    }
}

/// A deterministic input of `n x c` values spread over about [-5, 5].
fn spread(n: usize, c: usize, seed: usize) -> Tensor {
    let data = (0..n * c)
        .map(|i| (((i + seed) * 7919) % 1013) as f32 / 101.0 - 5.0)
        .collect();
    Tensor::from_vec(vec![n, c], data)
}

#[test]
fn outputs_gradients_and_running_statistics_do_not_depend_on_the_thread_count() {
    // One chunk of rows (60 x 100), a few (128 x 512), many (600 x 1024, 4096 x 64), in
    // training with and without a fused ReLU, then in evaluation; on both thread backends.
    for (n, c) in [(60, 100), (128, 512), (600, 1024), (4096, 64)] {
        let (x, dy) = (spread(n, c, 0), spread(n, c, 5));
        let results = || {
            let mut results = Vec::new();
            for relu in [false, true] {
                let mut bn = BatchNorm1d::new(c);
                bn.fuse_activation(if relu {
                    Activation::Relu
                } else {
                    Activation::Tanh
                });
                for mode in [Mode::Train, Mode::Train, Mode::Eval] {
                    let mut tape = Tape::new();
                    let xv = tape.variable(x.clone());
                    let y = bn.forward(&mut tape, xv, mode);
                    results.push(tape.value(y).clone());
                    let grads = tape.backward_with(y, dy.clone());
                    results.push(grads.get(xv).unwrap().clone());
                    for p in [bn.weight().unwrap(), bn.bias().unwrap()] {
                        results.push(grads.param(p).unwrap().clone());
                    }
                    let running = bn.running_stats().unwrap();
                    results.extend([running.mean.clone(), running.var.clone()]);
                }
            }
            results
        };
        assert_same_on_any_threads(results);
    }
}

#[test]
fn a_nan_input_reaches_running_var_as_pytorch() {
    // No clamp of the variance at 0, which would turn the NaN into a 0.
    let mut data = x(4, 2).into_vec();
    data[2] = f32::NAN;
    let mut bn = BatchNorm1d::new(2);
    forward(&mut bn, Tensor::from_vec(vec![4, 2], data), Mode::Train);
    let r = bn.running_stats().unwrap();
    assert!(r.mean.data()[0].is_nan() && r.var.data()[0].is_nan());
    assert!(r.mean.data()[1].is_finite() && r.var.data()[1].is_finite());
}

/// The output, the gradient of every parameter for the output gradient `dy`, and the
/// number of ops on the tape, from `model` on `input` on a fresh tape.
fn outputs_and_grads(
    model: &mut Sequential,
    (input, dy): (&Tensor, &Tensor),
    mode: Mode,
) -> (Tensor, Vec<Tensor>, usize) {
    let mut tape = Tape::new();
    let v = tape.constant(input.clone());
    let y = model.forward(&mut tape, v, mode);
    let (out, ops) = (tape.value(y).clone(), tape.num_recorded_ops());
    let grads = tape.backward_with(y, dy.clone());
    let params = model.named_params().into_iter();
    let grads = params.map(|(_, p)| grads.param(p).unwrap().clone());
    (out, grads.collect(), ops)
}

#[test]
fn a_fused_sequential_gives_the_bits_names_and_statistics_of_the_unfused_one() {
    // Mlp::build fuses; a model built by hand with the same layers does not, until asked.
    for batch_norm in [true, false] {
        let mlp = Mlp::new(&[6, 16, 8, 3]).batch_norm(batch_norm).seed(3);
        let mut fused = mlp.build();
        let mut plain = Sequential::new();
        let mut rng = seeded_rng(3);
        for (i, (a, b)) in [(6, 16), (16, 8), (8, 3)].into_iter().enumerate() {
            plain.push(Linear::new(a, b, &mut rng));
            if i < 2 {
                if batch_norm {
                    plain.push(BatchNorm1d::new(b));
                }
                plain.push(Activation::Relu);
            }
        }
        assert_eq!(fused.state_dict_keys(), plain.state_dict_keys());
        let (input, dy) = (x(10, 6), x(10, 3));
        for mode in [Mode::Train, Mode::Train, Mode::Eval] {
            let f = outputs_and_grads(&mut fused, (&input, &dy), mode);
            let p = outputs_and_grads(&mut plain, (&input, &dy), mode);
            assert_eq!(
                (&f.0, &f.1),
                (&p.0, &p.1),
                "{mode:?}, batch norm {batch_norm}"
            );
            assert_eq!(f.2 + 2, p.2, "one op instead of two per pair");
            for i in [1, 4].into_iter().filter(|_| batch_norm) {
                let stats = |m: &Sequential| m.get_as::<BatchNorm1d>(i).unwrap().running.clone();
                assert_eq!(stats(&fused), stats(&plain));
            }
        }
        let report = plain.fuse();
        let layers: Vec<&str> = report.iter().map(|f| f.layer.as_str()).collect();
        let expected: &[&str] = if batch_norm { &["1", "4"] } else { &["0", "2"] };
        assert_eq!(layers, expected);
        assert!(plain.fuse().is_empty(), "nothing left to fuse");
        let ops = outputs_and_grads(&mut plain, (&input, &dy), Mode::Train).2;
        assert_eq!(
            ops,
            outputs_and_grads(&mut fused, (&input, &dy), Mode::Train).2
        );
    }
    // Only a ReLU fuses.
    let mut tanh = Mlp::new(&[6, 16, 3])
        .batch_norm(true)
        .activation(Activation::Tanh)
        .build();
    assert!(tanh.fuse().is_empty());
    assert_eq!(
        outputs_and_grads(&mut tanh, (&x(10, 6), &x(10, 3)), Mode::Train).2,
        4
    );
}

mod op {
    use super::*;
    use crate::batchnorm::op::apply;

    fn t(shape: &[usize], f: impl Fn(usize) -> f32) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_vec(shape.to_vec(), (0..n).map(f).collect())
    }

    fn inputs() -> [Tensor; 3] {
        [
            t(&[5, 3], |i| (i as f32 * 1.3).sin() * 1.5 + 0.2),
            t(&[3], |i| 0.7 + 0.4 * i as f32),
            t(&[3], |i| 0.1 * i as f32 - 0.2),
        ]
    }

    #[test]
    fn forward_normalises_each_feature() {
        let [x, gamma, beta] = inputs();
        let mut tape = Tape::new();
        let xv = tape.constant(x);
        let y = batch_norm_train(&mut tape, xv, None, 1e-5);
        let s = BatchStats::of(tape.value(y));
        for j in 0..3 {
            assert!(s.mean[j].abs() < 1e-6, "{s:?}");
            assert!((s.var[j] - 1.0).abs() < 1e-4, "{s:?}");
        }
        let (g, b) = (tape.constant(gamma.clone()), tape.constant(beta.clone()));
        let ya = batch_norm_train(&mut tape, xv, Some((g, b)), 1e-5);
        for (r, row) in tape.value(ya).data().chunks(3).enumerate() {
            for (j, &got) in row.iter().enumerate() {
                let want = gamma.data()[j] * tape.value(y).row(r)[j] + beta.data()[j];
                assert!((got - want).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn gradcheck_training_statistics_wrt_x_gamma_beta() {
        gradcheck(&inputs(), |tape, v| {
            batch_norm_train(tape, v[0], Some((v[1], v[2])), 1e-5)
        })
        .unwrap();
        let [x, ..] = inputs();
        gradcheck(&[x], |tape, v| batch_norm_train(tape, v[0], None, 1e-5)).unwrap();
    }

    #[test]
    fn gradcheck_fixed_statistics_wrt_x_gamma_beta() {
        let (mean, var) = ([0.3, -0.5, 1.0], [0.8, 2.0, 0.25]);
        gradcheck(&inputs(), |tape, v| {
            batch_norm_eval(tape, v[0], Some((v[1], v[2])), &mean, &var, 1e-5)
        })
        .unwrap();
    }

    /// The op, fused with a ReLU or followed by `Tape::relu`, on `x` with `gamma`, `beta`,
    /// batch statistics or fixed ones: the output and the gradients of `x`, `gamma` and
    /// `beta` for the output gradient `dr`.
    fn op_and_relu(fused: bool, batch: bool, [x, gamma, beta, dr]: [&Tensor; 4]) -> [Tensor; 4] {
        let c = gamma.numel();
        let op = if batch {
            BatchNormOp::with_batch_stats(&BatchStats::of(x), 1e-5)
        } else {
            let mean: Vec<f32> = (0..c).map(|j| (j % 3) as f32 * 0.2 - 0.2).collect();
            let var: Vec<f32> = (0..c).map(|j| 0.5 + (j % 4) as f32 * 0.3).collect();
            BatchNormOp::with_fixed_stats(&mean, &var, 1e-5)
        };
        let mut tape = Tape::new();
        let v = [x, gamma, beta].map(|t| tape.variable(t.clone()));
        let r = match fused {
            true => tape.apply(op.then_relu(), &v),
            false => {
                let y = tape.apply(op, &v);
                tape.relu(y)
            }
        };
        let out = tape.value(r).clone();
        let grads = tape.backward_with(r, dr.clone());
        let [dx, dg, db] = v.map(|v| grads.get(v).unwrap().clone());
        [out, dx, dg, db]
    }

    #[test]
    fn a_fused_relu_gives_the_bits_of_the_op_then_relu() {
        // Shapes through every loop: ragged rows in pairs (100), whole vectors (512), a
        // column strip per thread, several panels (300 x 400), merged panels and a second
        // sweep of the gradient sums (600 x 1100); betas that leave some features mostly
        // below zero, so that the gate closes for a good share of the elements.
        for (n, c) in [(5, 3), (60, 100), (128, 512), (300, 400), (600, 1100)] {
            let x = t(&[n, c], |i| ((i * 7919) % 1013) as f32 / 101.0 - 5.0);
            let dr = t(&[n, c], |i| ((i * 104_729) % 1009) as f32 / 500.0 - 1.0);
            let gamma = t(&[c], |i| 1.0 + (i % 7) as f32 * 0.1);
            let beta = t(&[c], |i| (i % 5) as f32 * 0.4 - 1.0);
            let inputs = [&x, &gamma, &beta, &dr];
            for batch in [true, false] {
                let plain = op_and_relu(false, batch, inputs);
                let closed = plain[0].data().iter().filter(|&&r| r == 0.0).count();
                assert!(
                    closed > n * c / 5 && closed < n * c * 4 / 5,
                    "{closed} of {n}x{c}"
                );
                for threads in [1, 2, 3] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let fused = pool.install(|| op_and_relu(true, batch, inputs));
                    let what = ["output", "dx", "dgamma", "dbeta"];
                    for ((a, b), what) in fused.iter().zip(&plain).zip(what) {
                        assert_eq!(a, b, "{what}, {n} x {c}, batch {batch}, {threads} threads");
                    }
                }
            }
        }
    }

    #[test]
    fn gradcheck_a_fused_relu_wrt_x_gamma_beta() {
        // Inputs whose outputs before the ReLU stay clear of 0 by more than gradcheck's
        // step moves them.
        let [x, gamma, _] = inputs();
        let beta = Tensor::from_vec(vec![3], vec![0.3, -0.25, 0.05]);
        gradcheck(&[x.clone(), gamma.clone(), beta.clone()], |tape, v| {
            let stats = BatchStats::of(tape.value(v[0]));
            let op = BatchNormOp::with_batch_stats(&stats, 1e-5).then_relu();
            apply(tape, op, v[0], Some((v[1], v[2])))
        })
        .unwrap();
        let stats = BatchStats::of(&x);
        let [mean, var] =
            [&stats.mean, &stats.var].map(|s| s.iter().map(|&v| v as f32).collect::<Vec<_>>());
        gradcheck(&[x, gamma, beta], |tape, v| {
            let op = BatchNormOp::with_fixed_stats(&mean, &var, 1e-5).then_relu();
            apply(tape, op, v[0], Some((v[1], v[2])))
        })
        .unwrap();
    }

    #[test]
    fn only_the_needed_gradients_are_computed() {
        let [x, gamma, beta] = inputs();
        let mut tape = Tape::new();
        let xv = tape.constant(x);
        let (g, b) = (tape.variable(gamma), tape.constant(beta));
        let y = batch_norm_train(&mut tape, xv, Some((g, b)), 1e-5);
        let loss = tape.sum(y);
        let grads = tape.backward(loss);
        assert!(grads.get(xv).is_none() && grads.get(b).is_none());
        // sum(y) = sum(gamma * x_hat) + n * beta, and each column of x_hat sums to 0.
        assert!(grads.get(g).unwrap().data().iter().all(|d| d.abs() < 1e-5));
    }

    #[test]
    fn inference_records_nothing() {
        let [x, ..] = inputs();
        // A variable, so that a recording tape would record the op.
        let mut tape = Tape::new();
        let xv = tape.variable(x);
        tape.no_grad(|tape| batch_norm_train(tape, xv, None, 1e-5));
        assert_eq!(tape.num_recorded_ops(), 0);
    }

    #[test]
    #[should_panic(expected = "batch_norm: inputs of shapes [[5, 4]] do not fit 3 features")]
    fn wrong_feature_count_panics_with_both_shapes() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![5, 4]));
        batch_norm_eval(&mut tape, x, None, &[0.0; 3], &[1.0; 3], 1e-5);
    }

    #[test]
    #[should_panic(
        expected = "batch_norm: inputs of shapes [[5, 3], [2], [3]] do not fit 3 features"
    )]
    fn wrong_parameter_shape_panics() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![5, 3]));
        let g = tape.constant(Tensor::zeros(vec![2]));
        let b = tape.constant(Tensor::zeros(vec![3]));
        batch_norm_eval(&mut tape, x, Some((g, b)), &[0.0; 3], &[1.0; 3], 1e-5);
    }

    #[test]
    #[should_panic(
        expected = "batch_norm: expected more than 1 value per channel when training, got input of shape [1, 3]"
    )]
    fn functional_batch_of_one_panics() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![1, 3]));
        batch_norm_train(&mut tape, x, None, 1e-5);
    }
}

mod reference {
    use super::*;
    use tapegrad_core::Gradients;
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

mod stats {
    use super::*;

    #[test]
    fn the_variance_of_a_large_mean_stays_exact() {
        // Mean 1e4, spread 1: E[x^2] - E[x]^2 in f32 would be dominated by rounding of 1e8.
        let data: Vec<f32> = (0..64).map(|i| 1e4 + (i % 4) as f32 - 1.5).collect();
        let s = BatchStats::of(&Tensor::from_vec(vec![64, 1], data));
        assert_eq!(s.mean, [1e4]);
        assert_eq!(s.var, [1.25]);
    }

    #[test]
    fn momentum_none_is_a_cumulative_average() {
        let mut r = RunningStats::new(1);
        let batches = [(1.0f32, 2.0f32), (3.0, 4.0), (8.0, 0.5)];
        for &(m, v) in &batches {
            r.update(
                &BatchStats {
                    n: 2,
                    mean: vec![m as f64],
                    var: vec![v as f64],
                },
                None,
            );
        }
        assert_eq!(r.num_batches_tracked, 3);
        assert!((r.mean.data()[0] - 4.0).abs() < 1e-6);
        // The average of the unbiased variances (2 * biased for n = 2): (4 + 8 + 1) / 3.
        assert!((r.var.data()[0] - 13.0 / 3.0).abs() < 1e-6);
        r.reset();
        assert_eq!(r, RunningStats::new(1));
    }

    #[test]
    fn momentum_update_uses_the_unbiased_variance() {
        let mut r = RunningStats::new(2);
        r.update(
            &BatchStats {
                n: 4,
                mean: vec![1.0, -2.0],
                var: vec![3.0, 0.0],
            },
            Some(0.1),
        );
        let expected_mean = [0.1, -0.2];
        let expected_var = [0.9 + 0.1 * 4.0, 0.9];
        for j in 0..2 {
            assert!((r.mean.data()[j] - expected_mean[j]).abs() < 1e-7);
            assert!((r.var.data()[j] - expected_var[j]).abs() < 1e-7);
        }
        assert_eq!(r.num_batches_tracked, 1);
    }

    #[test]
    #[should_panic(expected = "cannot update running statistics from 1 value(s) per feature")]
    fn a_batch_of_one_cannot_update() {
        RunningStats::new(1).update(
            &BatchStats {
                n: 1,
                mean: vec![0.0],
                var: vec![0.0],
            },
            None,
        );
    }
}

/// `fast.rs` against the plain row loops of `op.rs` and `stats.rs`, run a row at a time.
mod fast_against_plain {
    use super::super::{fast, op, BatchStats};
    use super::spread;
    use tapegrad_core::Tensor;

    fn bits<T: Copy + Into<f64>>(v: &[T]) -> Vec<u64> {
        v.iter().map(|&x| x.into().to_bits()).collect()
    }

    /// `x`, `dy`, and per-feature `mean`, `mean_lo`, `scale`, `beta` (a beta around 0, so
    /// that a fused ReLU's gate opens and closes) and three coefficients, for `n x c`.
    fn inputs(n: usize, c: usize) -> ([Vec<f32>; 2], [Vec<f32>; 7]) {
        let v = |seed| spread(n, c, seed).into_vec();
        let f = |seed, scale: f32| {
            spread(1, c, seed)
                .data()
                .iter()
                .map(|v| v * scale)
                .collect()
        };
        let features = [
            f(1, 1.0),
            f(2, 1e-7),
            f(6, 0.3),
            f(7, 0.5),
            f(3, 0.5),
            f(4, 0.1),
            f(5, 0.2),
        ];
        ([v(0), v(5)], features)
    }

    #[test]
    fn the_fast_loops_give_the_plain_loops_bits() {
        // Widths off the vector length, one row and many.
        for (n, c) in [(3, 5), (8, 1), (16, 100), (37, 513), (70, 9)] {
            let ([x, dy], features) = inputs(n, c);
            let rows = || x.chunks(c).zip(dy.chunks(c));
            let f = features.each_ref().map(|f| &f[..]);
            let forward = [f[0], f[1], f[2], f[3]];
            for relu in [false, true] {
                let (mut y_fast, mut y_plain) = (vec![0f32; n * c], vec![0f32; n * c]);
                fast::forward(&x, forward, 1, relu, &mut y_fast);
                for (x, y) in x.chunks(c).zip(y_plain.chunks_mut(c)) {
                    op::forward_row(x, forward, relu, y);
                }
                assert_eq!(
                    bits(&y_fast),
                    bits(&y_plain),
                    "{n}x{c} forward, relu {relu}"
                );

                let (mut s_fast, mut s_plain) = (vec![0f64; 2 * c], vec![0f64; 2 * c]);
                fast::sums([&x, &dy], forward, 1, relu, &mut s_fast);
                for (x, dy) in rows() {
                    op::sums_row([x, dy], forward, relu, &mut s_plain);
                }
                assert_eq!(
                    bits(&s_fast),
                    bits(&s_plain),
                    "{n}x{c} gradient sums, relu {relu}"
                );

                for batch in [false, true] {
                    let (mut d_fast, mut d_plain) = (vec![0f32; n * c], vec![0f32; n * c]);
                    fast::dx([&x, &dy], f, 1, (batch, relu), &mut d_fast);
                    for ((x, dy), d) in rows().zip(d_plain.chunks_mut(c)) {
                        op::dx_row([x, dy], f, (batch, relu), d);
                    }
                    assert_eq!(bits(&d_fast), bits(&d_plain), "{n}x{c} dx {batch} {relu}");
                }
            }
        }
    }

    /// The one-sweep statistics against the two passes, with a mean of 1e3, a first row 1e6
    /// away from the other values (the shift), a constant feature (variance exactly 0), and
    /// rows off the block of four: within `n (n + 1)` `f64` epsilons of the variance (and of
    /// the spread plus the mean, for the mean); a NaN or an infinity gets the two passes' bits.
    #[test]
    fn one_sweep_statistics_agree_with_two_passes() {
        for (n, c) in [(2, 3), (7, 5), (64, 33), (1000, 17), (4097, 4)] {
            let mut x = spread(n, c, 3).into_vec();
            x.chunks_mut(c).for_each(|row| {
                row[0] += 1e3;
                row[1] = 0.25;
            });
            x[2] = 1e6;
            let t = Tensor::from_vec(vec![n, c], x.clone());
            let (fast, plain) = (fast::statistics(&t), BatchStats::of(&t));
            assert_eq!((fast.n, fast.var[1]), (n, 0.0), "{n}x{c}");
            let tol = (n * (n + 1)) as f64 * f64::EPSILON;
            for j in 0..c {
                let (mean, var) = (plain.mean[j], plain.var[j]);
                let (dm, dv) = ((fast.mean[j] - mean).abs(), (fast.var[j] - var).abs());
                assert!(dm <= tol * (var.sqrt() + mean.abs()), "{n}x{c} mean {j}");
                assert!(dv <= tol * var, "{n}x{c} var {j}");
            }
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut x = x.clone();
                x[c * (n - 1)] = bad;
                let t = Tensor::from_vec(vec![n, c], x);
                let (fast, plain) = (fast::statistics(&t), BatchStats::of(&t));
                assert_eq!(bits(&fast.mean), bits(&plain.mean), "{n}x{c} {bad} mean");
                assert_eq!(bits(&fast.var), bits(&plain.var), "{n}x{c} {bad} var");
            }
        }
    }

    #[test]
    fn a_nan_reaches_the_fast_sums_of_its_feature_only() {
        let (n, c) = (20, 3);
        let ([mut x, dy], features) = inputs(n, c);
        x[4 * c + 1] = f32::NAN;
        let (mut shifted, mut sums) = (vec![0f64; 2 * c], vec![0f64; 2 * c]);
        fast::shifted_sums(&x, &[0.0; 3], 1, &mut shifted);
        let forward = [&features[0][..], &features[1], &features[2], &features[3]];
        fast::sums([&x, &dy], forward, 1, false, &mut sums);
        for s in [&shifted[..c], &shifted[c..], &sums[c..]] {
            assert!(
                s[1].is_nan() && s[0].is_finite() && s[2].is_finite(),
                "{s:?}"
            );
        }
    }
}

/// The errors `forward` panics with, as values: a training batch of one row (PyTorch's "more
/// than 1 value per channel"), an input of the wrong width; evaluation takes one row.
#[test]
fn try_forward_returns_what_forward_panics_with() {
    let mut bn = BatchNorm1d::new(3);
    let mut tape = Tape::new();
    let one_row = tape.constant(Tensor::zeros(vec![1, 3]));
    let err = bn.try_forward(&mut tape, one_row, Mode::Train).unwrap_err();
    assert_eq!(
        err.to_string(),
        "BatchNorm1d(3): expected more than 1 value per channel when training, got input of shape [1, 3]"
    );
    assert_eq!(
        bn.running_stats().unwrap().num_batches_tracked,
        0,
        "nothing updated"
    );
    let wide = tape.constant(Tensor::zeros(vec![4, 5]));
    let err = bn.try_forward(&mut tape, wide, Mode::Eval).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected an input of shape [batch, 3]"),
        "{err}"
    );
    let y = bn.try_forward(&mut tape, one_row, Mode::Eval).unwrap();
    assert_eq!(tape.shape(y), &[1, 3]);
}

/// eps = 0 divides a constant feature (a dead unit) by zero: refused, as PyTorch does.
#[test]
#[should_panic(expected = "BatchNorm1d(2): eps must be finite and > 0, got 0")]
fn eps_zero_is_refused() {
    BatchNorm1d::with_config(
        2,
        BatchNormConfig {
            eps: 0.0,
            ..Default::default()
        },
    );
}
