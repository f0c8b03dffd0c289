//! Assembling a split, and loading from a directory with missing or wrong files.

use std::path::Path;

use tapegrad_data::{
    find_mnist_file, parse_idx, DataError, IdxArray, Mnist, MnistLocation, Origin, Split,
    MNIST_FILES,
};

use crate::common::{gzip, idx_bytes, temp_dir, valid_idx, write};

fn array(dims: &[u32], data: &[u8]) -> IdxArray {
    parse_idx(&idx_bytes(0x08, dims, data), Path::new("mem")).unwrap()
}

fn split(images: IdxArray, labels: IdxArray) -> Result<Split, DataError> {
    Split::from_idx(images, labels, Path::new("imgs"), Path::new("lbls"))
}

#[test]
fn assembles_a_split() {
    let s = split(array(&[2, 1, 3], &[1, 2, 3, 4, 5, 6]), array(&[2], &[9, 0])).unwrap();
    assert_eq!(
        (s.len(), s.rows, s.cols, s.pixels_per_image()),
        (2, 1, 3, 3)
    );
    assert_eq!(s.image(1), &[4, 5, 6]);
    assert_eq!(s.labels, [9, 0]);
    assert!(!s.is_empty());
}

#[test]
fn rejects_wrong_ranks() {
    let err = split(array(&[2, 3], &[0; 6]), array(&[2], &[0, 0])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongRank {
                what: "images",
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("imgs"), "{err}");
    let err = split(array(&[2, 1, 1], &[0; 2]), array(&[2, 1], &[0, 0])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongRank {
                what: "labels",
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("lbls"), "{err}");
}

#[test]
fn rejects_label_count_different_from_image_count() {
    let err = split(array(&[3, 1, 1], &[0; 3]), array(&[2], &[0, 0])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("imgs") && message.contains("lbls"),
        "{message}"
    );
}

#[test]
fn rejects_a_label_above_nine_naming_index_and_value() {
    let err = split(array(&[4, 1, 1], &[0; 4]), array(&[4], &[1, 9, 10, 200])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 2,
                value: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("#2") && message.contains("10") && message.contains("lbls"),
        "{message}"
    );
}

#[test]
#[should_panic(expected = "cannot be")]
fn split_new_checks_its_invariant() {
    Split::new(vec![0; 5], vec![1, 2], 1, 2);
}

#[test]
fn finds_gz_or_decompressed_names() {
    let dir = temp_dir();
    assert_eq!(find_mnist_file(dir.path(), "t10k-labels-idx1-ubyte"), None);
    let raw = write(dir.path(), "t10k-labels-idx1-ubyte", b"");
    assert_eq!(
        find_mnist_file(dir.path(), "t10k-labels-idx1-ubyte"),
        Some(raw)
    );
    let gz = write(dir.path(), "t10k-labels-idx1-ubyte.gz", b"");
    assert_eq!(
        find_mnist_file(dir.path(), "t10k-labels-idx1-ubyte"),
        Some(gz)
    );
}

fn location(dir: &Path, origin: Origin) -> MnistLocation {
    MnistLocation {
        dir: dir.to_path_buf(),
        origin,
    }
}

#[test]
fn missing_files_in_a_chosen_directory_are_an_error_not_a_download() {
    let dir = temp_dir();
    write(dir.path(), "train-labels-idx1-ubyte.gz", b"");
    // No mirror at all: if the loader tried to download, the error would say so.
    let err = Mnist::load_with_mirrors(&location(dir.path(), Origin::Explicit), &[]).unwrap_err();
    let DataError::MissingFiles { missing, .. } = &err else {
        panic!("expected missing files, got {err:?}");
    };
    assert_eq!(missing.len(), 3);
    let message = err.to_string();
    for part in [
        dir.path().to_str().unwrap(),
        "--data",
        "MNIST_DIR",
        "train-images-idx3-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "ossci-datasets",
        "place the files by hand",
    ] {
        assert!(message.contains(part), "message lacks {part:?}: {message}");
    }
    assert!(
        !message.contains("train-labels-idx1-ubyte[.gz]"),
        "{message}"
    );

    let err = Mnist::load_with_mirrors(&location(dir.path(), Origin::Env), &[]).unwrap_err();
    assert!(
        err.to_string().contains("MNIST_DIR environment variable"),
        "{err}"
    );
}

#[test]
fn missing_files_in_the_default_directory_are_downloaded() {
    let dir = temp_dir();
    let target = dir.path().join("datasets/mnist");
    let err = Mnist::load_with_mirrors(&location(&target, Origin::Default), &[]).unwrap_err();
    assert!(matches!(err, DataError::DownloadFailed { .. }), "{err:?}");
    assert!(
        target.is_dir(),
        "the default directory is created for the download"
    );
}

#[test]
fn a_wrong_file_is_caught_by_its_checksum_on_load() {
    let dir = temp_dir();
    // Well-formed, consistent, but not MNIST.
    for (name, dims) in [
        ("train-images-idx3-ubyte.gz", &[2u32, 2, 2][..]),
        ("train-labels-idx1-ubyte.gz", &[2][..]),
        ("t10k-images-idx3-ubyte", &[1, 2, 2][..]),
        ("t10k-labels-idx1-ubyte", &[1][..]),
    ] {
        let bytes = if dims.len() == 1 {
            idx_bytes(0x08, dims, &vec![0; dims[0] as usize])
        } else {
            valid_idx(dims)
        };
        let bytes = if name.ends_with(".gz") {
            gzip(&bytes)
        } else {
            bytes
        };
        write(dir.path(), name, &bytes);
    }
    assert_eq!(MNIST_FILES.len(), 4);
    let err = Mnist::load_with_mirrors(&location(dir.path(), Origin::Explicit), &[]).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("SHA-256"), "{err}");
}
