//! The `Module` trait: a layer's forward over the tape, and a walk over its parameters,
//! buffers and random state under PyTorch-style names (`0.weight`, `1.running_mean`).

use crate::Activation;
use std::any::Any;
use std::fmt;
use tapegrad_core::{Param, Tape, Tensor, Var};

/// The random number generator of stochastic layers (Dropout) and of initialisation:
/// ChaCha8, portable across platforms, and serialisable so a checkpoint can resume it.
///
/// A stochastic layer owns one, built from a seed ([`seeded_rng`](crate::seeded_rng())),
/// and shows it to visitors with [`Visitor::rng`] / [`VisitorMut::rng`]: checkpoints then
/// save and restore it, and a resumed run draws the same numbers. Its traits (`rand::Rng`
/// for `random`, `RngCore`, `SeedableRng`) come from the re-exported
/// [`rand`](crate::rand) crate.
pub type Rng = rand_chacha::ChaCha8Rng;

/// Training or evaluation, passed explicitly to every forward (no global flag).
///
/// In `Train`, BatchNorm normalises with the batch statistics and updates its running ones,
/// and Dropout drops; in `Eval`, BatchNorm uses its running statistics and Dropout is the
/// identity. PyTorch's `model.train()` / `model.eval()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training behaviour.
    Train,
    /// Evaluation (inference) behaviour.
    Eval,
}

/// A non-trainable state tensor of a module, seen by a [`Visitor`].
#[derive(Debug)]
pub enum BufferRef<'a> {
    /// A float buffer (`running_mean`, `running_var`).
    Float(&'a Tensor),
    /// An integer buffer (`num_batches_tracked`, an `int64` in PyTorch).
    Int(&'a i64),
}

/// A non-trainable state tensor of a module, seen mutably by a [`VisitorMut`].
#[derive(Debug)]
pub enum BufferMut<'a> {
    /// A float buffer (`running_mean`, `running_var`).
    Float(&'a mut Tensor),
    /// An integer buffer (`num_batches_tracked`, an `int64` in PyTorch).
    Int(&'a mut i64),
}

/// The dotted name of a parameter or buffer inside a model, built on the stack while a
/// module tree is walked (no allocation), displayed as PyTorch's state-dict keys.
///
/// ```
/// use tapegrad_layers::Path;
/// let root = Path::root();
/// let layer = root.index(1);
/// assert_eq!(layer.name("running_mean").to_string(), "1.running_mean");
/// ```
#[derive(Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Name(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// The empty path of the model itself.
    pub fn root() -> Path<'static> {
        Path {
            parent: None,
            segment: Segment::Root,
        }
    }

    /// A named child (`weight`, `encoder`).
    pub fn name(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Name(name),
        }
    }

    /// A numbered child, as the layers of a `Sequential` (`0`, `1`, ...).
    pub fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Index(index),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wrote_parent = match self.parent {
            Some(parent) if !matches!(parent.segment, Segment::Root) => {
                write!(f, "{parent}")?;
                true
            }
            _ => false,
        };
        let sep = if wrote_parent { "." } else { "" };
        match self.segment {
            Segment::Root => Ok(()),
            Segment::Name(name) => write!(f, "{sep}{name}"),
            Segment::Index(i) => write!(f, "{sep}{i}"),
        }
    }
}

impl fmt::Debug for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({self})")
    }
}

/// Receives a read-only walk over a module tree ([`Module::visit`]). Every method has an
/// empty default, so a visitor implements only what it needs. The references live as long
/// as the borrow of the model (`'a`), so a visitor may collect them.
pub trait Visitor<'a> {
    /// A trainable parameter.
    fn param(&mut self, _path: Path<'_>, _param: &'a Param) {}
    /// A buffer (running statistics, counters).
    fn buffer(&mut self, _path: Path<'_>, _buffer: BufferRef<'a>) {}
    /// The random state of a stochastic layer.
    fn rng(&mut self, _path: Path<'_>, _rng: &'a Rng) {}
}

/// Receives a mutable walk over a module tree ([`Module::visit_mut`]). The references live
/// as long as the borrow of the model (`'a`), so a visitor may collect them, as an
/// optimizer collects `&mut Param`.
pub trait VisitorMut<'a> {
    /// A trainable parameter.
    fn param(&mut self, _path: Path<'_>, _param: &'a mut Param) {}
    /// A buffer (running statistics, counters).
    fn buffer(&mut self, _path: Path<'_>, _buffer: BufferMut<'a>) {}
    /// The random state of a stochastic layer.
    fn rng(&mut self, _path: Path<'_>, _rng: &'a mut Rng) {}
}

/// A layer or a model: a forward over the tape, and a walk over its state.
///
/// Parameters live in the module, outside the tape: the forward copies them onto the tape
/// with [`Tape::param`], and an optimizer later finds their gradients by id.
///
/// `visit` and `visit_mut` list the same things under the same names; a layer without state
/// (ReLU) lists nothing. That is how a layer registers its state: what it shows as a `param`
/// is trained and saved, a `buffer` is saved but not trained, an `rng` is saved.
///
/// A layer of your own, with a parameter and a buffer (`docs/EXTENDING.md` builds complete
/// ones, with their own ops):
///
/// ```
/// use tapegrad_core::{Param, Tape, Tensor, Var};
/// use tapegrad_layers::{BufferMut, BufferRef, Mode, Module, ModuleExt, Path, Visitor, VisitorMut};
///
/// /// `y = x * scale`, counting the training batches it has seen.
/// struct Scale {
///     scale: Param,
///     batches_seen: i64,
/// }
///
/// impl Module for Scale {
///     fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var {
///         if mode == Mode::Train {
///             self.batches_seen += 1;
///         }
///         let scale = tape.param(&self.scale); // its gradient is found by the Param's id
///         tape.mul(x, scale)
///     }
///     fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
///         visitor.param(path.name("scale"), &self.scale);
///         visitor.buffer(path.name("batches_seen"), BufferRef::Int(&self.batches_seen));
///     }
///     fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
///         visitor.param(path.name("scale"), &mut self.scale);
///         visitor.buffer(path.name("batches_seen"), BufferMut::Int(&mut self.batches_seen));
///     }
/// }
///
/// let mut layer = Scale { scale: Param::new(Tensor::full(vec![2], 3.0)), batches_seen: 0 };
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![1, 2], vec![1.0, 2.0]));
/// let y = layer.forward(&mut tape, x, Mode::Train);
/// let loss = tape.sum(y);
/// let grads = tape.backward(loss);
/// assert_eq!(grads.param(&layer.scale).unwrap().data(), &[1.0, 2.0]);
/// assert_eq!(layer.named_params()[0].0, "scale");
/// assert_eq!(layer.batches_seen, 1);
/// ```
pub trait Module: Send {
    /// Computes the output for `x`, recording on `tape`; `mode` selects training or
    /// evaluation behaviour.
    fn forward(&mut self, tape: &mut Tape, x: Var, mode: Mode) -> Var;

    /// Shows every parameter, buffer and random state to `visitor`, named below `path`.
    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>);

    /// Shows every parameter, buffer and random state to `visitor`, mutably.
    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>);

    /// Offered by [`Sequential::fuse`](crate::Sequential::fuse) when `activation` is the
    /// layer directly after this one: returns `true` if from now on this module's own
    /// [`Module::forward`] applies the activation too, giving the same bits as the two layers
    /// run one after the other, so that the `Sequential` skips the activation layer (whose
    /// name and index stay). What a module gains is a pass over its output done while it is
    /// in the cache, and a tensor fewer on the tape.
    ///
    /// The default declines, which is always correct. A layer of your own takes part by
    /// implementing it:
    ///
    /// ```
    /// use tapegrad_core::{Tape, Tensor, Var};
    /// use tapegrad_layers::{Activation, Mode, Module, Path, Sequential, Visitor, VisitorMut};
    ///
    /// /// `y = 2x`, with a ReLU of its own once fused.
    /// #[derive(Default)]
    /// struct Double { relu: bool }
    ///
    /// impl Module for Double {
    ///     fn forward(&mut self, tape: &mut Tape, x: Var, _: Mode) -> Var {
    ///         let y = tape.mul_scalar(x, 2.0);
    ///         if self.relu { tape.relu(y) } else { y }
    ///     }
    ///     fn visit<'a>(&'a self, _: Path<'_>, _: &mut dyn Visitor<'a>) {}
    ///     fn visit_mut<'a>(&'a mut self, _: Path<'_>, _: &mut dyn VisitorMut<'a>) {}
    ///     fn fuse_activation(&mut self, activation: Activation) -> bool {
    ///         self.relu = activation == Activation::Relu;
    ///         self.relu
    ///     }
    /// }
    ///
    /// let mut model = Sequential::new().with(Double::default()).with(Activation::Relu);
    /// let fused = model.fuse();
    /// assert_eq!(fused[0].layer, "0");
    /// ```
    fn fuse_activation(&mut self, _activation: Activation) -> bool {
        false
    }

    /// This module as [`Any`], so that model-wide utilities can recognise a layer type
    /// (how [`recalibrate`](crate::recalibrate()) finds the BatchNorms of a model and
    /// [`fold_batchnorm`](crate::fold_batchnorm()) the Linear-BatchNorm pairs). The built-in
    /// layers return `Some(self)`; the default `None` keeps a user layer opaque, which is
    /// always correct, so implementing it is optional.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }

    /// [`Module::as_any`], mutably.
    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        None
    }
}

/// Conveniences over any [`Module`], built on its visitors.
pub trait ModuleExt: Module {
    /// The trainable parameters with their PyTorch-style names, in definition order.
    fn named_params(&self) -> Vec<(String, &Param)> {
        struct Collect<'a>(Vec<(String, &'a Param)>);
        impl<'a> Visitor<'a> for Collect<'a> {
            fn param(&mut self, path: Path<'_>, param: &'a Param) {
                self.0.push((path.to_string(), param));
            }
        }
        let mut collect = Collect(Vec::new());
        self.visit(Path::root(), &mut collect);
        collect.0
    }

    /// Every state-dict key, parameters and buffers, in definition order: PyTorch's
    /// `model.state_dict().keys()`.
    fn state_dict_keys(&self) -> Vec<String> {
        struct Keys(Vec<String>);
        impl Visitor<'_> for Keys {
            fn param(&mut self, path: Path<'_>, _: &Param) {
                self.0.push(path.to_string());
            }
            fn buffer(&mut self, path: Path<'_>, _: BufferRef<'_>) {
                self.0.push(path.to_string());
            }
        }
        let mut keys = Keys(Vec::new());
        self.visit(Path::root(), &mut keys);
        keys.0
    }

    /// The trainable parameters, mutably, in definition order (what an optimizer updates).
    fn params_mut(&mut self) -> Vec<&mut Param> {
        struct Collect<'a>(Vec<&'a mut Param>);
        impl<'a> VisitorMut<'a> for Collect<'a> {
            fn param(&mut self, _path: Path<'_>, param: &'a mut Param) {
                self.0.push(param);
            }
        }
        let mut collect = Collect(Vec::new());
        self.visit_mut(Path::root(), &mut collect);
        collect.0
    }

    /// The number of trainable scalars (what PyTorch users compute as
    /// `sum(p.numel() for p in model.parameters())`).
    fn param_count(&self) -> usize {
        struct Count(usize);
        impl Visitor<'_> for Count {
            fn param(&mut self, _path: Path<'_>, param: &Param) {
                self.0 += param.value().numel();
            }
        }
        let mut count = Count(0);
        self.visit(Path::root(), &mut count);
        count.0
    }
}

impl<M: Module + ?Sized> ModuleExt for M {}
