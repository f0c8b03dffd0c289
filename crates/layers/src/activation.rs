//! Element-wise activation layers: one type, [`Activation`], for PyTorch's `nn.ReLU`,
//! `nn.Sigmoid` and `nn.Tanh`, on the core's ops (whose backward reads the output).

use crate::{Mode, Module, Path, Visitor, VisitorMut};
use std::any::Any;
use std::fmt;
use std::str::FromStr;
use tapegrad_core::{Tape, Var};

/// An activation layer without state. Parsed from and displayed as `relu`, `sigmoid`,
/// `tanh` (what a command line or a config file says).
///
/// ```
/// use tapegrad_layers::Activation;
/// let a: Activation = "tanh".parse().unwrap();
/// assert_eq!(a, Activation::Tanh);
/// assert_eq!(Activation::Relu.to_string(), "relu");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(x, 0)`, derivative 0 at 0, a NaN kept, as in PyTorch (`nn.ReLU`).
    Relu,
    /// `1 / (1 + exp(-x))` (`nn.Sigmoid`).
    Sigmoid,
    /// `tanh(x)` (`nn.Tanh`).
    Tanh,
}

impl Module for Activation {
    fn forward(&mut self, tape: &mut Tape, x: Var, _mode: Mode) -> Var {
        match self {
            Activation::Relu => tape.relu(x),
            Activation::Sigmoid => tape.sigmoid(x),
            Activation::Tanh => tape.tanh(x),
        }
    }

    fn visit<'a>(&'a self, _path: Path<'_>, _visitor: &mut dyn Visitor<'a>) {}

    fn visit_mut<'a>(&'a mut self, _path: Path<'_>, _visitor: &mut dyn VisitorMut<'a>) {}

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        })
    }
}

/// The error of parsing an [`Activation`] from an unknown name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseActivationError(pub String);

impl fmt::Display for ParseActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown activation `{}` (expected relu, sigmoid or tanh)",
            self.0
        )
    }
}

impl std::error::Error for ParseActivationError {}

impl FromStr for Activation {
    type Err = ParseActivationError;

    /// `relu`, `sigmoid` or `tanh`, in any letter case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "relu" => Ok(Activation::Relu),
            "sigmoid" => Ok(Activation::Sigmoid),
            "tanh" => Ok(Activation::Tanh),
            _ => Err(ParseActivationError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModuleExt;
    use tapegrad_core::{gradcheck, Tensor};

    #[test]
    fn each_kind_matches_the_core_op_and_has_no_state() {
        let x = Tensor::from_vec(vec![2, 3], vec![-1.3, -0.4, 0.3, 0.8, 1.7, -2.1]);
        for mut a in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
            let mut tape = Tape::new();
            let v = tape.constant(x.clone());
            let y = a.forward(&mut tape, v, Mode::Train);
            let expected: Vec<f32> = x
                .data()
                .iter()
                .map(|&x| match a {
                    Activation::Relu => x.max(0.0),
                    Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                    Activation::Tanh => x.tanh(),
                })
                .collect();
            for (g, e) in tape.value(y).data().iter().zip(&expected) {
                assert!((g - e).abs() < 1e-6, "{a}: {g} vs {e}");
            }
            assert_eq!(a.param_count(), 0);
            gradcheck(std::slice::from_ref(&x), |t, v| {
                let mut a = a;
                a.forward(t, v[0], Mode::Train)
            })
            .unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    #[test]
    fn parse_round_trips_and_rejects_unknown_names() {
        for a in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
            assert_eq!(a.to_string().parse::<Activation>(), Ok(a));
        }
        assert_eq!("ReLU".parse::<Activation>(), Ok(Activation::Relu));
        let err = "gelu".parse::<Activation>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown activation `gelu` (expected relu, sigmoid or tanh)"
        );
    }
}
