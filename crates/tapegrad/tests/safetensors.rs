//! Weights interchange as safetensors under PyTorch's state-dict keys.

mod common;

use common::*;
use safetensors::SafeTensors;
use tapegrad::prelude::*;

#[test]
fn export_uses_pytorch_keys_and_dtypes_and_imports_back_exactly() {
    let dir = temp_dir("safetensors");
    let path = dir.join("model.safetensors");
    let model = stateful_mlp(9);
    export_safetensors(&model, &path).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<&str> = file.names();
    names.sort();
    let mut expected = vec![
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
        "4.weight",
        "4.bias",
        "5.weight",
        "5.bias",
        "5.running_mean",
        "5.running_var",
        "5.num_batches_tracked",
        "8.weight",
        "8.bias",
    ];
    expected.sort();
    assert_eq!(names, expected);
    let counter = file.tensor("1.num_batches_tracked").unwrap();
    assert_eq!(counter.dtype(), safetensors::Dtype::I64);
    assert!(
        counter.shape().is_empty(),
        "a 0-d tensor, as PyTorch keeps it"
    );
    assert_eq!(file.tensor("0.weight").unwrap().shape(), &[64, 784]);

    let mut other = stateful_mlp(10);
    import_safetensors(&mut other, &path).unwrap();
    assert_eq!(state_bits(&other), state_bits(&model));

    let mut wider = tapegrad::layers::Mlp::new(&[784, 65, 32, 10])
        .batch_norm(true)
        .seed(1)
        .build();
    let err = import_safetensors(&mut wider, &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("`0.weight` has shape [64, 784] in the file but [65, 784] in the model"),
        "{err}"
    );
    let mut without_bn = tapegrad::layers::Mlp::new(&[784, 64, 32, 10])
        .seed(1)
        .build();
    let err = import_safetensors(&mut without_bn, &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("`2.weight` is missing from the file"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// PyTorch's MNIST example net, layer for layer as `torch.nn.Sequential` numbers it.
fn mnist_cnn(seed: u64) -> Sequential {
    let mut rng = tapegrad::layers::seeded_rng(seed);
    Sequential::new()
        .with(Conv2d::new(1, 32, 3, &mut rng))
        .with(Activation::Relu)
        .with(Conv2d::new(32, 64, 3, &mut rng))
        .with(Activation::Relu)
        .with(MaxPool2d::new(2))
        .with(Dropout::new(0.25, seed))
        .with(Flatten::new())
        .with(Linear::new(9216, 128, &mut rng))
        .with(Activation::Relu)
        .with(Dropout::new(0.5, seed + 1))
        .with(Linear::new(128, 10, &mut rng))
}

#[test]
fn a_cnn_exports_under_the_keys_and_shapes_of_torch_nn_sequential() {
    let dir = temp_dir("safetensors_cnn");
    let path = dir.join("cnn.safetensors");
    let model = mnist_cnn(3);
    export_safetensors(&model, &path).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut found: Vec<(String, Vec<usize>)> = (file.tensors().into_iter())
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    found.sort();
    // `nn.Sequential(Conv2d(1, 32, 3), ReLU(), Conv2d(32, 64, 3), ReLU(), MaxPool2d(2),
    // Dropout(0.25), Flatten(), Linear(9216, 128), ReLU(), Dropout(0.5), Linear(128, 10))
    // .state_dict()`: the layers without state have no keys, the others keep their index.
    let expected: Vec<(String, Vec<usize>)> = [
        ("0.bias", vec![32]),
        ("0.weight", vec![32, 1, 3, 3]),
        ("10.bias", vec![10]),
        ("10.weight", vec![10, 128]),
        ("2.bias", vec![64]),
        ("2.weight", vec![64, 32, 3, 3]),
        ("7.bias", vec![128]),
        ("7.weight", vec![128, 9216]),
    ]
    .into_iter()
    .map(|(name, shape)| (name.to_string(), shape))
    .collect();
    assert_eq!(found, expected);

    let mut other = mnist_cnn(4);
    import_safetensors(&mut other, &path).unwrap();
    let params = |m: &Sequential| -> Vec<Tensor> {
        m.named_params()
            .into_iter()
            .map(|(_, p)| p.value().clone())
            .collect()
    };
    assert_eq!(params(&other), params(&model));
    std::fs::remove_dir_all(&dir).unwrap();
}
