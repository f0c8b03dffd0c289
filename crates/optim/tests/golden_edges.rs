//! Optimizer edge cases: non-finite values through the update rules, as PyTorch 2.x float32
//! handles them.

use tapegrad_optim::{Adam, AdamConfig, Optimizer, OptimizerState, ParamSlot};

/// amsgrad's running maximum of `v` is `torch.maximum`, which propagates NaN: after a NaN
/// gradient PyTorch's `max_exp_avg_sq` is NaN. `f64::max` dropped the NaN and kept the old
/// maximum (0.001 here).
#[test]
fn amsgrad_running_maximum_keeps_a_nan_as_torch_maximum() {
    let mut adam = Adam::new(AdamConfig {
        amsgrad: true,
        ..AdamConfig::adam()
    })
    .unwrap();
    let mut w = vec![1.0_f32, 2.0];
    adam.step(&mut [ParamSlot::new(&mut w, Some(&[1.0, 1.0]))])
        .unwrap();
    adam.step(&mut [ParamSlot::new(&mut w, Some(&[f32::NAN, 1.0]))])
        .unwrap();
    let OptimizerState::Adam(state) = adam.state() else {
        panic!("not an Adam state");
    };
    let max = state.slots[0].max_exp_avg_sq.as_ref().unwrap();
    assert!(max[0].is_nan(), "max_exp_avg_sq {max:?}");
    assert!(max[1].is_finite(), "max_exp_avg_sq {max:?}");
    assert!(w[0].is_nan() && w[1].is_finite(), "{w:?}");
}
