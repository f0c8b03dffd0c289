//! The rules around the update: skipped slots, mismatched slot lists, config validation.

use tapegrad_optim::{
    Adam, AdamConfig, Momentum, OptimError, Optimizer, ParamSlot, Sgd, SgdConfig, WeightDecay,
};

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

/// A slot skipped in some steps follows exactly the trajectory of the same parameter
/// optimized alone over only the steps where it had a gradient: its state is untouched and,
/// for Adam, its own step count (bias correction) does not advance.
#[test]
fn a_none_grad_skips_the_slot_and_leaves_its_state_untouched() {
    let skipped_at = [2, 3, 6];
    for ((name, mut both), (_, mut alone)) in optimizers().into_iter().zip(optimizers()) {
        let mut a = vec![0.5_f32, -0.3, 0.8];
        let mut b = vec![1.0_f32, -1.0];
        let mut b_alone = b.clone();
        for step in 0..10 {
            let ga = grad(step, a.len(), 0.0);
            let gb = grad(step, b.len(), 1.0);
            let skip = skipped_at.contains(&step);
            let before = b.clone();
            both.step(&mut [
                ParamSlot::new(&mut a, Some(&ga)),
                ParamSlot::new(&mut b, (!skip).then_some(gb.as_slice())),
            ])
            .unwrap();
            if skip {
                assert_eq!(b, before, "{name}: a skipped slot must not move");
            } else {
                alone
                    .step(&mut [ParamSlot::new(&mut b_alone, Some(&gb))])
                    .unwrap();
            }
            assert_eq!(b, b_alone, "{name}: step {step}");
        }
    }
}

#[test]
fn a_mismatched_slot_list_is_an_error_and_changes_nothing() {
    for (name, mut optimizer) in optimizers() {
        let mut a = vec![0.5_f32, -0.3, 0.8];
        let mut b = vec![1.0_f32, -1.0];
        let (ga, gb) = (grad(0, 3, 0.0), grad(0, 2, 1.0));
        optimizer
            .step(&mut [
                ParamSlot::new(&mut a, Some(&ga)),
                ParamSlot::new(&mut b, Some(&gb)),
            ])
            .unwrap();
        let state = optimizer.state();
        let (a0, b0) = (a.clone(), b.clone());

        // One slot too few.
        let err = optimizer
            .step(&mut [ParamSlot::new(&mut a, Some(&ga))])
            .unwrap_err();
        assert_eq!(
            err,
            OptimError::SlotCount {
                expected: 2,
                found: 1
            },
            "{name}"
        );
        assert_eq!(a, a0, "{name}");

        // The second parameter has the wrong size: the first must not have been updated.
        let mut wrong = vec![0.0_f32; 5];
        let g5 = grad(0, 5, 1.0);
        let err = optimizer
            .step(&mut [
                ParamSlot::new(&mut a, Some(&ga)),
                ParamSlot::new(&mut wrong, Some(&g5)),
            ])
            .unwrap_err();
        assert_eq!(
            err,
            OptimError::SlotSize {
                index: 1,
                expected: 2,
                found: 5
            },
            "{name}"
        );
        assert!(err.to_string().contains("slot 1"), "{name}: {err}");
        assert_eq!(a, a0, "{name}");
        assert_eq!(wrong, [0.0; 5], "{name}");

        // A gradient of the wrong size.
        let err = optimizer
            .step(&mut [
                ParamSlot::new(&mut a, Some(&ga)),
                ParamSlot::new(&mut b, Some(&ga)),
            ])
            .unwrap_err();
        assert_eq!(
            err,
            OptimError::GradSize {
                index: 1,
                value: 2,
                grad: 3
            },
            "{name}"
        );
        assert_eq!((&a, &b), (&a0, &b0), "{name}");

        // The failed steps left the state as it was.
        assert_eq!(optimizer.state(), state, "{name}");
    }
}

#[test]
fn an_invalid_lr_set_between_steps_fails_the_next_step_cleanly() {
    for (name, mut optimizer) in optimizers() {
        let mut a = vec![0.5_f32];
        optimizer.set_lr(-1.0);
        let err = optimizer
            .step(&mut [ParamSlot::new(&mut a, Some(&[1.0]))])
            .unwrap_err();
        assert!(err.to_string().contains("lr"), "{name}: {err}");
        assert_eq!(a, [0.5], "{name}");
        optimizer.set_lr(0.1);
        assert_eq!(optimizer.lr(), 0.1);
        optimizer
            .step(&mut [ParamSlot::new(&mut a, Some(&[1.0]))])
            .unwrap();
        assert!(a[0] < 0.5, "{name}");
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
    let (mut p1, mut p2) = (vec![0.3_f32, -0.7], vec![0.3_f32, -0.7]);
    let (mut s1, mut s2) = (Sgd::new(plain).unwrap(), Sgd::new(zero).unwrap());
    for step in 0..5 {
        let g = grad(step, 2, 0.5);
        s1.step(&mut [ParamSlot::new(&mut p1, Some(&g))]).unwrap();
        s2.step(&mut [ParamSlot::new(&mut p2, Some(&g))]).unwrap();
    }
    assert_eq!(p1, p2);
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
    let mut p = vec![2.0_f32];
    sgd.step(&mut [ParamSlot::new(&mut p, Some(&[1.0]))])
        .unwrap();
    assert_eq!(p, [(2.0 * (1.0 - 0.5 * 0.1) - 0.5 * 1.0) as f32]);
}
