//! # tapegrad-core
//!
//! `f32` tensors and a tape-based reverse-mode autograd.
//!
//! A [`Tape`] (a Wengert list) records each op with what its backward needs; values on it are
//! addressed by small `Copy` handles ([`Var`]); [`Tape::backward`] walks it in reverse into a
//! [`Gradients`] store kept apart from the tensors, keyed by handle and by [`ParamId`]. Every op, built-in or yours, goes through
//! the one [`Op`] trait, and [`gradcheck()`] checks any of them against finite differences.
//!
//! ```
//! use tapegrad_core::{Tape, Tensor, Param};
//!
//! let w = Param::new(Tensor::from_vec(vec![2, 3], vec![0.1, -0.2, 0.3, 0.0, 0.5, -0.1]));
//! let mut tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![1, 3], vec![1.0, 2.0, 3.0]));
//! let wv = tape.param(&w);
//! let logits = tape.linear(x, wv, None);          // x W^T, PyTorch's layout
//! let loss = tape.cross_entropy(logits, &[1]);
//! let grads = tape.backward(loss);
//! assert_eq!(grads.param(&w).unwrap().shape(), &[2, 3]);
//! ```
#![warn(missing_docs)]

mod gradcheck;
mod gradients;
mod op;
mod op_times;
mod ops;
mod param;
mod pool;
mod tape;
mod tensor;

pub use gradcheck::{
    gradcheck, gradcheck_with, GradcheckConfig, GradcheckError, GradcheckReport, OutputDerivative,
    REPORTED_OUTPUTS,
};
pub use gradients::Gradients;
pub use op::{BackwardCtx, ForwardCtx, Op};
pub use op_times::{OpTime, OpTimes};
pub use ops::{Conv2dConfig, Pool2dConfig, Size2};
pub use param::{Param, ParamId};
pub use tape::{Backward, Tape, Var};
pub use tensor::{AllocError, AllocFailure, Tensor};
