//! The real MNIST, found the way a user's run finds it. Fails, never skips, when it is missing:
//! CI sets `MNIST_DIR`; locally run with `MNIST_DIR=/path/to/mnist cargo test -p tapegrad-data`
//! or place the files in the workspace's `datasets/mnist/`.

use std::path::Path;

use tapegrad_data::{
    find_mnist_file, verify_mnist_file, BatchConfig, Mnist, MnistLocation, Origin,
    DEFAULT_MNIST_DIR, MNIST_FILES,
};

use crate::server::Server;

/// The normal resolution, except that the default directory is the workspace's (cargo runs
/// tests from the crate's directory, users run from the workspace root).
fn location() -> MnistLocation {
    let mut location = MnistLocation::resolve(None);
    if location.origin == Origin::Default {
        location.dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(DEFAULT_MNIST_DIR);
    }
    location
}

fn load(location: &MnistLocation) -> Mnist {
    Mnist::load_from(location).unwrap_or_else(|e| {
        panic!(
            "the real MNIST could not be loaded from {} ({}): {e}\n\
             set MNIST_DIR to a directory holding the four files (CI: /work/shared/datasets/mnist)",
            location.dir.display(),
            location.origin
        )
    })
}

fn check(mnist: &Mnist) {
    for (split, len) in [(&mnist.train, 60_000), (&mnist.test, 10_000)] {
        assert_eq!(split.len(), len);
        assert_eq!((split.rows, split.cols), (28, 28));
        assert_eq!(split.images.len(), len * 784);
        assert!(split.labels.iter().all(|&l| l <= 9));
    }
    // Every digit occurs; the first training label of MNIST is a 5.
    assert_eq!(mnist.train.labels[0], 5);
    for digit in 0..10 {
        assert!(mnist.test.labels.contains(&digit));
    }
}

#[test]
fn loads_the_real_mnist() {
    let location = location();
    let mnist = load(&location);
    check(&mnist);
    for name in MNIST_FILES {
        verify_mnist_file(find_mnist_file(&location.dir, name).unwrap()).unwrap();
    }
    // The test set in order, in batches of 1000, normalized to about mean 0 and std 1.
    let mut batches = mnist.test.batches(BatchConfig::sequential(1000));
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0usize);
    while let Some(batch) = batches.next_batch() {
        for &x in batch.images {
            sum += f64::from(x);
            sum_sq += f64::from(x) * f64::from(x);
        }
        n += batch.images.len();
    }
    let mean = sum / n as f64;
    let std = (sum_sq / n as f64 - mean * mean).sqrt();
    assert!(
        mean.abs() < 0.05 && (std - 1.0).abs() < 0.05,
        "mean {mean}, std {std}"
    );
}

#[test]
fn downloads_the_real_files_from_a_loopback_mirror() {
    let source = location();
    let routes = MNIST_FILES
        .iter()
        .map(|name| {
            let path = find_mnist_file(&source.dir, name).unwrap_or_else(|| {
                panic!(
                    "{name} is missing in {} ({}): set MNIST_DIR",
                    source.dir.display(),
                    source.origin
                )
            });
            let bytes = std::fs::read(&path).unwrap();
            (format!("/mnist/{name}.gz"), bytes)
        })
        .collect();
    let server = Server::start(routes, MNIST_FILES.len());
    let dir = tempfile::tempdir().unwrap();
    let target = MnistLocation {
        dir: dir.path().join("datasets/mnist"),
        origin: Origin::Default,
    };
    let mirror = format!("{}mnist/", server.base);
    let mnist = Mnist::load_with_mirrors(&target, &[&mirror]).unwrap();
    check(&mnist);
    assert_eq!(server.requests().len(), 4);
    // A second load finds the files and downloads nothing (no mirror given).
    check(&Mnist::load_with_mirrors(&target, &[]).unwrap());
}
