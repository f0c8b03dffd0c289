//! The smallest complete MNIST training: the same MLP with and without BatchNorm, one epoch
//! each, and both test accuracies.
//!
//! `MNIST_DIR=/path/to/mnist cargo run --release --example mnist_minimal`
use tapegrad::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mnist = Mnist::load(None)?;
    let pixels = mnist.train.pixels_per_image();
    for batch_norm in [false, true] {
        let mut model = Mlp::new(&[pixels, 512, 256, 10])
            .batch_norm(batch_norm)
            .seed(0)
            .build();
        let sgd = Sgd::new(SgdConfig {
            lr: 0.1,
            momentum: Some(Momentum::Classic(0.9)),
            ..Default::default()
        })?;
        let mut trainer = Trainer::new(sgd);
        // BatchNorm cannot train on a last batch of one sample: drop the partial batch.
        let mut batches = mnist
            .train
            .batches(BatchConfig::shuffled(128, 0).drop_last(true));
        while let Some(batch) = batches.next_batch() {
            trainer.step(&mut model, |tape, model| {
                let x = tape.constant_from_slice(&[batch.len(), pixels], batch.images);
                let logits = model.forward(tape, x, Mode::Train);
                tape.cross_entropy(logits, batch.labels)
            })?;
        }
        let test = evaluate(&mut model, &mnist.test, Mode::Eval);
        println!(
            "batch_norm {batch_norm:<5}  test accuracy {:.4}",
            test.accuracy
        );
    }
    Ok(())
}
