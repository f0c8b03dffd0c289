//! The MLP builder: a `Sequential` from a list of widths, laid out as PyTorch users write
//! it (`Linear -> BatchNorm1d -> activation -> Dropout` per hidden layer), so its indices
//! and state-dict keys match the equivalent `torch.nn.Sequential`.

use crate::dropout::check_p;
use crate::{seeded_rng, Activation, BatchNorm1d, Dropout, Linear, Rng, Sequential};
use tapegrad_core::AllocError;

/// The builder of a multi-layer perceptron: `Mlp::new(widths)`, options, then
/// [`Mlp::build`].
///
/// ```
/// use tapegrad_layers::{Activation, Mlp, ModuleExt};
///
/// let model = Mlp::new(&[784, 512, 256, 10]).build();
/// assert_eq!(model.param_count(), 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10);
///
/// let with_bn = Mlp::new(&[784, 512, 10]).activation(Activation::Tanh).batch_norm(true).dropout(0.2).seed(7).build();
/// let names: Vec<String> = with_bn.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    widths: Vec<usize>,
    activation: Activation,
    batch_norm: bool,
    dropout: Option<f32>,
    init_scale: f32,
    seed: u64,
}

impl Mlp {
    /// An MLP with layer widths `widths` (input first, classes last), defaulting to ReLU, no
    /// BatchNorm, no Dropout, PyTorch's init scale and seed 0.
    ///
    /// Panics (in [`Mlp::build`]) unless there are at least two widths.
    pub fn new(widths: &[usize]) -> Self {
        Mlp {
            widths: widths.to_vec(),
            activation: Activation::Relu,
            batch_norm: false,
            dropout: None,
            init_scale: 1.0,
            seed: 0,
        }
    }

    /// The activation after each hidden layer (default ReLU).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// A `BatchNorm1d` (PyTorch defaults) after each hidden `Linear`, before the activation.
    pub fn batch_norm(mut self, on: bool) -> Self {
        self.batch_norm = on;
        self
    }

    /// A `Dropout(p)` after each hidden activation (`p = 0` adds none).
    ///
    /// Panics unless `0 <= p < 1`.
    pub fn dropout(mut self, p: f32) -> Self {
        check_p(p); // here, where the mistake is made, not in build()
        self.dropout = (p > 0.0).then_some(p);
        self
    }

    /// Multiplies every `Linear` weight by `scale` after PyTorch's default draw (biases are
    /// left as drawn); see [`Linear::scale_weight`]. Default 1.
    pub fn init_scale(mut self, scale: f32) -> Self {
        self.init_scale = scale;
        self
    }

    /// The seed of every random number of the model (default 0).
    ///
    /// The weights are drawn, layer by layer, weight then bias, from stream 0 of the
    /// ChaCha8 generator of `seed`; the `k`-th Dropout layer draws its masks from stream
    /// `k + 1` of the same seed. So the masks do not depend on the widths or on the init,
    /// and changing either leaves the other's randomness unchanged.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The model, with each layer that can take the activation after it into its own op
    /// fused with it ([`Sequential::fuse`]: a `Linear` or a `BatchNorm1d` and its ReLU), so
    /// that a default model runs at full speed. The layers, names and numbers are those of
    /// the unfused model.
    ///
    /// Panics if the parameters cannot be allocated, with the message of
    /// [`Mlp::try_build`]'s error.
    pub fn build(&self) -> Sequential {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Mlp::build`] that returns an error naming the layer, the parameter and the bytes
    /// (`Linear(100000 -> 100000): could not allocate 40000000000 bytes for weight ...`)
    /// instead of aborting the process when a `Linear`'s parameters cannot be allocated.
    ///
    /// The `Linear` weights and biases are what grows with the widths' products; a
    /// `BatchNorm1d` holds four vectors of its width, each no larger than the weight of the
    /// `Linear` before it, and is built infallibly. A request that Linux accepts lazily is
    /// not caught (see [`AllocError`](tapegrad_core::AllocError)): compare the model's size
    /// with the available memory first when that matters.
    ///
    /// Panics unless there are at least two widths (a programming error).
    ///
    /// ```
    /// use tapegrad_layers::Mlp;
    /// let err = Mlp::new(&[784, 1 << 62, 10]).try_build().unwrap_err();
    /// assert!(err.to_string().starts_with("Linear(784 -> 4611686018427387904): could not allocate"));
    /// ```
    pub fn try_build(&self) -> Result<Sequential, AllocError> {
        assert!(
            self.widths.len() >= 2,
            "Mlp: needs at least an input and an output width, got {:?}",
            self.widths
        );
        let mut init = seeded_rng(self.seed);
        let mut model = Sequential::new();
        let layers = self.widths.len() - 1;
        for (i, pair) in self.widths.windows(2).enumerate() {
            model.push(Linear::try_new(pair[0], pair[1], &mut init)?.scale_weight(self.init_scale));
            if i + 1 == layers {
                break;
            }
            if self.batch_norm {
                model.push(BatchNorm1d::new(pair[1]));
            }
            model.push(self.activation);
            if let Some(p) = self.dropout {
                let mut rng: Rng = seeded_rng(self.seed);
                rng.set_stream(i as u64 + 1);
                model.push(Dropout::with_rng(p, rng));
            }
        }
        model.fuse();
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Module, ModuleExt, Path, Visitor};
    use tapegrad_core::{Tape, Tensor};

    #[test]
    fn layout_and_state_dict_keys_match_pytorch() {
        let model = Mlp::new(&[784, 512, 256, 10])
            .batch_norm(true)
            .dropout(0.5)
            .build();
        // Linear, BN, ReLU, Dropout per hidden layer, then the output Linear.
        assert_eq!(model.len(), 9);
        assert!(model.get_as::<Linear>(0).is_some() && model.get_as::<BatchNorm1d>(1).is_some());
        assert!(model.get_as::<Activation>(2).is_some() && model.get_as::<Dropout>(3).is_some());
        assert!(model.get_as::<Linear>(8).is_some());
        let keys = model.state_dict_keys();
        let expected = [
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
        assert_eq!(keys, expected);
    }

    #[test]
    fn default_mlp_param_count() {
        let model = Mlp::new(&[784, 512, 256, 10]).build();
        assert_eq!(model.len(), 5);
        assert_eq!(
            model.param_count(),
            784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
        );
        let bn = Mlp::new(&[784, 512, 256, 10]).batch_norm(true).build();
        assert_eq!(bn.param_count(), model.param_count() + 2 * (512 + 256));
    }

    fn train_output(model: &mut Sequential) -> Vec<f32> {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::from_vec(
            vec![4, 6],
            (0..24).map(|i| (i as f32).cos()).collect(),
        ));
        let y = model.forward(&mut tape, x, crate::Mode::Train);
        tape.value(y).data().to_vec()
    }

    #[test]
    fn same_seed_same_init_and_masks() {
        let build = |seed| Mlp::new(&[6, 32, 32, 3]).dropout(0.5).seed(seed).build();
        let (mut a, mut b) = (build(1), build(1));
        for ((na, pa), (nb, pb)) in a.named_params().into_iter().zip(b.named_params()) {
            assert_eq!((na, pa.value()), (nb, pb.value()));
        }
        // Two training steps: the same masks each time.
        for _ in 0..2 {
            assert_eq!(train_output(&mut a), train_output(&mut b));
        }
        assert_ne!(train_output(&mut a), train_output(&mut build(2)));
        // The dropout generators depend on the seed only, not on the init or the widths.
        let scaled = Mlp::new(&[6, 32, 32, 3])
            .dropout(0.5)
            .seed(1)
            .init_scale(3.0)
            .build();
        let wider = Mlp::new(&[6, 64, 32, 3]).dropout(0.5).seed(1).build();
        assert_eq!(rngs(&scaled), rngs(&build(1)));
        assert_eq!(rngs(&wider), rngs(&build(1)));
        assert_ne!(
            rngs(&build(1))[0],
            rngs(&build(1))[1],
            "each Dropout has its own stream"
        );
    }

    fn rngs(model: &Sequential) -> Vec<Rng> {
        struct Rngs(Vec<Rng>);
        impl Visitor<'_> for Rngs {
            fn rng(&mut self, _: Path<'_>, rng: &Rng) {
                self.0.push(rng.clone());
            }
        }
        let mut all = Rngs(Vec::new());
        model.visit(Path::root(), &mut all);
        all.0
    }

    #[test]
    fn init_scale_scales_every_linear_weight() {
        let a = Mlp::new(&[5, 4, 3]).seed(3).build();
        let b = Mlp::new(&[5, 4, 3]).seed(3).init_scale(0.01).build();
        for i in [0, 2] {
            let (la, lb) = (
                a.get_as::<Linear>(i).unwrap(),
                b.get_as::<Linear>(i).unwrap(),
            );
            for (x, y) in la
                .weight()
                .value()
                .data()
                .iter()
                .zip(lb.weight().value().data())
            {
                assert_eq!(x * 0.01, *y);
            }
            assert_eq!(la.bias().unwrap().value(), lb.bias().unwrap().value());
        }
    }

    #[test]
    fn an_impossible_width_is_an_error_naming_the_layer() {
        // The first layer's weight, 2^64 elements, cannot be addressed.
        let err = Mlp::new(&[4, 1 << 62, 1 << 62, 10])
            .batch_norm(true)
            .dropout(0.5)
            .try_build()
            .unwrap_err();
        assert_eq!(
            err.param(),
            Some(("Linear(4 -> 4611686018427387904)", "weight"))
        );
        // The first layer fits, the second does not.
        let err = Mlp::new(&[4, 8, 1 << 62]).try_build().unwrap_err();
        assert_eq!(
            err.param(),
            Some(("Linear(8 -> 4611686018427387904)", "weight"))
        );
        assert!(
            err.to_string()
                .contains("more than the 9223372036854775807 bytes one allocation can hold"),
            "{err}"
        );
    }

    #[test]
    fn try_build_builds_the_model_build_does() {
        let mlp = Mlp::new(&[6, 16, 8, 3])
            .batch_norm(true)
            .dropout(0.25)
            .seed(4);
        let (mut a, mut b) = (mlp.try_build().unwrap(), mlp.build());
        assert_eq!(a.state_dict_keys(), b.state_dict_keys());
        for ((na, pa), (nb, pb)) in a.named_params().into_iter().zip(b.named_params()) {
            assert_eq!((na, pa.value()), (nb, pb.value()));
        }
        assert_eq!(train_output(&mut a), train_output(&mut b));
    }

    #[test]
    #[should_panic(expected = "Linear(8 -> 4611686018427387904): could not allocate")]
    fn build_panics_with_the_message_instead_of_aborting() {
        Mlp::new(&[4, 8, 1 << 62]).build();
    }

    #[test]
    #[should_panic(expected = "Mlp: needs at least an input and an output width, got [3]")]
    fn one_width_is_not_a_model() {
        Mlp::new(&[3]).build();
    }
}
