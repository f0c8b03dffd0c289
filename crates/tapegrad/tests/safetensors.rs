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
