//! Probing a destination before a long run.

use super::atomic_write::resolve;
use super::WriteError;
use std::path::Path;

/// Checks that [`super::write_atomic`] can write `path`, without writing it and without
/// leaving anything behind, so a program can refuse a bad `--save` path before training
/// instead of after the first epoch.
///
/// It refuses a path ending in `/`, a name too long for the temporary file
/// ([`super::MAX_NAME_BYTES`]), an existing target (after symlinks) that is not a regular
/// file (a folder, a device, a fifo), a missing folder or one that is not a folder, and a
/// folder where no file can be created (read-only, `/proc`, a read-only file system): that
/// last question is answered by creating the temporary file the write would create and
/// removing it, the only test that holds for every user, root included, and every file
/// system. An existing file is not opened or changed.
///
/// A check is not a promise: the folder can change between the check and the write, which
/// reports its own errors.
pub fn check_writable(path: impl AsRef<Path>) -> Result<(), WriteError> {
    let path = path.as_ref();
    let destination = resolve(path)?;
    let probe = destination.create_temp().map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        action: "create a file in its folder",
        source,
    })?;
    probe.close().map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        action: "remove the probe file from its folder",
        source,
    })
}
