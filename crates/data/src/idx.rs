//! The IDX format (LeCun's MNIST container), raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic number `00 00 <type> <rank>`, then `rank` big-endian `u32`
//! dimensions, then the elements in row-major order and nothing else. Only type `0x08`
//! (unsigned byte) is read: it is the only one MNIST uses.
//!
//! The header is never trusted with an allocation: the claimed size is checked for overflow
//! and against [`MAX_IDX_BYTES`], raw input is checked against its actual length before any
//! buffer is reserved, and gzip input is read through a limit of the claimed size plus one byte.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::checksum::HashingReader;
use crate::decompress::{read_error, read_full, Decompressed};
use crate::error::DataError;

/// The most payload bytes one IDX file may claim (1 GiB; MNIST's largest file is 47 MB).
///
/// A header claiming more is rejected before anything is allocated.
pub const MAX_IDX_BYTES: usize = 1 << 30;

/// The IDX element type code for unsigned bytes.
const TYPE_U8: u8 = 0x08;

/// DEFLATE cannot expand its input more than about 1032 times, so a gzip file of `n` bytes
/// holds at most `1032 * n` bytes: a bound on what is worth reserving up front.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (MNIST images: `[count, rows, cols]`).
    pub dims: Vec<usize>,
    /// The elements in row-major order; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }
}

/// Reads the IDX file at `path`, raw or gzip-compressed (told by its first bytes, not its name).
///
/// ```no_run
/// let labels = tapegrad_data::read_idx("datasets/mnist/t10k-labels-idx1-ubyte.gz")?;
/// assert_eq!(labels.dims, [10_000]);
/// # Ok::<(), tapegrad_data::DataError>(())
/// ```
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    read_idx_with_digest(path, None).map(|(array, _)| array)
}

/// The rank a caller requires and what the array is (for [`DataError::WrongRank`]).
pub(crate) type ExpectedRank = Option<(usize, &'static str)>;

/// Parses an IDX file held in memory; `path` only labels the error messages.
///
/// ```
/// use std::path::Path;
/// // Magic 00 00 08 01 (u8, rank 1), one dimension of 3, then 3 bytes.
/// let bytes = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
/// let array = tapegrad_data::parse_idx(&bytes, Path::new("example"))?;
/// assert_eq!(array.dims, [3]);
/// assert_eq!(array.data, [7, 8, 9]);
/// # Ok::<(), tapegrad_data::DataError>(())
/// ```
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    let input = Decompressed::new(bytes).map_err(|e| DataError::io(path, e))?;
    decode(input, bytes.len() as u64, path, None).map(|(array, _)| array)
}

/// Reads an IDX file and returns the SHA-256 of its decompressed bytes with it, in one pass;
/// with `rank`, a header of another rank is refused before its dimensions are read.
pub(crate) fn read_idx_with_digest(
    path: &Path,
    rank: ExpectedRank,
) -> Result<(IdxArray, [u8; 32]), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let input_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let input = Decompressed::new(BufReader::new(file)).map_err(|e| DataError::io(path, e))?;
    decode(input, input_len, path, rank)
}

/// Decodes the (decompressed) IDX stream; `input_len` is the size of the input as stored.
fn decode<R: Read>(
    input: Decompressed<R>,
    input_len: u64,
    path: &Path,
    expected_rank: ExpectedRank,
) -> Result<(IdxArray, [u8; 32]), DataError> {
    let is_gzip = input.is_gzip();
    let mut reader = HashingReader::new(input);
    let read_err = |e| read_error(is_gzip, path, e);

    let mut magic = [0u8; 4];
    let found = read_full(&mut reader, &mut magic).map_err(read_err)?;
    if found < magic.len() {
        return Err(DataError::ShortHeader {
            path: path.to_path_buf(),
            needed: magic.len(),
            found,
        });
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            magic,
        });
    }
    if magic[2] != TYPE_U8 {
        return Err(DataError::UnsupportedType {
            path: path.to_path_buf(),
            type_code: magic[2],
        });
    }

    let rank = usize::from(magic[3]);
    // Checked on the magic number alone: with a wrong rank, the "dimensions" read next
    // would include payload bytes (an image file marked rank 4 takes its first pixels, 0,
    // as a fourth dimension) and every later message would describe a made-up shape.
    if let Some((expected, what)) = expected_rank.filter(|&(expected, _)| expected != rank) {
        return Err(DataError::WrongRank {
            path: path.to_path_buf(),
            what,
            expected,
            found: rank,
        });
    }
    let header_len = magic.len() + 4 * rank;
    let mut dim_bytes = vec![0u8; 4 * rank];
    let found = read_full(&mut reader, &mut dim_bytes).map_err(read_err)?;
    if found < dim_bytes.len() {
        return Err(DataError::ShortHeader {
            path: path.to_path_buf(),
            needed: header_len,
            found: magic.len() + found,
        });
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();

    let Some(expected) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(DataError::DimensionOverflow {
            path: path.to_path_buf(),
            dims,
        });
    };
    if expected > MAX_IDX_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            claimed: expected,
            limit: MAX_IDX_BYTES,
        });
    }

    // What can be reserved without trusting the header: for raw input the payload must be
    // exactly what is left of the file, so a mismatch is reported before reading it; for gzip,
    // no more than DEFLATE's maximum expansion of the compressed size.
    let reserve = if is_gzip {
        expected
            .min(usize::try_from(input_len.saturating_mul(MAX_DEFLATE_RATIO)).unwrap_or(usize::MAX))
    } else {
        let remaining =
            usize::try_from(input_len.saturating_sub(header_len as u64)).unwrap_or(usize::MAX);
        if remaining < expected {
            return Err(DataError::TruncatedPayload {
                path: path.to_path_buf(),
                dims,
                expected,
                found: remaining,
            });
        }
        if remaining > expected {
            return Err(DataError::TrailingBytes {
                path: path.to_path_buf(),
                dims,
                expected,
            });
        }
        expected
    };

    // One byte past the claim is enough to tell "trailing data" without reading all of it.
    let mut data = Vec::with_capacity(reserve);
    (&mut reader)
        .take(expected as u64 + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if data.len() < expected {
        return Err(DataError::TruncatedPayload {
            path: path.to_path_buf(),
            dims,
            expected,
            found: data.len(),
        });
    }
    if data.len() > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            dims,
            expected,
        });
    }
    Ok((IdxArray { dims, data }, reader.finish()))
}
