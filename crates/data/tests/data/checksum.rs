//! SHA-256 of the decompressed data, against the embedded SHA256SUMS.

use tapegrad_data::{
    checksums, expected_sha256, sha256_hex, sha256_of_file, verify_file, verify_mnist_file,
    DataError, MNIST_FILES,
};

use crate::common::{gzip, temp_dir, valid_idx, write};

#[test]
fn the_embedded_list_has_every_mnist_file() {
    assert_eq!(checksums().count(), MNIST_FILES.len());
    for name in MNIST_FILES {
        let digest = expected_sha256(name).unwrap_or_else(|| panic!("no checksum for {name}"));
        assert_eq!(digest.len(), 64);
        assert!(digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(expected_sha256(&format!("{name}.gz")), Some(digest));
    }
}

#[test]
fn hashes_the_decompressed_bytes() {
    let dir = temp_dir();
    let bytes = valid_idx(&[7, 3]);
    let raw = write(dir.path(), "a", &bytes);
    let gz = write(dir.path(), "a.gz", &gzip(&bytes));
    let expected = sha256_hex(&bytes);
    assert_eq!(sha256_of_file(&raw).unwrap(), expected);
    assert_eq!(sha256_of_file(&gz).unwrap(), expected);
    verify_file(&gz, &expected).unwrap();
    verify_file(&gz, &expected.to_uppercase()).unwrap();
}

#[test]
fn reports_a_checksum_mismatch_with_file_expected_and_actual() {
    let dir = temp_dir();
    let bytes = valid_idx(&[3]);
    let path = write(dir.path(), "t10k-labels-idx1-ubyte.gz", &gzip(&bytes));
    let err = verify_mnist_file(&path).unwrap_err();
    let expected = expected_sha256("t10k-labels-idx1-ubyte").unwrap();
    let actual = sha256_hex(&bytes);
    match &err {
        DataError::ChecksumMismatch {
            path: p,
            expected: e,
            actual: a,
        } => {
            assert_eq!(p, &path);
            assert_eq!(e, expected);
            assert_eq!(a, &actual);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    let message = err.to_string();
    for part in ["t10k-labels-idx1-ubyte.gz", expected, actual.as_str()] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
}

#[test]
fn an_unknown_name_has_no_checksum() {
    let dir = temp_dir();
    let path = write(dir.path(), "cifar.bin", b"x");
    let err = verify_mnist_file(&path).unwrap_err();
    assert!(matches!(err, DataError::UnknownFile { .. }), "{err:?}");
}
