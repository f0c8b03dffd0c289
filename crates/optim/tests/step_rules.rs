//! The rules around the update: skipped parameters, state kept by parameter id, mismatched
//! sizes, config validation.

use tapegrad_core::{Gradients, Param, Tensor};
use tapegrad_optim::{
    Adam, AdamConfig, Momentum, OptimError, Optimizer, OptimizerExt, Sgd, SgdConfig, WeightDecay,
};

/// A parameter holding `values`.
fn param(values: &[f32]) -> Param {
    Param::new(Tensor::from_vec(vec![values.len()], values.to_vec()))
}

/// One step over `params`, each with its gradient or none.
fn step(
    optimizer: &mut dyn Optimizer,
    params: Vec<(&mut Param, Option<&[f32]>)>,
) -> Result<(), OptimError> {
    let grads = Gradients::from_params(
        params
            .iter()
            .filter_map(|(p, g)| g.map(|g| (p.id(), Tensor::from_vec(vec![g.len()], g.to_vec())))),
    );
    optimizer.step(params.into_iter().map(|(p, _)| p), &grads)
}

fn values(p: &Param) -> Vec<f32> {
    p.value().data().to_vec()
}

/// A deterministic gradient sequence (no RNG dependency needed).
fn grad(step: usize, len: usize, salt: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((step * 7 + i * 3) as f32 * 0.37 + salt).sin())
        .collect()
}

fn optimizers() -> Vec<(&'static str, Box<dyn Optimizer>)> {
    vec![
        (
            "sgd nesterov + L2",
            Box::new(
                Sgd::new(SgdConfig {
                    lr: 0.1,
                    momentum: Some(Momentum::Nesterov(0.9)),
                    weight_decay: Some(WeightDecay::L2(0.01)),
                    ..SgdConfig::default()
                })
                .unwrap(),
            ),
        ),
        (
            "adam amsgrad",
            Box::new(
                Adam::new(AdamConfig {
                    lr: 0.05,
                    amsgrad: true,
                    ..AdamConfig::adam()
                })
                .unwrap(),
            ),
        ),
        (
            "adamw",
            Box::new(
                Adam::new(AdamConfig {
                    lr: 0.05,
                    ..AdamConfig::adamw()
                })
                .unwrap(),
            ),
        ),
    ]
}

/// A parameter skipped in some steps follows exactly the trajectory of the same parameter
/// optimized alone over only the steps where it had a gradient: its state is untouched and,
/// for Adam, its own step count (bias correction) does not advance.
#[test]
fn a_none_grad_skips_the_parameter_and_leaves_its_state_untouched() {
    let skipped_at = [2, 3, 6];
    for ((name, mut both), (_, mut alone)) in optimizers().into_iter().zip(optimizers()) {
        let mut a = param(&[0.5, -0.3, 0.8]);
        let mut b = param(&[1.0, -1.0]);
        let mut b_alone = param(&[1.0, -1.0]);
        for t in 0..10 {
            let ga = grad(t, 3, 0.0);
            let gb = grad(t, 2, 1.0);
            let skip = skipped_at.contains(&t);
            let before = values(&b);
            let gb_given = (!skip).then_some(gb.as_slice());
            step(both.as_mut(), vec![(&mut a, Some(&ga)), (&mut b, gb_given)]).unwrap();
            if skip {
                assert_eq!(
                    values(&b),
                    before,
                    "{name}: a skipped parameter must not move"
                );
            } else {
                step(alone.as_mut(), vec![(&mut b_alone, Some(&gb))]).unwrap();
            }
            assert_eq!(values(&b), values(&b_alone), "{name}: step {t}");
        }
    }
}

/// The state follows the parameter, not its position: a step over the parameters in another
/// order, or over some of them, gives each the update it would have had.
#[test]
fn the_state_is_kept_by_parameter_whatever_the_order() {
    for ((name, mut shuffled), (_, mut ordered)) in optimizers().into_iter().zip(optimizers()) {
        let (mut a, mut b) = (param(&[0.5, -0.3, 0.8]), param(&[1.0, -1.0]));
        let (mut a2, mut b2) = (param(&[0.5, -0.3, 0.8]), param(&[1.0, -1.0]));
        for t in 0..6 {
            let (ga, gb) = (grad(t, 3, 0.0), grad(t, 2, 1.0));
            let list = if t % 2 == 0 {
                vec![(&mut a, Some(&ga[..])), (&mut b, Some(&gb[..]))]
            } else {
                vec![(&mut b, Some(&gb[..])), (&mut a, Some(&ga[..]))]
            };
            step(shuffled.as_mut(), list).unwrap();
            step(
                ordered.as_mut(),
                vec![(&mut a2, Some(&ga[..])), (&mut b2, Some(&gb[..]))],
            )
            .unwrap();
            assert_eq!(
                (values(&a), values(&b)),
                (values(&a2), values(&b2)),
                "{name}"
            );
        }
    }
}

#[test]
fn a_size_mismatch_is_an_error_and_changes_nothing() {
    for (name, mut optimizer) in optimizers() {
        let mut a = param(&[0.5, -0.3, 0.8]);
        let mut b = param(&[1.0, -1.0]);
        let (ga, gb) = (grad(0, 3, 0.0), grad(0, 2, 1.0));
        step(
            optimizer.as_mut(),
            vec![(&mut a, Some(&ga)), (&mut b, Some(&gb))],
        )
        .unwrap();
        let state = optimizer.state();
        let (a0, b0) = (values(&a), values(&b));

        // The second parameter changed size under its id: the first must not be updated.
        *b.value_mut() = Tensor::zeros(vec![5]);
        let g5 = grad(0, 5, 1.0);
        let err = step(
            optimizer.as_mut(),
            vec![(&mut a, Some(&ga)), (&mut b, Some(&g5))],
        )
        .unwrap_err();
        assert_eq!(
            err,
            OptimError::StateSize {
                param: b.id(),
                expected: 2,
                found: 5
            },
            "{name}"
        );
        assert_eq!(values(&a), a0, "{name}");
        assert_eq!(values(&b), [0.0; 5], "{name}");
        *b.value_mut() = Tensor::from_vec(vec![2], b0.clone());

        // A gradient of the wrong size.
        let err = step(
            optimizer.as_mut(),
            vec![(&mut a, Some(&ga)), (&mut b, Some(&ga))],
        )
        .unwrap_err();
        assert_eq!(
            err,
            OptimError::GradSize {
                param: b.id(),
                value: 2,
                grad: 3
            },
            "{name}"
        );
        assert_eq!((values(&a), values(&b)), (a0.clone(), b0.clone()), "{name}");

        // The failed steps left the state as it was.
        assert_eq!(optimizer.state(), state, "{name}");
    }
}

#[test]
fn an_invalid_lr_set_between_steps_fails_the_next_step_cleanly() {
    for (name, mut optimizer) in optimizers() {
        let mut a = param(&[0.5]);
        optimizer.set_lr(-1.0);
        let err = step(optimizer.as_mut(), vec![(&mut a, Some(&[1.0]))]).unwrap_err();
        assert!(err.to_string().contains("lr"), "{name}: {err}");
        assert_eq!(values(&a), [0.5], "{name}");
        optimizer.set_lr(0.1);
        assert_eq!(optimizer.lr(), 0.1);
        step(optimizer.as_mut(), vec![(&mut a, Some(&[1.0]))]).unwrap();
        assert!(values(&a)[0] < 0.5, "{name}");
    }
}

#[test]
fn defaults_are_pytorchs() {
    assert_eq!(
        SgdConfig::default(),
        SgdConfig {
            lr: 1e-3,
            momentum: None,
            dampening: 0.0,
            weight_decay: None
        }
    );
    let adam = AdamConfig::default();
    assert_eq!(adam, AdamConfig::adam());
    assert_eq!((adam.lr, adam.betas, adam.eps), (1e-3, (0.9, 0.999), 1e-8));
    assert_eq!((adam.weight_decay, adam.amsgrad), (None, false));
    let adamw = AdamConfig::adamw();
    assert_eq!(adamw.weight_decay, Some(WeightDecay::Decoupled(1e-2)));
    assert_eq!(
        AdamConfig {
            weight_decay: None,
            ..adamw
        },
        adam
    );
}

#[test]
fn invalid_sgd_configs_are_rejected() {
    let base = SgdConfig::default();
    let cases = [
        (SgdConfig { lr: -0.1, ..base }, "invalid lr = -0.1"),
        (
            SgdConfig {
                lr: f64::NAN,
                ..base
            },
            "invalid lr",
        ),
        (
            SgdConfig {
                momentum: Some(Momentum::Classic(-0.5)),
                ..base
            },
            "invalid momentum",
        ),
        (
            SgdConfig {
                weight_decay: Some(WeightDecay::L2(-1e-4)),
                ..base
            },
            "invalid weight_decay",
        ),
        (
            SgdConfig {
                momentum: Some(Momentum::Nesterov(0.9)),
                dampening: 0.5,
                ..base
            },
            "Nesterov momentum requires",
        ),
        (
            SgdConfig {
                momentum: Some(Momentum::Nesterov(0.0)),
                ..base
            },
            "Nesterov momentum requires",
        ),
        (
            SgdConfig {
                dampening: f64::INFINITY,
                ..base
            },
            "invalid dampening",
        ),
    ];
    for (config, needle) in cases {
        let err = Sgd::new(config)
            .expect_err(&format!("{config:?}"))
            .to_string();
        assert!(err.contains(needle), "`{err}` should contain `{needle}`");
    }
    // Accepted as in PyTorch: dampening with classic momentum, momentum 0.
    Sgd::new(SgdConfig {
        momentum: Some(Momentum::Classic(0.9)),
        dampening: 0.5,
        ..base
    })
    .unwrap();
    Sgd::new(SgdConfig {
        momentum: Some(Momentum::Classic(0.0)),
        ..base
    })
    .unwrap();
}

#[test]
fn invalid_adam_configs_are_rejected() {
    let base = AdamConfig::adam();
    let cases = [
        (AdamConfig { lr: -1e-3, ..base }, "invalid lr"),
        (
            AdamConfig {
                betas: (1.0, 0.999),
                ..base
            },
            "invalid betas[0] = 1",
        ),
        (
            AdamConfig {
                betas: (0.9, -0.1),
                ..base
            },
            "invalid betas[1] = -0.1",
        ),
        (
            AdamConfig {
                betas: (f64::NAN, 0.999),
                ..base
            },
            "invalid betas[0]",
        ),
        (AdamConfig { eps: 0.0, ..base }, "invalid eps = 0"),
        (AdamConfig { eps: -1e-8, ..base }, "invalid eps"),
        (
            AdamConfig {
                weight_decay: Some(WeightDecay::Decoupled(-0.01)),
                ..base
            },
            "invalid weight_decay",
        ),
    ];
    for (config, needle) in cases {
        let err = Adam::new(config)
            .expect_err(&format!("{config:?}"))
            .to_string();
        assert!(err.contains(needle), "`{err}` should contain `{needle}`");
    }
}

/// Momentum 0 is no momentum (PyTorch keeps no buffer then), so `Classic(0.0)` and `None`
/// give the same trajectory, dampening or not.
#[test]
fn zero_momentum_is_plain_sgd() {
    let plain = SgdConfig {
        lr: 0.1,
        ..SgdConfig::default()
    };
    let zero = SgdConfig {
        momentum: Some(Momentum::Classic(0.0)),
        dampening: 0.5,
        ..plain
    };
    let (mut p1, mut p2) = (param(&[0.3, -0.7]), param(&[0.3, -0.7]));
    let (mut s1, mut s2) = (Sgd::new(plain).unwrap(), Sgd::new(zero).unwrap());
    for t in 0..5 {
        let g = grad(t, 2, 0.5);
        step(&mut s1, vec![(&mut p1, Some(&g))]).unwrap();
        step(&mut s2, vec![(&mut p2, Some(&g))]).unwrap();
    }
    assert_eq!(values(&p1), values(&p2));
}

/// SGD with decoupled decay: `p *= 1 - lr * wd`, then the plain step on the raw gradient.
#[test]
fn sgd_decoupled_decay_shrinks_the_parameter_before_the_step() {
    let config = SgdConfig {
        lr: 0.5,
        weight_decay: Some(WeightDecay::Decoupled(0.1)),
        ..SgdConfig::default()
    };
    let mut sgd = Sgd::new(config).unwrap();
    let mut p = param(&[2.0]);
    step(&mut sgd, vec![(&mut p, Some(&[1.0]))]).unwrap();
    assert_eq!(values(&p), [(2.0 * (1.0 - 0.5 * 0.1) - 0.5 * 1.0) as f32]);
}
