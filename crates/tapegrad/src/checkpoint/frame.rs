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
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Writes `payload` behind the header to `path` atomically: a temporary file in the same
/// folder is written, flushed and synced, then renamed over `path`, so a crash at any point
/// leaves either the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, payload: &[u8]) -> Result<(), CheckpointError> {
    write_file_atomic(path, &framed(payload))
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

/// Writes `bytes` to `path` through a synced temporary file and a rename.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = File::create(&tmp).map_err(io(&tmp, "create"))?;
        file.write_all(bytes).map_err(io(&tmp, "write"))?;
        file.sync_all().map_err(io(&tmp, "sync"))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io(path, "rename"))?;
        // Make the rename itself durable; not every platform can open a folder, so a
        // failure here is not an error.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.tmp-<pid>`: hidden, beside the target (a rename across file systems would not
/// be atomic), and never taken for a checkpoint since it has no valid name.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Reads a framed file and returns its payload after checking magic, version, length and
/// checksum, in that order, each failure with its own error.
pub fn read_verified(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let mut bytes = fs::read(path).map_err(io(path, "read"))?;
    verify(&bytes, path)?;
    // The payload in place: dropping the header moves bytes instead of copying the file.
    bytes.drain(..HEADER_LEN);
    Ok(bytes)
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
