//! The checkpoint file frame: a fixed header (magic, format version, payload length,
//! SHA-256 of the payload) before the payload, written atomically.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "TPGRDCK\0"
//!      8     4  format version, little-endian u32
//!     12     8  payload length, little-endian u64
//!     20    32  SHA-256 of the payload
//!     52     …  payload (bincode 2, standard configuration)
//! ```

use super::CheckpointError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The first eight bytes of every tapegrad checkpoint.
pub const MAGIC: [u8; 8] = *b"TPGRDCK\0";
/// The checkpoint format this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io {
        path,
        action,
        source,
    }
}

/// Writes `payload` behind the header to `path` atomically ([`crate::io::write_atomic`]): a
/// crash at any point leaves either the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, payload: &[u8]) -> Result<(), CheckpointError> {
    Ok(crate::io::write_atomic(path, &framed(payload))?)
}

/// `payload` behind its header: the bytes of a checkpoint file.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(payload));
    bytes.extend_from_slice(payload);
    bytes
}

/// Reads a framed file and returns its payload after checking magic, version, length and
/// checksum, in that order, each failure with its own error.
///
/// The header is read and checked first, and the payload length it declares is compared
/// with the file's size before anything else is read or reserved: `/dev/zero` or any large
/// file that is not a checkpoint costs 52 bytes, and a header claiming more than the file
/// holds is refused as truncated. What is not a regular file (a pipe, a device) has no size
/// to compare with: it is read up to the declared length, into a buffer that grows only as
/// bytes arrive.
pub fn read_verified(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let mut file = File::open(path).map_err(io(path, "read"))?;
    let meta = file.metadata().map_err(io(path, "read"))?;
    let mut header = [0u8; HEADER_LEN];
    let got = read_full(&mut file, &mut header).map_err(io(path, "read"))?;
    // A pipe or device has no size to compare the declared length with.
    let size = if meta.is_file() { meta.len() } else { u64::MAX };
    let declared = check_header(&header[..got], size, path)?;
    // Only a pipe or device can get here with a length beyond memory; it is reserved in
    // part and read until it ends.
    let payload_len = usize::try_from(declared).unwrap_or(usize::MAX);
    let reserve = if meta.is_file() {
        payload_len
    } else {
        payload_len.min(STREAM_RESERVE)
    };
    let mut bytes = Vec::with_capacity(HEADER_LEN.saturating_add(reserve));
    bytes.extend_from_slice(&header);
    // One byte past the declared end tells a file that grew (or a longer stream) apart.
    (&mut file)
        .take(declared.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io(path, "read"))?;
    verify(&bytes, path)?;
    // The payload in place: dropping the header moves bytes instead of copying the file.
    bytes.drain(..HEADER_LEN);
    Ok(bytes)
}

/// The most bytes reserved up front for a payload read from a pipe or device, whose length
/// cannot be checked before reading: beyond it the buffer grows as bytes arrive.
const STREAM_RESERVE: usize = 1 << 20;

/// Checks the header's magic and version with [`verify`]'s own errors and returns the
/// payload length it declares, refusing one longer than the `size` bytes the file holds.
fn check_header(header: &[u8], size: u64, path: &Path) -> Result<u64, CheckpointError> {
    // A header alone fails `verify` as a truncated payload (or, for an empty payload, maybe
    // a checksum): those are judged against the whole file. Anything else (a bad magic
    // number, another version, a short header) is the answer.
    if let Err(e) = verify(header, path) {
        if !matches!(
            e,
            CheckpointError::Truncated {
                what: "the payload",
                ..
            } | CheckpointError::ChecksumMismatch { .. }
        ) {
            return Err(e);
        }
    }
    let declared = header
        .get(12..20)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    let expected = (HEADER_LEN as u64).saturating_add(declared);
    if size < expected {
        return Err(CheckpointError::Truncated {
            path: path.to_path_buf(),
            what: "the payload",
            expected,
            found: size,
        });
    }
    Ok(declared)
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Checks a framed file held in memory (magic, version, length, checksum, in that order)
/// and returns its payload; `path` only labels the errors.
pub fn verify<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], CheckpointError> {
    let found = bytes.len() as u64;
    let truncated = |what, expected| CheckpointError::Truncated {
        path: path.to_path_buf(),
        what,
        expected,
        found,
    };
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(truncated("the header", HEADER_LEN as u64));
        }
        return Err(CheckpointError::BadMagic {
            path: path.to_path_buf(),
            found: bytes[..bytes.len().min(MAGIC.len())].to_vec(),
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(truncated("the header", HEADER_LEN as u64));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (HEADER_LEN as u64).saturating_add(len);
    if found < expected {
        return Err(truncated("the payload", expected));
    }
    let payload = &bytes[HEADER_LEN..];
    if found > expected || Sha256::digest(payload)[..] != bytes[20..52] {
        return Err(CheckpointError::ChecksumMismatch {
            path: path.to_path_buf(),
        });
    }
    Ok(payload)
}
