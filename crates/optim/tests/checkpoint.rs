//! Saving and loading optimizer state: a resumed run is bit-identical to an uninterrupted one.

use tapegrad_core::{Gradients, Param, Tensor};
use tapegrad_optim::{
    Adam, AdamConfig, Momentum, OptimError, Optimizer, OptimizerExt, OptimizerState, Sgd,
    SgdConfig, WeightDecay,
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
fn run(optimizer: &mut dyn Optimizer, params: &mut [Param; 2], steps: std::ops::Range<usize>) {
    for step in steps {
        optimizer.set_lr(0.1 / (1.0 + step as f64));
        let tensor = |v: Vec<f32>| Tensor::from_vec(vec![v.len()], v);
        let g0 = tensor(grad(step, params[0].value().numel(), 0.0));
        let g1 = tensor(grad(step, params[1].value().numel(), 2.0));
        let mut grads = vec![(params[0].id(), g0)];
        if step % 3 != 2 {
            grads.push((params[1].id(), g1));
        }
        // Every other step gives the parameters in the other order: the state follows ids.
        let [p0, p1] = params;
        let order = if step % 2 == 0 { [p0, p1] } else { [p1, p0] };
        optimizer
            .step(order, &Gradients::from_params(grads))
            .unwrap();
    }
}

fn params_of(values: [Vec<f32>; 2]) -> [Param; 2] {
    values.map(|v| Param::new(Tensor::from_vec(vec![v.len()], v)))
}

fn initial() -> [Param; 2] {
    params_of([vec![0.4, -1.2, 0.05, 2.0], vec![-0.6, 0.9, 0.0]])
}

fn values(params: &[Param; 2]) -> Vec<Vec<f32>> {
    params.iter().map(|p| p.value().data().to_vec()).collect()
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
            // Saved by name, as a file must (an id means nothing to another process), and
            // loaded into fresh parameters with the same values, as a resumed process has.
            let names = [params[0].id(), params[1].id()];
            let saved = (first_half.state())
                .map_keys(|id| {
                    Ok::<_, ()>(format!("p{}", names.iter().position(|&n| n == id).unwrap()))
                })
                .unwrap();
            let loaded: OptimizerState<String> = match format {
                "json" => serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap(),
                _ => {
                    let config = bincode::config::standard();
                    let bytes = bincode::serde::encode_to_vec(&saved, config).unwrap();
                    bincode::serde::decode_from_slice(&bytes, config).unwrap().0
                }
            };
            assert_eq!(loaded, saved, "{kind} via {format}");
            let mut params = params_of([0, 1].map(|i| params[i].value().data().to_vec()));
            let ids = [params[0].id(), params[1].id()];
            let loaded = loaded
                .map_keys(|name| Ok::<_, ()>(ids[if name == "p0" { 0 } else { 1 }]))
                .unwrap();
            let mut resumed = loaded.restore().unwrap();
            run(resumed.as_mut(), &mut params, 10..20);
            assert_eq!(values(&params), values(&expected), "{kind} via {format}");
        }

        // Loading into an optimizer built from the configuration gives the same result.
        let mut first_half = fresh.clone().restore().unwrap();
        let mut params = initial();
        run(first_half.as_mut(), &mut params, 0..10);
        let mut resumed = fresh.clone().restore().unwrap();
        resumed.load_state(first_half.state()).unwrap();
        run(resumed.as_mut(), &mut params, 10..20);
        assert_eq!(values(&params), values(&expected), "{kind} via load_state");
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
    let second = params[1].id();
    let at_second = good
        .params
        .iter()
        .position(|(id, _)| *id == second)
        .unwrap();

    // A state loaded for parameters of other sizes is refused at the step, naming the
    // parameter, with nothing updated.
    let mut small = params_of([vec![1.0_f32; 4], vec![1.0_f32; 2]]);
    let mut moved = good.clone();
    for (id, _) in &mut moved.params {
        *id = if *id == second {
            small[1].id()
        } else {
            small[0].id()
        };
    }
    let mut other = Adam::from_state(moved).unwrap();
    let grads = Gradients::from_params(
        small
            .iter()
            .map(|p| (p.id(), Tensor::zeros(vec![p.value().numel()]))),
    );
    let before = values(&small);
    assert_eq!(
        other.step(&mut small, &grads).unwrap_err(),
        OptimError::StateSize {
            param: small[1].id(),
            expected: 3,
            found: 2
        }
    );
    assert_eq!(values(&small), before);

    let mut broken = good.clone();
    broken.params[at_second].1.exp_avg_sq.pop();
    let err = Adam::from_state(broken).unwrap_err();
    assert!(
        matches!(err, OptimError::InvalidState { param, .. } if param == second),
        "{err}"
    );

    let mut broken = good.clone();
    broken.params[0].1.max_exp_avg_sq = None;
    let err = Adam::from_state(broken).unwrap_err().to_string();
    assert!(err.contains("max_exp_avg_sq"), "{err}");

    let mut broken = good;
    broken.config.eps = 0.0;
    assert!(Adam::from_state(broken).is_err());

    // A failed load changed nothing: the optimizer still continues as before.
    let before = adam.state();
    assert!(adam.load_state(sgd.state()).is_err());
    assert_eq!(adam.state(), before);
}
