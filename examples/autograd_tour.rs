//! A ten-line tour of the autograd: record a computation on a tape, walk it backwards,
//! read the gradients from a store kept apart from the values.
//!
//! `cargo run --release --example autograd_tour`
use tapegrad::prelude::*;

fn main() {
    let w = Param::new(Tensor::from_vec(
        vec![2, 3],
        vec![0.5, -0.3, 0.8, 0.1, 0.2, -0.6],
    ));
    let mut tape = Tape::new();
    let x = tape.constant(Tensor::from_vec(vec![1, 3], vec![1.0, 2.0, 3.0]));
    let wv = tape.param(&w);
    let logits = tape.linear(x, wv, None); // x @ W^T, PyTorch's layout
    let loss = tape.cross_entropy(logits, &[1]); // fused log-softmax + NLL
    let grads = tape.backward(loss); // reverse walk into a gradient store
    println!("loss = {:.4}", tape.value(loss).item());
    println!("dL/dW = {:?}", grads.param(&w).expect("w was used").data());
}
