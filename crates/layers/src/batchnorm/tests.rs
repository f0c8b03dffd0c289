//! Tests of the `BatchNorm1d` layer (the op's own tests are in `op.rs`, the PyTorch golden
//! cases in `tests/golden_batchnorm.rs`).

use super::*;
use crate::{batch_norm_composed, seeded_rng, Linear, ModuleExt, Sequential};
use tapegrad_core::gradcheck;

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
#[should_panic(expected = "BatchNorm1d(3): expected an input of shape [batch, 3], got [4, 5]")]
fn a_wrong_feature_count_panics_with_both_shapes() {
    forward(&mut BatchNorm1d::new(3), x(4, 5), Mode::Train);
}

#[test]
#[should_panic(expected = "BatchNorm1d(3): expected an input of shape [batch, 3], got [12]")]
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
    // shift), hence the floor of the scale.
    for ((name, f), (_, c)) in fused.iter().zip(&composed) {
        let scale = c.data().iter().map(|v| v.abs()).fold(0f32, f32::max);
        for (a, b) in f.data().iter().zip(c.data()) {
            assert!(
                (a - b).abs() <= 1e-4 * scale.max(1e-2),
                "{name}: fused {a} vs composed {b}"
            );
        }
    }
}

/// The output, the gradient of every parameter for the output gradient `dy`, and the
/// number of ops on the tape, from `run` of `model` on `input` on a fresh tape.
fn outputs_and_grads(
    model: &mut Sequential,
    (input, dy): (&Tensor, &Tensor),
    run: impl FnOnce(&mut Sequential, &mut Tape, Var) -> Var,
) -> (Tensor, Vec<Tensor>, usize) {
    let mut tape = Tape::new();
    let v = tape.constant(input.clone());
    let y = run(model, &mut tape, v);
    let (out, ops) = (tape.value(y).clone(), tape.num_recorded_ops());
    let grads = tape.backward_with(y, dy.clone());
    let params = model.named_params().into_iter();
    (
        out,
        params
            .map(|(_, p)| grads.param(p).unwrap().clone())
            .collect(),
        ops,
    )
}

/// `model`'s layers run one by one, each through its own `forward`: no pair fused.
fn one_by_one(model: &mut Sequential, tape: &mut Tape, x: Var, mode: Mode) -> Var {
    model
        .iter_mut()
        .fold(x, |x, layer| layer.forward(tape, x, mode))
}

#[test]
fn sequential_fuses_linear_or_batch_norm_then_relu_with_the_same_numbers() {
    use crate::{Activation, Mlp};
    // Two pairs each: BatchNorm1d + ReLU with BatchNorm, Linear + ReLU without. The
    // chained model runs each layer's own forward.
    for batch_norm in [true, false] {
        let build = || {
            let mlp = Mlp::new(&[6, 16, 8, 3]).batch_norm(batch_norm);
            mlp.seed(3).build()
        };
        let (mut fused, mut chained) = (build(), build());
        let (input, dy) = (x(10, 6), x(10, 3));
        for mode in [Mode::Train, Mode::Train, Mode::Eval] {
            let f = outputs_and_grads(&mut fused, (&input, &dy), |m, tape, v| {
                m.forward(tape, v, mode)
            });
            let c = outputs_and_grads(&mut chained, (&input, &dy), |m, tape, v| {
                one_by_one(m, tape, v, mode)
            });
            assert_eq!((f.0, f.1), (c.0, c.1), "{mode:?}, batch norm {batch_norm}");
            assert_eq!(f.2 + 2, c.2, "one op instead of two per pair");
            for i in [1, 4].into_iter().filter(|_| batch_norm) {
                let stats = |m: &Sequential| m.get_as::<BatchNorm1d>(i).unwrap().running.clone();
                assert_eq!(stats(&fused), stats(&chained));
            }
        }
    }
    // Only a ReLU fuses.
    for batch_norm in [true, false] {
        let tanh = || {
            let mlp = Mlp::new(&[6, 16, 3]).batch_norm(batch_norm);
            mlp.activation(Activation::Tanh).build()
        };
        let ops = |run: &dyn Fn(&mut Sequential, &mut Tape, Var) -> Var| {
            outputs_and_grads(&mut tanh(), (&x(10, 6), &x(10, 3)), run).2
        };
        let whole = ops(&|m, tape, v| m.forward(tape, v, Mode::Train));
        let layers = ops(&|m, tape, v| one_by_one(m, tape, v, Mode::Train));
        assert_eq!(
            (whole, layers),
            (3 + batch_norm as usize, 3 + batch_norm as usize)
        );
    }
}
