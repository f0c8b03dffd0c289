//! A weight and an optional bias under PyTorch's names: the parameters of `Linear` and
//! `Conv2d`, with what both do with them (put them on the tape, show them to visitors, hand
//! them out).

use crate::{Path, Visitor, VisitorMut};
use tapegrad_core::{Param, Tape, Tensor, Var};

/// `weight` and, if the layer has one, `bias`.
#[derive(Clone, Debug)]
pub(crate) struct WeightBias {
    pub weight: Param,
    pub bias: Option<Param>,
}

impl WeightBias {
    /// Parameters holding these values, for the constructor `from` (`Linear::from_tensors`),
    /// which a panic names unless `bias`, if any, is `[out]` for a `weight` of `[out, ..]`.
    pub fn new(from: &str, weight: Tensor, bias: Option<Tensor>) -> Self {
        if let Some(b) = &bias {
            assert!(
                b.shape() == weight.shape().get(..1).unwrap_or(&[]),
                "{from}: bias {:?} does not fit weight {:?}",
                b.shape(),
                weight.shape()
            );
        }
        WeightBias {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
        }
    }

    /// Both on `tape` (shared with the tape, not copied).
    pub fn on_tape(&self, tape: &mut Tape) -> (Var, Option<Var>) {
        let bias = self.bias.as_ref().map(|b| tape.param(b));
        (tape.param(&self.weight), bias)
    }

    /// Shows `weight`, then `bias` if any, under `path`.
    pub fn visit<'a>(&'a self, path: Path<'_>, visitor: &mut dyn Visitor<'a>) {
        visitor.param(path.name("weight"), &self.weight);
        if let Some(bias) = &self.bias {
            visitor.param(path.name("bias"), bias);
        }
    }

    /// [`WeightBias::visit`], mutably.
    pub fn visit_mut<'a>(&'a mut self, path: Path<'_>, visitor: &mut dyn VisitorMut<'a>) {
        visitor.param(path.name("weight"), &mut self.weight);
        if let Some(bias) = &mut self.bias {
            visitor.param(path.name("bias"), bias);
        }
    }
}
