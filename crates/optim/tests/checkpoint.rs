//! Saving and loading optimizer state: a resumed run is bit-identical to an uninterrupted one.

use tapegrad_optim::{
    Adam, AdamConfig, Momentum, OptimError, Optimizer, OptimizerState, ParamSlot, Sgd, SgdConfig,
    WeightDecay,
};

fn grad(step: usize, len: usize, salt: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((step * 5 + i * 11) as f32 * 0.29 + salt).cos())
        .collect()
}

fn configs() -> Vec<OptimizerState> {
    let sgd = |config| Sgd::new(config).unwrap().state();
    let adam = |config| Adam::new(config).unwrap().state();
    vec![
        sgd(SgdConfig {
            lr: 0.1,
            momentum: Some(Momentum::Classic(0.9)),
            dampening: 0.3,
            weight_decay: Some(WeightDecay::L2(1e-2)),
        }),
        sgd(SgdConfig {
            lr: 0.1,
            momentum: Some(Momentum::Nesterov(0.9)),
            ..SgdConfig::default()
        }),
        adam(AdamConfig {
            lr: 0.05,
            amsgrad: true,
            weight_decay: Some(WeightDecay::L2(1e-2)),
            ..AdamConfig::adam()
        }),
        adam(AdamConfig {
            lr: 0.05,
            ..AdamConfig::adamw()
        }),
    ]
}

/// Runs steps `steps` on two parameters (the second skipped every third step), changing the
/// lr each step as a schedule would.
fn run(optimizer: &mut dyn Optimizer, params: &mut [Vec<f32>; 2], steps: std::ops::Range<usize>) {
    for step in steps {
        optimizer.set_lr(0.1 / (1.0 + step as f64));
        let g0 = grad(step, params[0].len(), 0.0);
        let g1 = grad(step, params[1].len(), 2.0);
        let [p0, p1] = params;
        optimizer
            .step(&mut [
                ParamSlot::new(p0, Some(&g0)),
                ParamSlot::new(p1, (step % 3 != 2).then_some(g1.as_slice())),
            ])
            .unwrap();
    }
}

fn initial() -> [Vec<f32>; 2] {
    [vec![0.4, -1.2, 0.05, 2.0], vec![-0.6, 0.9, 0.0]]
}

#[test]
fn a_resumed_run_is_bit_identical_through_json_and_bincode() {
    for fresh in configs() {
        let kind = fresh.kind();
        let mut straight = fresh.clone().restore().unwrap();
        let mut expected = initial();
        run(straight.as_mut(), &mut expected, 0..20);

        for format in ["json", "bincode"] {
            let mut first_half = fresh.clone().restore().unwrap();
            let mut params = initial();
            run(first_half.as_mut(), &mut params, 0..10);
            let saved = first_half.state();
            let loaded: OptimizerState = match format {
                "json" => serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap(),
                _ => {
                    let config = bincode::config::standard();
                    let bytes = bincode::serde::encode_to_vec(&saved, config).unwrap();
                    bincode::serde::decode_from_slice(&bytes, config).unwrap().0
                }
            };
            assert_eq!(loaded, saved, "{kind} via {format}");
            let mut resumed = loaded.restore().unwrap();
            run(resumed.as_mut(), &mut params, 10..20);
            assert_eq!(params, expected, "{kind} via {format}");
        }

        // Loading into an optimizer built from the configuration gives the same result.
        let mut first_half = fresh.clone().restore().unwrap();
        let mut params = initial();
        run(first_half.as_mut(), &mut params, 0..10);
        let mut resumed = fresh.clone().restore().unwrap();
        resumed.load_state(first_half.state()).unwrap();
        run(resumed.as_mut(), &mut params, 10..20);
        assert_eq!(params, expected, "{kind} via load_state");
    }
}

#[test]
fn loading_checks_kind_layout_and_consistency() {
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    let adam_state = Adam::new(AdamConfig::adamw()).unwrap().state();
    assert_eq!(
        sgd.load_state(adam_state).unwrap_err(),
        OptimError::WrongKind {
            expected: "SGD",
            found: "Adam"
        }
    );

    // An optimizer that has stepped only accepts a state of the same layout.
    let mut adam = Adam::new(AdamConfig {
        amsgrad: true,
        ..AdamConfig::adam()
    })
    .unwrap();
    let mut params = initial();
    run(&mut adam, &mut params, 0..3);
    let OptimizerState::Adam(good) = adam.state() else {
        unreachable!()
    };

    let mut other_layout = Adam::new(AdamConfig::adam()).unwrap();
    let mut small = [vec![1.0_f32; 4], vec![1.0_f32; 2]];
    run(&mut other_layout, &mut small, 0..1);
    assert_eq!(
        other_layout
            .load_state(OptimizerState::Adam(good.clone()))
            .unwrap_err(),
        OptimError::SlotSize {
            index: 1,
            expected: 2,
            found: 3
        }
    );

    let mut broken = good.clone();
    broken.slots[1].exp_avg_sq.pop();
    let err = Adam::from_state(broken).unwrap_err();
    assert!(
        matches!(err, OptimError::InvalidState { index: 1, .. }),
        "{err}"
    );

    let mut broken = good.clone();
    broken.slots[0].max_exp_avg_sq = None;
    let err = Adam::from_state(broken).unwrap_err().to_string();
    assert!(
        err.contains("slot 0") && err.contains("max_exp_avg_sq"),
        "{err}"
    );

    let mut broken = good;
    broken.config.eps = 0.0;
    assert!(Adam::from_state(broken).is_err());

    // A failed load changed nothing: the optimizer still continues as before.
    let before = adam.state();
    assert!(adam.load_state(sgd.state()).is_err());
    assert_eq!(adam.state(), before);
}
