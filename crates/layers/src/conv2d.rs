//! `Conv2d`: PyTorch's `nn.Conv2d` on the core's `conv2d` op, NCHW.

use crate::init::{fan_in_and_fan_out, try_kaiming_uniform, try_uniform, Kaiming};
use crate::weight_bias::WeightBias;
use crate::{Mode, Module, Path, Rng, Visitor, VisitorMut};
use std::any::Any;
use tapegrad_core::{AllocError, Conv2dConfig, Param, Size2, Tape, Tensor, Var};

/// A 2-D convolution: `weight: [out_channels, in_channels / groups, kh, kw]` and an optional
/// `bias: [out_channels]`, PyTorch's layout and state-dict names; the input is `[n,
/// in_channels, h, w]`.
///
/// Initialised as PyTorch's `nn.Conv2d`: the weight by `kaiming_uniform_(a = sqrt(5))`, that
/// is `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with `fan_in = in_channels / groups * kh * kw`,
/// then the bias from the same range, both drawn from the generator passed in (weight first,
/// row-major), so a seed fixes the layer.
///
/// ```
/// use tapegrad_core::{Conv2dConfig, Tape, Tensor};
/// use tapegrad_layers::{seeded_rng, Conv2d, Mode, Module, ModuleExt};
///
/// let mut rng = seeded_rng(0);
/// let mut conv = Conv2d::with_config(3, 8, 3, Conv2dConfig::default().padding(1), true, &mut rng);
/// let mut tape = Tape::new();
/// let x = tape.constant(Tensor::zeros(vec![2, 3, 16, 16]));
/// let y = conv.forward(&mut tape, x, Mode::Train);
/// assert_eq!(tape.shape(y), &[2, 8, 16, 16]);
/// let names: Vec<String> = conv.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["weight", "bias"]);
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d {
    params: WeightBias,
    config: Conv2dConfig,
}

impl Conv2d {
    /// A convolution with a bias and PyTorch's default settings (stride 1, no padding, no
    /// dilation, one group): `nn.Conv2d(in_channels, out_channels, kernel_size)`.
    ///
    /// Panics as [`Conv2d::with_config`] does.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        rng: &mut Rng,
    ) -> Self {
        Self::with_config(
            in_channels,
            out_channels,
            kernel_size,
            Conv2dConfig::default(),
            true,
            rng,
        )
    }

    /// `nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
    /// bias)`.
    ///
    /// Panics if a size is zero or the groups do not divide both channel counts (PyTorch
    /// raises for both), or with the message of [`Conv2d::try_with_config`]'s error if the
    /// parameters cannot be allocated.
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        config: Conv2dConfig,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        Self::try_with_config(in_channels, out_channels, kernel_size, config, bias, rng)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Conv2d::with_config`] that returns an error naming the layer, the parameter and the
    /// bytes instead of aborting the process when the parameters cannot be allocated (what it
    /// can and cannot catch on Linux is told at [`AllocError`]). Nothing is drawn from `rng`
    /// then.
    ///
    /// Panics on sizes PyTorch rejects, as [`Conv2d::with_config`]: a programming error, not a
    /// question of resources.
    pub fn try_with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        config: Conv2dConfig,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<Self, AllocError> {
        let kernel = kernel_size.into();
        let layer = || format!("Conv2d({in_channels} -> {out_channels}, kernel {kernel})");
        let Conv2dConfig {
            stride,
            dilation,
            groups,
            ..
        } = config;
        let sizes = [
            in_channels,
            out_channels,
            kernel.h,
            kernel.w,
            stride.h,
            stride.w,
        ];
        assert!(
            sizes
                .iter()
                .chain(&[dilation.h, dilation.w, groups])
                .all(|&s| s > 0),
            "{}: channels, kernel, stride, dilation and groups must be positive, got {config:?}",
            layer()
        );
        assert!(
            in_channels.is_multiple_of(groups) && out_channels.is_multiple_of(groups),
            "{}: {groups} groups must divide both channel counts",
            layer()
        );
        let shape = [out_channels, in_channels / groups, kernel.h, kernel.w];
        // PyTorch's reset_parameters: kaiming_uniform_(weight, a=sqrt(5)), whose bound is
        // 1 / sqrt(fan_in), and the bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        let kaiming = Kaiming {
            a: 5f32.sqrt(),
            ..Kaiming::default()
        };
        let weight = try_kaiming_uniform(&shape, kaiming, rng)
            .map_err(|e| e.for_param(layer(), "weight"))?;
        let bound = 1.0 / (fan_in_and_fan_out(&shape).0 as f32).sqrt();
        let bias = match bias {
            true => Some(
                try_uniform(&[out_channels], -bound, bound, rng)
                    .map_err(|e| e.for_param(layer(), "bias"))?,
            ),
            false => None,
        };
        Ok(Self::from_tensors(weight, bias, config))
    }

    /// A layer with the given values (weights loaded from elsewhere).
    ///
    /// Panics unless `weight` is `[out_channels, in_channels / groups, kh, kw]` and `bias`, if
    /// any, `[out_channels]`.
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        let from = "Conv2d::from_tensors";
        assert!(
            weight.shape().len() == 4,
            "{from}: weight must be [out, in / groups, kh, kw], got {:?}",
            weight.shape()
        );
        Conv2d {
            params: WeightBias::new(from, weight, bias),
            config,
        }
    }

    /// The input channels.
    pub fn in_channels(&self) -> usize {
        self.params.weight.shape()[1] * self.config.groups
    }

    /// The output channels.
    pub fn out_channels(&self) -> usize {
        self.params.weight.shape()[0]
    }

    /// The kernel's height and width.
    pub fn kernel_size(&self) -> Size2 {
        (self.params.weight.shape()[2], self.params.weight.shape()[3]).into()
    }

    /// Stride, padding, dilation and groups.
    pub fn config(&self) -> Conv2dConfig {
        self.config
    }

    /// The weight, `[out_channels, in_channels / groups, kh, kw]`.
    pub fn weight(&self) -> &Param {
        &self.params.weight
    }

    /// The weight, mutably.
    pub fn weight_mut(&mut self) -> &mut Param {
        &mut self.params.weight
    }

    /// The bias, `[out_channels]`, if the layer has one.
    pub fn bias(&self) -> Option<&Param> {
        self.params.bias.as_ref()
    }

    /// The bias, mutably.
    pub fn bias_mut(&mut self) -> Option<&mut Param> {
        self.params.bias.as_mut()
    }
}

impl Module for Conv2d {
    fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Var {
        let (weight, bias) = self.params.on_tape(tape);
        tape.conv2d(x, weight, bias, self.config)
    }

    fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        self.params.visit(path, visitor);
    }

    fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        self.params.visit_mut(path, visitor);
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{seeded_rng, uniform, ModuleExt};
    use tapegrad_core::gradcheck;

    #[test]
    fn init_is_pytorchs_bound_drawn_from_the_seed_weight_first() {
        // fan_in = 4 / 2 * 3 * 5 = 30.
        let config = Conv2dConfig::default().groups(2);
        let conv = Conv2d::with_config(4, 6, (3, 5), config, true, &mut seeded_rng(7));
        assert_eq!(conv.weight().shape(), &[6, 2, 3, 5]);
        let bound = 1.0 / 30f32.sqrt();
        let mut rng = seeded_rng(7);
        let weight = uniform(&[6, 2, 3, 5], -bound, bound, &mut rng);
        let bias = uniform(&[6], -bound, bound, &mut rng);
        // kaiming_uniform(a = sqrt(5)) computes the same bound through the gain: the draws
        // agree to the rounding of the bound.
        for (a, b) in conv.weight().value().data().iter().zip(weight.data()) {
            assert!((a - b).abs() <= 1e-7, "{a} vs {b}");
        }
        assert_eq!(conv.bias().unwrap().value(), &bias);
        let other = Conv2d::with_config(4, 6, (3, 5), config, true, &mut seeded_rng(8));
        assert_ne!(conv.weight().value(), other.weight().value());
        let (max, min) = conv
            .weight()
            .value()
            .data()
            .iter()
            .fold((0f32, 0f32), |(hi, lo), &w| (hi.max(w), lo.min(w)));
        assert!(max > 0.9 * bound && min < -0.9 * bound && max <= bound && min >= -bound);
    }

    #[test]
    fn sizes_names_and_count() {
        let conv = Conv2d::with_config(
            6,
            4,
            3,
            Conv2dConfig::default().groups(2),
            false,
            &mut seeded_rng(0),
        );
        assert_eq!((conv.in_channels(), conv.out_channels()), (6, 4));
        assert_eq!(conv.kernel_size(), Size2 { h: 3, w: 3 });
        assert!(conv.bias().is_none());
        let names: Vec<String> = conv.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight"]);
        assert_eq!(conv.param_count(), 4 * 3 * 9);
    }

    #[test]
    fn forward_is_the_op_and_gradients_reach_the_parameters() {
        let mut conv = Conv2d::with_config(
            2,
            3,
            3,
            Conv2dConfig::default().stride(2).padding(1),
            true,
            &mut seeded_rng(3),
        );
        let x = Tensor::from_vec(
            vec![2, 2, 5, 5],
            (0..100).map(|i| (i as f32 * 0.3).sin()).collect(),
        );
        let mut tape = Tape::new();
        let xv = tape.constant(x.clone());
        let y = conv.forward(&mut tape, xv, Mode::Train);
        let (w, b) = (tape.param(conv.weight()), tape.param(conv.bias().unwrap()));
        let direct = tape.conv2d(xv, w, Some(b), conv.config());
        assert_eq!(tape.value(y), tape.value(direct));
        let loss = tape.sum(y);
        let grads = tape.backward(loss);
        assert_eq!(grads.param(conv.weight()).unwrap().shape(), &[3, 2, 3, 3]);
        assert_eq!(
            grads.param(conv.bias().unwrap()).unwrap().data(),
            &[18.0; 3]
        );
        // The input's gradient through the layer, against finite differences.
        gradcheck(&[x], |tape, v| {
            conv.clone().forward(tape, v[0], Mode::Train)
        })
        .unwrap();
    }

    #[test]
    fn an_impossible_size_is_an_error_naming_the_layer() {
        let mut rng = seeded_rng(0);
        let err =
            Conv2d::try_with_config(1 << 30, 1 << 30, 3, Conv2dConfig::default(), true, &mut rng)
                .unwrap_err();
        assert_eq!(
            err.param(),
            Some(("Conv2d(1073741824 -> 1073741824, kernel 3x3)", "weight"))
        );
        assert_eq!(rng, seeded_rng(0), "nothing drawn");
    }

    #[test]
    #[should_panic(
        expected = "Conv2d(4 -> 6, kernel 3x3): 4 groups must divide both channel counts"
    )]
    fn groups_that_do_not_divide_the_channels_panic() {
        Conv2d::with_config(
            4,
            6,
            3,
            Conv2dConfig::default().groups(4),
            true,
            &mut seeded_rng(0),
        );
    }
}
