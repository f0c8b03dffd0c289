//! Pooling layers without state, PyTorch's `nn.MaxPool2d`, `nn.AvgPool2d` and
//! `nn.AdaptiveAvgPool2d`, on the core's ops; and the macro that gives a layer without state
//! its [`Module`] impl, which [`Flatten`](crate::Flatten) uses too.

use tapegrad_core::{Pool2dConfig, Size2};

/// Implements [`Module`](crate::Module) for a layer without parameters, buffers or random
/// state: `forward` as given (`|self, tape, x, mode| expression`), nothing to visit, and the
/// layer shown to [`Module::as_any`](crate::Module::as_any).
macro_rules! stateless_layer {
    ($layer:ty, |$this:ident, $tape:ident, $x:ident, $mode:pat_param| $forward:expr) => {
        impl $crate::Module for $layer {
            fn forward(
                &mut self,
                $tape: &mut tapegrad_core::Tape,
                $x: tapegrad_core::Var,
                $mode: $crate::Mode,
            ) -> tapegrad_core::Var {
                let $this = &*self;
                $forward
            }

            fn visit<'a>(&'a self, _: $crate::Path<'_>, _: &mut dyn $crate::Visitor<'a>) {}

            fn visit_mut<'a>(
                &'a mut self,
                _: $crate::Path<'_>,
                _: &mut dyn $crate::VisitorMut<'a>,
            ) {
            }

            fn as_any(&self) -> Option<&dyn std::any::Any> {
                Some(self)
            }

            fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
                Some(self)
            }
        }
    };
}
pub(crate) use stateless_layer;

/// The maximum of each window ([`Tape::max_pool2d`](tapegrad_core::Tape::max_pool2d)): the
/// gradient goes to the first maximum of a window, as in PyTorch.
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{MaxPool2d, Mode, Module};
/// let mut pool = MaxPool2d::new(2);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::zeros(vec![4, 8, 24, 24]));
/// let y = pool.forward(&mut tape, x, Mode::Train);
/// assert_eq!(tape.shape(y), &[4, 8, 12, 12]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    config: Pool2dConfig,
}

/// The mean of each window ([`Tape::avg_pool2d`](tapegrad_core::Tape::avg_pool2d)), padding
/// counted as zeros (PyTorch's `count_include_pad=True`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    config: Pool2dConfig,
}

impl MaxPool2d {
    /// `nn.MaxPool2d(kernel_size)`: stride the kernel's size, no padding.
    pub fn new(kernel_size: impl Into<Size2>) -> Self {
        Self::with_config(Pool2dConfig::new(kernel_size))
    }

    /// `nn.MaxPool2d(kernel_size, stride, padding)`.
    pub fn with_config(config: Pool2dConfig) -> Self {
        MaxPool2d { config }
    }

    /// Kernel, stride and padding.
    pub fn config(&self) -> Pool2dConfig {
        self.config
    }
}

impl AvgPool2d {
    /// `nn.AvgPool2d(kernel_size)`: stride the kernel's size, no padding.
    pub fn new(kernel_size: impl Into<Size2>) -> Self {
        Self::with_config(Pool2dConfig::new(kernel_size))
    }

    /// `nn.AvgPool2d(kernel_size, stride, padding)`.
    pub fn with_config(config: Pool2dConfig) -> Self {
        AvgPool2d { config }
    }

    /// Kernel, stride and padding.
    pub fn config(&self) -> Pool2dConfig {
        self.config
    }
}

/// The mean over windows that tile the input into `output_size`
/// ([`Tape::adaptive_avg_pool2d`](tapegrad_core::Tape::adaptive_avg_pool2d)); to `1`, the
/// global average pooling before a classifier's `Linear`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    output_size: Size2,
}

impl AdaptiveAvgPool2d {
    /// `nn.AdaptiveAvgPool2d(output_size)`.
    pub fn new(output_size: impl Into<Size2>) -> Self {
        let output_size = output_size.into();
        AdaptiveAvgPool2d { output_size }
    }

    /// The output's height and width.
    pub fn output_size(&self) -> Size2 {
        self.output_size
    }
}

stateless_layer!(MaxPool2d, |this, tape, x, _| tape
    .max_pool2d(x, this.config));
stateless_layer!(AvgPool2d, |this, tape, x, _| tape
    .avg_pool2d(x, this.config));
stateless_layer!(AdaptiveAvgPool2d, |this, tape, x, _| tape
    .adaptive_avg_pool2d(x, this.output_size));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mode, Module, ModuleExt};
    use tapegrad_core::{Tape, Tensor, Var};

    /// The layer's output on `x`, and the op's called directly.
    fn both(layer: &mut dyn Module, op: impl Fn(&mut Tape, Var) -> Var) -> (Tensor, Tensor) {
        let x = Tensor::from_vec(
            vec![2, 3, 6, 5],
            (0..180).map(|i| (i as f32 * 0.7).sin()).collect(),
        );
        let mut tape = Tape::new();
        let v = tape.constant(x);
        let y = layer.forward(&mut tape, v, Mode::Train);
        let z = op(&mut tape, v);
        (tape.value(y).clone(), tape.value(z).clone())
    }

    #[test]
    fn each_layer_is_its_op_and_has_no_state() {
        let config = Pool2dConfig::new(3).stride(2).padding(1);
        let (y, z) = both(&mut MaxPool2d::with_config(config), |t, v| {
            t.max_pool2d(v, config)
        });
        assert_eq!((y.shape(), &y), (&[2, 3, 3, 3][..], &z));
        let (y, z) = both(&mut AvgPool2d::new(2), |t, v| {
            t.avg_pool2d(v, Pool2dConfig::new(2))
        });
        assert_eq!((y.shape(), &y), (&[2, 3, 3, 2][..], &z));
        let (y, z) = both(&mut AdaptiveAvgPool2d::new(1), |t, v| {
            t.adaptive_avg_pool2d(v, 1)
        });
        assert_eq!((y.shape(), &y), (&[2, 3, 1, 1][..], &z));
        for layer in [
            &MaxPool2d::new(2) as &dyn Module,
            &AvgPool2d::new(2),
            &AdaptiveAvgPool2d::new(1),
        ] {
            assert_eq!(layer.param_count(), 0);
            assert!(layer.as_any().is_some());
        }
    }
}
