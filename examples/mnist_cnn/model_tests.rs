//! The tests of `model.rs`, kept apart because `benches/compare/workloads.rs` includes that
//! file, and a bench target is compiled with `cfg(test)` but runs no `#[test]`.

use crate::model::mnist_cnn;
use tapegrad::prelude::*;

#[test]
fn the_net_has_pytorch_s_layers_and_state_dict_keys() {
    let net = mnist_cnn(0, false).unwrap();
    let names: Vec<(String, Vec<usize>)> = (net.named_params().into_iter())
        .map(|(name, p)| (name, p.value().shape().to_vec()))
        .collect();
    let expected = [
        ("1.weight", vec![32, 1, 3, 3]),
        ("1.bias", vec![32]),
        ("3.weight", vec![64, 32, 3, 3]),
        ("3.bias", vec![64]),
        ("8.weight", vec![128, 9216]),
        ("8.bias", vec![128]),
        ("11.weight", vec![10, 128]),
        ("11.bias", vec![10]),
    ];
    let expected: Vec<(String, Vec<usize>)> = (expected.into_iter())
        .map(|(name, shape)| (name.to_string(), shape))
        .collect();
    assert_eq!(names, expected);
    assert_eq!(net.len(), 12);
    assert!(net.get_as::<Unflatten>(0).is_some() && net.get_as::<MaxPool2d>(5).is_some());
    assert!(net.get_as::<Dropout>(6).is_some_and(|d| d.p() == 0.25));
    assert!(net.get_as::<Dropout>(10).is_some_and(|d| d.p() == 0.5));
}

#[test]
fn a_flat_batch_gives_ten_logits_per_image_and_the_seed_fixes_the_weights() {
    let mut net = mnist_cnn(3, false).unwrap();
    let mut tape = Tape::new();
    let x = tape.constant(Tensor::full(vec![2, 784], 0.5));
    let y = net.forward(&mut tape, x, Mode::Eval);
    assert_eq!(tape.shape(y), &[2, 10]);
    let weights = |net: &Sequential| net.named_params()[0].1.value().clone();
    assert_eq!(weights(&mnist_cnn(3, false).unwrap()), weights(&net));
    assert_ne!(weights(&mnist_cnn(4, false).unwrap()), weights(&net));
}

/// With `--bn`: PyTorch's keys of the same net with `BatchNorm2d` after each convolution
/// and `BatchNorm1d` after the first `Linear` (their buffers included), each ReLU fused into
/// the BatchNorm before it.
#[test]
fn the_batch_norm_net_has_pytorch_s_state_dict_keys() {
    let net = mnist_cnn(0, true).unwrap();
    let keys = net.state_dict_keys();
    let bn = |i: usize| {
        [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked",
        ]
        .map(|k| format!("{i}.{k}"))
    };
    let expected: Vec<String> = (["1.weight", "1.bias"].map(String::from).into_iter())
        .chain(bn(2))
        .chain(["4.weight", "4.bias"].map(String::from))
        .chain(bn(5))
        .chain(["10.weight", "10.bias"].map(String::from))
        .chain(bn(11))
        .chain(["14.weight", "14.bias"].map(String::from))
        .collect();
    assert_eq!(keys, expected);
    assert!(net.get_as::<BatchNorm2d>(2).is_some() && net.get_as::<BatchNorm2d>(5).is_some());
    assert!(net.get_as::<BatchNorm1d>(11).is_some());
    assert!(net.get_as::<Activation>(3).is_some());
}
