//! The model of a recipe: Linear, normalisation, activation, Dropout per hidden layer, as
//! `Mlp` lays them out, with the study's options besides (LayerNorm, a Gaussian init, no
//! bias before a normalisation); or PyTorch's MNIST example net, for the CNN section.

use crate::cnn_model::mnist_cnn;
use crate::recipe::{Arch, Init, Norm, Recipe};
use tapegrad::core::Tensor;
use tapegrad::layers::{normal, seeded_rng, BatchNorm1d, Dropout, Linear, Sequential};
use tapegrad_extending_example::LayerNorm;

/// The model of `recipe` for inputs of `inputs` features and 10 classes, its activations
/// fused into the layers before them ([`Sequential::fuse`]) as `Mlp::build` does.
///
/// The weights are drawn layer by layer, weight then bias, from stream 0 of the seed's
/// ChaCha8 generator, as `Mlp` draws them; a bias that is dropped is drawn all the same, so
/// that with and without a normalisation the weights are the same. Dropout layer `k` draws
/// from stream `k + 1`, as in `Mlp`.
///
/// An [`Arch::Cnn`] recipe gets `mnist_cnn(seed, batch_norm)` (inputs of 784 pixels), which
/// draws its weights the same way, so that with and without BatchNorm the convolutions and
/// Linears start equal too.
pub fn build(recipe: &Recipe, inputs: usize) -> Sequential {
    if recipe.arch == Arch::Cnn {
        assert!(
            matches!(recipe.norm, Norm::None | Norm::Batch) && inputs == 784,
            "the CNN takes 28x28 images and has BatchNorm or nothing"
        );
        // Its only error is an allocation of its 1.2 M parameters failing.
        return mnist_cnn(recipe.seed, recipe.batch_norm()).expect("the CNN's parameters fit");
    }
    let mut rng = seeded_rng(recipe.seed);
    let mut widths = vec![inputs];
    widths.extend(&recipe.hidden);
    widths.push(10);
    let layers = widths.len() - 1;
    let mut model = Sequential::new();
    for (i, pair) in widths.windows(2).enumerate() {
        let hidden = i + 1 < layers;
        let bias = !(hidden && recipe.norm != Norm::None && !recipe.bias_before_norm);
        let (weight, drawn_bias) = match recipe.init {
            Init::Uniform => {
                let layer = Linear::new(pair[0], pair[1], &mut rng);
                let bias = layer.bias().map(|b| b.value().clone());
                (layer.weight().value().clone(), bias)
            }
            Init::Normal => {
                let std = 1.0 / (pair[0] as f32).sqrt();
                let weight = normal(&[pair[1], pair[0]], 0.0, std, &mut rng);
                (weight, Some(Tensor::zeros(vec![pair[1]])))
            }
        };
        let linear = Linear::from_tensors(weight, drawn_bias.filter(|_| bias));
        model.push(linear.scale_weight(recipe.init_scale));
        if !hidden {
            break;
        }
        match recipe.norm {
            Norm::None => {}
            Norm::Batch => {
                let mut bn = BatchNorm1d::new(pair[1]);
                bn.set_momentum(recipe.bn_momentum);
                model.push(bn);
            }
            Norm::Layer => {
                model.push(LayerNorm::new(pair[1]));
            }
        }
        model.push(recipe.activation);
        if recipe.dropout > 0.0 {
            let mut stream = seeded_rng(recipe.seed);
            stream.set_stream(i as u64 + 1);
            model.push(Dropout::with_rng(recipe.dropout, stream));
        }
    }
    model.fuse();
    model
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad::layers::{Activation, Mlp, ModuleExt};

    fn values(model: &Sequential) -> Vec<(String, Vec<f32>)> {
        let params = model.named_params().into_iter();
        params
            .map(|(n, p)| (n, p.value().data().to_vec()))
            .collect()
    }

    #[test]
    fn the_default_options_build_mlps_model() {
        let recipe = Recipe {
            hidden: vec![12, 7],
            dropout: 0.5,
            init_scale: 3.0,
            seed: 4,
            ..Recipe::reference(10)
        };
        for bn in [false, true] {
            let ours = build(&recipe.bn(bn), 9);
            let mlp = Mlp::new(&[9, 12, 7, 10])
                .batch_norm(bn)
                .dropout(0.5)
                .init_scale(3.0)
                .seed(4)
                .build();
            assert_eq!(values(&ours), values(&mlp));
            assert_eq!(ours.len(), mlp.len());
        }
    }

    #[test]
    fn a_dropped_bias_leaves_the_weights_as_they_were() {
        let recipe = Recipe {
            hidden: vec![6, 5],
            init: Init::Normal,
            bias_before_norm: false,
            ..Recipe::reference(10)
        };
        let (plain, bn) = (build(&recipe, 8), build(&recipe.bn(true), 8));
        let names =
            |m: &Sequential| -> Vec<String> { values(m).into_iter().map(|v| v.0).collect() };
        assert_eq!(
            names(&plain),
            ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
        );
        // The hidden Linears lose their bias; the output layer keeps it.
        assert_eq!(
            names(&bn),
            [
                "0.weight", "1.weight", "1.bias", "3.weight", "4.weight", "4.bias", "6.weight",
                "6.bias"
            ]
        );
        let weight =
            |m: &Sequential, i: usize| m.get_as::<Linear>(i).unwrap().weight().value().clone();
        assert_eq!(weight(&plain, 0), weight(&bn, 0));
        assert_eq!(weight(&plain, 2), weight(&bn, 3));
        assert_eq!(weight(&plain, 4), weight(&bn, 6));
        // N(0, 1/fan_in): over 6 x 8 draws the standard deviation is near 1/sqrt(8) = 0.354,
        // far from PyTorch's uniform (1/sqrt(3 x 8) = 0.204); biases are 0.
        let w = weight(&plain, 0);
        let sd = (w.data().iter().map(|v| v * v).sum::<f32>() / 48.0).sqrt();
        assert!((0.25..0.46).contains(&sd), "{sd}");
        let bias = plain
            .get_as::<Linear>(0)
            .unwrap()
            .bias()
            .unwrap()
            .value()
            .clone();
        assert!(bias.data().iter().all(|&b| b == 0.0));
    }

    #[test]
    fn layer_norm_takes_the_place_of_batch_norm() {
        let recipe = Recipe {
            activation: Activation::Sigmoid,
            ..Recipe::reference(10)
        };
        let model = build(&recipe.with_norm(Norm::Layer), 784);
        assert!(model.get_as::<LayerNorm>(1).is_some());
        assert!(model.get_as::<Activation>(2).is_some());
    }
}
