//! The tests of `model.rs`, kept apart because `benches/compare/workloads.rs` includes that
//! file, and a bench target is compiled with `cfg(test)` but runs no `#[test]`.

use crate::model::{mnist_cnn, ModelError};
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

#[test]
fn batch_norm_is_refused_naming_the_missing_layer() {
    let err = mnist_cnn(0, true).unwrap_err();
    assert!(matches!(err, ModelError::NoBatchNorm2d { channels: 32 }));
    assert!(err.to_string().contains("BatchNorm2d(32)"), "{err}");
}
