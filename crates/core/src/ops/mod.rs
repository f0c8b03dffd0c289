//! The built-in ops. Each file holds one family: the op's forward and backward side by side,
//! the `Tape` method that applies it, and its tests (forward by hand, gradcheck, misuse).

mod binary;
mod conv;
mod cross_entropy;
mod log_softmax;
mod matmul;
mod pool;
mod reduce;
mod reshape;
mod scalar;
mod size2;
mod unary;

pub use conv::Conv2dConfig;
pub use pool::Pool2dConfig;
pub use size2::Size2;
