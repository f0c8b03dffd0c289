//! The IDX reader: good files and every way a file can be wrong.

use std::path::Path;

use tapegrad_data::{parse_idx, read_idx, DataError, MAX_IDX_BYTES};

use crate::alloc::measure;
use crate::common::{gzip, idx_bytes, temp_dir, valid_idx, write};

const LABEL: &str = "test.idx";

fn parse(bytes: &[u8]) -> Result<tapegrad_data::IdxArray, DataError> {
    parse_idx(bytes, Path::new(LABEL))
}

/// Parses `bytes` both raw and gzipped, checks both give the same outcome, and returns it.
fn parse_both(bytes: &[u8]) -> Result<tapegrad_data::IdxArray, DataError> {
    let raw = parse(bytes);
    let gz = parse(&gzip(bytes));
    assert_eq!(
        format!("{raw:?}"),
        format!("{gz:?}"),
        "raw and gzip disagree"
    );
    raw
}

#[test]
fn reads_a_good_raw_file() {
    let dir = temp_dir();
    let path = write(dir.path(), "images-idx3-ubyte", &valid_idx(&[2, 3, 4]));
    let array = read_idx(&path).unwrap();
    assert_eq!(array.dims, [2, 3, 4]);
    assert_eq!(array.rank(), 3);
    assert_eq!(array.data, (0..24).collect::<Vec<u8>>());
}

#[test]
fn reads_a_good_gzip_file_told_by_content_not_name() {
    let dir = temp_dir();
    let bytes = valid_idx(&[5, 2]);
    // Gzip content under a plain name, and plain content under a .gz name: both read.
    let gz = write(dir.path(), "labels-idx2-ubyte", &gzip(&bytes));
    let raw = write(dir.path(), "other-idx2-ubyte.gz", &bytes);
    let expected = parse(&bytes).unwrap();
    assert_eq!(read_idx(&gz).unwrap(), expected);
    assert_eq!(read_idx(&raw).unwrap(), expected);
    assert_eq!(expected.dims, [5, 2]);
}

#[test]
fn accepts_empty_dimensions() {
    let array = parse_both(&valid_idx(&[0, 28, 28])).unwrap();
    assert_eq!(array.dims, [0, 28, 28]);
    assert!(array.data.is_empty());
}

#[test]
fn rejects_wrong_magic() {
    let mut bytes = valid_idx(&[3]);
    bytes[0] = 0x01;
    let err = parse_both(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                magic: [1, 0, 8, 1],
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(LABEL) && message.contains("01 00 08 01"),
        "{message}"
    );
}

#[test]
fn rejects_unsupported_element_type() {
    // 0x0D is IDX's float type.
    let err = parse_both(&idx_bytes(0x0D, &[1], &[0, 0, 0, 0])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::UnsupportedType {
                type_code: 0x0D,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x0d"), "{err}");
}

#[test]
fn rejects_truncated_header() {
    let err = parse_both(&[0, 0, 8]).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::ShortHeader {
                needed: 4,
                found: 3,
                ..
            }
        ),
        "{err:?}"
    );
    // Rank 3 needs 4 + 12 header bytes; only one dimension is there.
    let err = parse_both(&[0, 0, 8, 3, 0, 0, 0, 1]).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::ShortHeader {
                needed: 16,
                found: 8,
                ..
            }
        ),
        "{err:?}"
    );
    let err = parse_both(&[]).unwrap_err();
    assert!(
        matches!(err, DataError::ShortHeader { found: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(LABEL));
}

#[test]
fn rejects_truncated_payload() {
    let mut bytes = valid_idx(&[4, 5]);
    bytes.truncate(bytes.len() - 3);
    let err = parse_both(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TruncatedPayload {
                expected: 20,
                found: 17,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("needs 20 bytes"), "{err}");
}

#[test]
fn rejects_trailing_bytes() {
    let mut bytes = valid_idx(&[4, 5]);
    bytes.push(0);
    let err = parse(&bytes).unwrap_err();
    assert!(
        matches!(err, DataError::TrailingBytes { expected: 20, .. }),
        "{err:?}"
    );
    let err = parse(&gzip(&bytes)).unwrap_err();
    assert!(
        matches!(err, DataError::TrailingBytes { expected: 20, .. }),
        "{err:?}"
    );
}

#[test]
fn rejects_dimensions_that_overflow() {
    let err = parse_both(&idx_bytes(0x08, &[u32::MAX; 3], &[])).unwrap_err();
    assert!(
        matches!(err, DataError::DimensionOverflow { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("overflow"), "{err}");
}

#[test]
fn rejects_claims_above_the_limit_without_allocating() {
    // 4 Gi * 255 elements: fits in u64 but is far above 1 GiB.
    let bytes = idx_bytes(0x08, &[u32::MAX, 255], &[1, 2, 3]);
    let (result, _, largest) = measure(|| parse(&bytes));
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TooLarge {
                limit: MAX_IDX_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        largest < 1 << 20,
        "allocated {largest} bytes for a lying header"
    );
}

#[test]
fn a_lying_header_below_the_limit_does_not_allocate_its_claim() {
    // 1000 * 1000 * 1000 bytes claimed (just under 1 GiB), 10 bytes present.
    let bytes = idx_bytes(0x08, &[1000, 1000, 1000], &[0; 10]);
    for input in [bytes.clone(), gzip(&bytes)] {
        let started = std::time::Instant::now();
        let (result, _, largest) = measure(|| parse(&input));
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TruncatedPayload {
                    expected: 1_000_000_000,
                    found: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            largest < 1 << 20,
            "allocated {largest} bytes for a lying header"
        );
        assert!(
            started.elapsed().as_secs() < 5,
            "took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn rejects_corrupt_gzip() {
    let gz = gzip(&valid_idx(&[50, 50]));
    // A damaged CRC trailer: the data inflates, the checksum does not match.
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xFF;
    // Garbage after the gzip magic: not even a valid gzip header.
    let mut bad_header = gz.clone();
    bad_header[2] = 0x00;
    for bytes in [bad_crc, bad_header] {
        let err = parse(&bytes).unwrap_err();
        assert!(matches!(err, DataError::CorruptGzip { .. }), "{err:?}");
        assert!(err.to_string().contains(LABEL), "{err}");
    }
    // A cut-off stream is an error too (corrupt or truncated, depending on where it stops).
    let err = parse(&gz[..gz.len() / 2]).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CorruptGzip { .. } | DataError::TruncatedPayload { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn file_errors_name_the_file() {
    let dir = temp_dir();
    let missing = dir.path().join("nope-idx1-ubyte");
    let err = read_idx(&missing).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope-idx1-ubyte"), "{err}");

    let path = write(dir.path(), "short-idx1-ubyte.gz", &gzip(&[0, 0, 8]));
    let err = read_idx(&path).unwrap_err();
    assert!(err.to_string().contains("short-idx1-ubyte.gz"), "{err}");
}
