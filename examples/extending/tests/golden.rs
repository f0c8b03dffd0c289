//! LayerNorm against PyTorch: `torch.nn.LayerNorm(d)` forward and gradients in float64
//! (`golden/layernorm.json`, four cases including a batch of one row), at the tolerances of
//! `golden/README.md`.

use tapegrad::core::{Tape, Tensor};
use tapegrad::layers::{Mode, Module};
use tapegrad_extending_example::LayerNorm;
use tapegrad_testutil::{assert_close, load, tensor, tol};

#[test]
fn layer_norm_matches_pytorch_forward_and_gradients() {
    let golden = load("layernorm.json");
    let eps = golden["eps"].as_f64().unwrap() as f32;
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = |key: &str| {
            let t = tensor(case, key);
            Tensor::from_vec(t.shape.clone(), t.to_f32())
        };
        let x = input("x");
        let mut layer = LayerNorm::with_eps(x.shape()[1], eps);
        *layer.weight_mut().value_mut() = input("weight");
        *layer.bias_mut().value_mut() = input("bias");

        // Both modes compute the same thing: LayerNorm has no running statistics.
        for mode in [Mode::Train, Mode::Eval] {
            let check = |key: &str, actual: &[f32]| {
                let what = format!("{name}, {mode:?}: {key}");
                assert_close(&what, actual, &tensor(case, key).data, tol::RTOL, tol::ATOL);
            };
            let mut tape = Tape::new();
            let xv = tape.variable(x.clone());
            let y = layer.forward(&mut tape, xv, mode);
            check("y", tape.value(y).data());
            let grads = tape.backward_with(y, input("dy"));
            check("dx", grads.get(xv).unwrap().data());
            check("dweight", grads.param(layer.weight()).unwrap().data());
            check("dbias", grads.param(layer.bias()).unwrap().data());
        }
    }
}
