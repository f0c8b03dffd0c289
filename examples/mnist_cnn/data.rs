//! The MNIST splits a run uses: all of each, or the first `--train-limit` and `--test-limit`
//! images, checked to be the 28x28 images the net is built for.

use crate::args::Args;
use crate::model::IMAGE;
use tapegrad::prelude::*;

/// MNIST from `--data` (or where `Mnist::load` looks), cut to the limits.
pub fn load(args: &Args) -> Result<Mnist, String> {
    let mut mnist = Mnist::load(args.run.data.as_deref()).map_err(|e| e.to_string())?;
    for (split, which) in [(&mnist.train, "training"), (&mnist.test, "test")] {
        if [split.rows, split.cols] != IMAGE[1..] {
            return Err(format!(
                "the {which} images are {}x{}: the net takes MNIST's {}x{}",
                split.rows, split.cols, IMAGE[1], IMAGE[2]
            ));
        }
    }
    limit(
        &mut mnist.train,
        args.train_limit,
        "--train-limit",
        "training",
    )?;
    limit(&mut mnist.test, args.test_limit, "--test-limit", "test")?;
    Ok(mnist)
}

/// Keeps the first `limit` images of `split`, if a limit is given; more than it has is
/// refused, since the run would not be the one asked for.
fn limit(split: &mut Split, limit: Option<usize>, flag: &str, which: &str) -> Result<(), String> {
    let Some(n) = limit else {
        return Ok(());
    };
    if n > split.len() {
        return Err(format!(
            "{flag} {n}: there are only {} {which} images",
            split.len()
        ));
    }
    split.images.truncate(n * split.pixels_per_image());
    split.labels.truncate(n);
    Ok(())
}
