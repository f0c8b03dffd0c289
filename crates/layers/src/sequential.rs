//! `Sequential`: layers applied one after the other, named `0`, `1`, ... as PyTorch's
//! `nn.Sequential`, so the state-dict keys match (`0.weight`, `1.running_mean`).

use crate::{Activation, BatchNorm1d, Linear, Mode, Module, Path, Visitor, VisitorMut};
use std::any::Any;
use tapegrad_core::{Tape, Var};

/// A chain of layers. Layer `i`'s parameters and buffers are named `i.<name>`.
///
/// A [`Linear`] or a [`BatchNorm1d`] directly followed by [`Activation::Relu`] runs as one
/// fused op ([`Linear::forward_then_relu`], [`BatchNorm1d::forward_then_relu`]): the same
/// numbers to the bit, fewer passes over memory. The layers stay two (names, state dict,
/// [`Sequential::get`]); only the tape sees one op, `linear_relu` or `batch_norm_relu`,
/// where it would have seen two.
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
}

impl Sequential {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer (PyTorch's `append`); it gets the next index.
    pub fn push(&mut self, layer: impl Module + 'static) -> &mut Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends an already boxed layer.
    pub fn push_boxed(&mut self, layer: Box<dyn Module>) -> &mut Self {
        self.layers.push(layer);
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
}

impl Module for Sequential {
    fn forward(&mut self, tape: &mut Tape, mut x: Var, mode: Mode) -> Var {
        let mut i = 0;
        while i < self.layers.len() {
            // The layer's output goes nowhere but into the next layer, so the pair may fuse.
            let relu_next = self.get_as::<Activation>(i + 1) == Some(&Activation::Relu);
            let layer = &mut *self.layers[i];
            match then_relu(layer).filter(|_| relu_next) {
                Some(fused) => {
                    x = fused.forward_then_relu(tape, x, mode);
                    i += 2;
                }
                None => {
                    x = layer.forward(tape, x, mode);
                    i += 1;
                }
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

/// A layer that can run the ReLU after it inside its own op.
trait ThenRelu {
    /// The layer's forward followed by a ReLU, as one op.
    fn forward_then_relu(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var;
}

impl ThenRelu for Linear {
    fn forward_then_relu(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        Linear::forward_then_relu(self, tape, x, mode)
    }
}

impl ThenRelu for BatchNorm1d {
    fn forward_then_relu(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
        BatchNorm1d::forward_then_relu(self, tape, x, mode)
    }
}

/// `layer` as a [`ThenRelu`], if it is a built-in layer that is one.
fn then_relu(layer: &mut dyn Module) -> Option<&mut dyn ThenRelu> {
    let any = layer.as_any_mut()?;
    if any.is::<Linear>() {
        return any.downcast_mut::<Linear>().map(|l| l as &mut dyn ThenRelu);
    }
    any.downcast_mut::<BatchNorm1d>()
        .map(|b| b as &mut dyn ThenRelu)
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

    #[test]
    fn an_empty_chain_is_the_identity() {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::zeros(vec![1, 2]));
        assert_eq!(Sequential::new().forward(&mut tape, x, Mode::Train), x);
        assert!(Sequential::new().is_empty());
    }
}
