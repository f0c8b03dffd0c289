//! The built-in ops. Each file holds one family: the op's forward and backward side by side,
//! the `Tape` method that applies it, and its tests (forward by hand, gradcheck, misuse).

mod binary;
mod cross_entropy;
mod log_softmax;
mod matmul;
mod reduce;
mod reshape;
mod scalar;
mod unary;
