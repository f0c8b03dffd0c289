//! `Sequential`: layers applied one after the other, named `0`, `1`, ... as PyTorch's
//! `nn.Sequential`, so the state-dict keys match (`0.weight`, `1.running_mean`).

use crate::{Activation, Mode, Module, Path, Visitor, VisitorMut};
use std::any::Any;
use tapegrad_core::{Tape, Var};

/// A chain of layers. Layer `i`'s parameters and buffers are named `i.<name>`.
///
/// [`Sequential::forward`](Module::forward) runs every layer in turn, except the activations
/// that [`Sequential::fuse`] handed to the layer before them.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{seeded_rng, Activation, Linear, Mode, Module, ModuleExt, Sequential};
///
/// let mut rng = seeded_rng(0);
/// let mut model = Sequential::new()
///     .with(Linear::new(4, 8, &mut rng))
///     .with(Activation::Relu)
///     .with(Linear::new(8, 3, &mut rng));
/// let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
///
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::zeros(vec![5, 4]));
/// let y = model.forward(&mut tape, x, Mode::Eval);
/// assert_eq!(tape.shape(y), &[5, 3]);
/// assert_eq!(model.get_as::<Linear>(2).unwrap().out_features(), 3);
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    /// Per layer: whether the layer before it applies it (see [`Sequential::fuse`]).
    absorbed: Vec<bool>,
}

/// A layer and the activation after it, merged by [`Sequential::fuse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fusion {
    /// Where the layer is, as a dotted index path (`"0"`, or `"3.1"` inside a nested
    /// Sequential); the activation is the next index.
    pub layer: String,
    /// The activation the layer now applies itself.
    pub activation: Activation,
}

impl Sequential {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer (PyTorch's `append`); it gets the next index.
    pub fn push(&mut self, layer: impl Module + 'static) -> &mut Self {
        self.push_boxed(Box::new(layer))
    }

    /// Appends an already boxed layer.
    pub fn push_boxed(&mut self, layer: Box<dyn Module>) -> &mut Self {
        self.layers.push(layer);
        self.absorbed.push(false);
        self
    }

    /// Appends a layer and returns the chain (builder style).
    pub fn with(mut self, layer: impl Module + 'static) -> Self {
        self.push(layer);
        self
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain has no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layer `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&dyn Module> {
        self.layers.get(index).map(|l| &**l)
    }

    /// Layer `index`, mutably.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut (dyn Module + 'static)> {
        self.layers.get_mut(index).map(|l| &mut **l)
    }

    /// Layer `index` as its concrete type `T`; `None` if there is no such layer or it is not
    /// a `T` (or is a user layer that does not implement [`Module::as_any`]).
    pub fn get_as<T: Module + 'static>(&self, index: usize) -> Option<&T> {
        self.layers.get(index)?.as_any()?.downcast_ref()
    }

    /// [`Sequential::get_as`], mutably.
    pub fn get_as_mut<T: Module + 'static>(&mut self, index: usize) -> Option<&mut T> {
        self.layers.get_mut(index)?.as_any_mut()?.downcast_mut()
    }

    /// The layers, in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Module> {
        self.layers.iter().map(|l| &**l)
    }

    /// The layers, mutably, in order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut (dyn Module + 'static)> {
        self.layers.iter_mut().map(|l| &mut **l)
    }

    /// Offers every [`Activation`] layer to the layer before it
    /// ([`Module::fuse_activation`]), here and in nested Sequentials, and returns the pairs
    /// that merged. A merged layer applies the activation inside its own op and the forward
    /// skips the activation layer: the same outputs, gradients and state to the bit, fewer
    /// passes over memory and fewer tensors on the tape. Names, indices and the state dict
    /// do not change (the activation layer is still there, with no state), so a fused model
    /// saves and loads as the unfused one. Built in: a [`Linear`](crate::Linear) or a
    /// [`BatchNorm1d`](crate::BatchNorm1d) followed by [`Activation::Relu`]. Calling it again
    /// fuses only what was added since. [`Mlp::build`](crate::Mlp::build) calls it.
    ///
    /// ```
    /// use tapegrad_layers::{seeded_rng, Activation, Linear, Sequential};
    ///
    /// let mut rng = seeded_rng(0);
    /// let mut model = Sequential::new()
    ///     .with(Linear::new(4, 8, &mut rng))
    ///     .with(Activation::Relu)
    ///     .with(Linear::new(8, 3, &mut rng))
    ///     .with(Activation::Tanh);
    /// let fused = model.fuse();
    /// assert_eq!(fused.len(), 1); // a Linear has no fused Tanh
    /// assert_eq!((fused[0].layer.as_str(), fused[0].activation), ("0", Activation::Relu));
    /// ```
    pub fn fuse(&mut self) -> Vec<Fusion> {
        let mut fused = Vec::new();
        self.fuse_into("", &mut fused);
        fused
    }

    fn fuse_into(&mut self, prefix: &str, fused: &mut Vec<Fusion>) {
        for i in 0..self.layers.len() {
            if let Some(inner) = self.get_as_mut::<Sequential>(i) {
                inner.fuse_into(&format!("{prefix}{i}."), fused);
            }
            // A layer that is skipped itself cannot take the next one in.
            let free = !self.absorbed[i];
            let next = self.get_as::<Activation>(i + 1).copied();
            if let Some(activation) = next.filter(|_| free && !self.absorbed[i + 1]) {
                if self.layers[i].fuse_activation(activation) {
                    self.absorbed[i + 1] = true;
                    let layer = format!("{prefix}{i}");
                    fused.push(Fusion { layer, activation });
                }
            }
        }
    }

    /// Whether [`Sequential::fuse`] merged any pair, here or in a nested Sequential.
    pub(crate) fn is_fused(&self) -> bool {
        self.absorbed.iter().any(|&a| a)
            || (0..self.len()).any(|i| self.get_as::<Sequential>(i).is_some_and(|s| s.is_fused()))
    }
}

impl Module for Sequential {
    fn forward(&mut self, tape: &mut Tape, mut x: Var, mode: Mode) -> Var {
        for (layer, &absorbed) in self.layers.iter_mut().zip(&self.absorbed) {
            if !absorbed {
                x = layer.forward(tape, x, mode);
            }
        }
        x
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit(path.index(i), visitor);
        }
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_mut(path.index(i), visitor);
        }
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sequential({} layers)", self.layers.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{seeded_rng, Activation, Linear, ModuleExt};
    use tapegrad_core::Tensor;

    /// A user layer that does not implement `as_any`.
    struct Double;
    impl Module for Double {
        fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Var {
            tape.mul_scalar(x, 2.0)
        }
        fn visit<'a>(&'a self, _: Path<'_>, _: &mut dyn Visitor<'a>) {}
        fn visit_mut<'a>(&'a mut self, _: Path<'_>, _: &mut dyn VisitorMut<'a>) {}
    }

    #[test]
    fn chains_in_order_and_names_nested_layers() {
        let mut rng = seeded_rng(0);
        let inner = Sequential::new()
            .with(Linear::new(2, 2, &mut rng))
            .with(Double);
        let mut model = Sequential::new();
        model.push(Double).push(inner).push(Activation::Relu);
        assert_eq!(model.len(), 3);
        let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["1.0.weight", "1.0.bias"]);
        assert!(model.get_as::<Double>(0).is_none(), "opaque user layer");
        assert!(model.get_as::<Activation>(2).is_some());
        assert!(model.get_as::<Linear>(2).is_none());
        assert!(model.get(3).is_none());

        let mut tape = Tape::new();
        let x = tape.constant(Tensor::from_vec(vec![1, 2], vec![1.0, -1.0]));
        let y = model.forward(&mut tape, x, Mode::Eval);
        let lin = model
            .get_as::<Sequential>(1)
            .unwrap()
            .get_as::<Linear>(0)
            .unwrap();
        let (w, b) = (
            lin.weight().value().data(),
            lin.bias().unwrap().value().data(),
        );
        let expected: Vec<f32> = (0..2)
            .map(|o| (2.0 * (2.0 * w[2 * o] - 2.0 * w[2 * o + 1] + b[o])).max(0.0))
            .collect();
        for (g, e) in tape.value(y).data().iter().zip(&expected) {
            assert!((g - e).abs() < 1e-6, "{g} vs {e}");
        }
    }

    /// A user layer that takes a ReLU in, counting its forwards.
    #[derive(Default)]
    struct Shift {
        relu: bool,
        calls: usize,
    }
    impl Module for Shift {
        fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Var {
            self.calls += 1;
            let y = tape.add_scalar(x, -0.5);
            if self.relu {
                tape.relu(y)
            } else {
                y
            }
        }
        fn visit<'a>(&'a self, _: Path<'_>, _: &mut dyn Visitor<'a>) {}
        fn visit_mut<'a>(&'a mut self, _: Path<'_>, _: &mut dyn VisitorMut<'a>) {}
        fn fuse_activation(&mut self, activation: Activation) -> bool {
            self.relu = activation == Activation::Relu;
            self.relu
        }
        fn as_any(&self) -> Option<&dyn Any> {
            Some(self)
        }
    }

    #[test]
    fn a_user_layer_takes_part_in_fusion_and_the_activation_is_skipped() {
        let build = || {
            let inner = Sequential::new()
                .with(Shift::default())
                .with(Activation::Relu);
            Sequential::new()
                .with(Double)
                .with(Activation::Relu)
                .with(inner)
                .with(Activation::Tanh)
        };
        let (mut plain, mut fused) = (build(), build());
        let report = fused.fuse();
        let relu = Activation::Relu;
        let expected = [Fusion {
            layer: "2.0".into(),
            activation: relu,
        }];
        assert_eq!(report, expected, "Double declines, Shift takes its ReLU in");
        let run = |model: &mut Sequential| {
            let mut tape = Tape::new();
            let x = tape.variable(Tensor::from_vec(vec![1, 3], vec![-1.0, 0.3, 2.0]));
            let y = model.forward(&mut tape, x, Mode::Train);
            (tape.value(y).clone(), tape.num_recorded_ops())
        };
        let (a, b) = (run(&mut plain), run(&mut fused));
        assert_eq!(a.0, b.0);
        assert_eq!(
            (a.1, b.1),
            (5, 5),
            "the layer's own relu replaces the skipped one"
        );
        let inner = fused.get_as::<Sequential>(2).unwrap();
        assert_eq!(inner.get_as::<Shift>(0).unwrap().calls, 1);
    }

    #[test]
    fn an_empty_chain_is_the_identity() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![1, 2]));
        assert_eq!(Sequential::new().forward(&mut tape, x, Mode::Train), x);
        assert!(Sequential::new().is_empty());
    }
}
