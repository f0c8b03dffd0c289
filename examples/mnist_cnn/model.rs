//! PyTorch's MNIST example net (pytorch/examples, `mnist/main.py`) as one `Sequential`, the
//! model of `mnist_cnn` and of the `cnn_epoch` workload of `benches/compare` (which includes
//! this file, so both train the same net).

use tapegrad::core::AllocError;
use tapegrad::layers::{seeded_rng, Rng};
use tapegrad::prelude::*;

/// The sizes of an MNIST image, which the net's `Linear(9216, 128)` is built for.
pub const IMAGE: [usize; 3] = [1, 28, 28];

/// Why the net could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A layer's parameters could not be allocated.
    #[error(transparent)]
    Alloc(#[from] AllocError),
}

/// The net, on batches of flat images `[n, 784]` (as the data loader gives them, each pixel
/// standardised as `(x / 255 - 0.1307) / 0.3081`), to the logits of the 10 digits:
///
/// ```text
///  0 Unflatten(1, [1, 28, 28])   [n, 784] -> [n, 1, 28, 28]
///  1 Conv2d(1, 32, 3)    2 ReLU   -> [n, 32, 26, 26]
///  3 Conv2d(32, 64, 3)   4 ReLU   -> [n, 64, 24, 24]
///  5 MaxPool2d(2)  6 Dropout(0.25)  7 Flatten   -> [n, 9216]
///  8 Linear(9216, 128)   9 ReLU  10 Dropout(0.5)  11 Linear(128, 10)
/// ```
///
/// the layer order, and so the state-dict keys, of `torch_workloads.cnn()` in
/// `benches/compare`. With `batch_norm`, a `BatchNorm2d` follows each convolution and a
/// `BatchNorm1d` the first `Linear`, each before its ReLU (the indices after them shift).
///
/// Everything random comes from `seed`: the weights are drawn layer by layer, weight then
/// bias, from stream 0 of its ChaCha8 generator (PyTorch's inits: `kaiming_uniform_(a =
/// sqrt(5))` and the bias from the same range), and the two dropouts draw their masks from
/// streams 1 and 2, as the `Mlp` builder numbers them. Each `Linear` or BatchNorm takes
/// the ReLU after it into its own op (`Sequential::fuse`).
pub fn mnist_cnn(seed: u64, batch_norm: bool) -> Result<Sequential, ModelError> {
    let mut init = seeded_rng(seed);
    let dropout = |stream: u64, p: f32| {
        let mut rng: Rng = seeded_rng(seed);
        rng.set_stream(stream);
        Dropout::with_rng(p, rng)
    };
    let mut net = Sequential::new().with(Unflatten::new(1, IMAGE));
    for (c_in, c_out) in [(1, 32), (32, 64)] {
        let config = Conv2dConfig::default();
        net.push(Conv2d::try_with_config(
            c_in, c_out, 3, config, true, &mut init,
        )?);
        if batch_norm {
            net.push(BatchNorm2d::new(c_out));
        }
        net.push(Activation::Relu);
    }
    net.push(MaxPool2d::new(2));
    net.push(dropout(1, 0.25));
    net.push(Flatten::new());
    net.push(Linear::try_new(9216, 128, &mut init)?);
    if batch_norm {
        net.push(BatchNorm1d::new(128));
    }
    net.push(Activation::Relu);
    net.push(dropout(2, 0.5));
    net.push(Linear::try_new(128, 10, &mut init)?);
    net.fuse();
    Ok(net)
}
