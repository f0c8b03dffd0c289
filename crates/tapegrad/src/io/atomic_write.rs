//! The atomic write: resolve the destination (through symlinks, refusing what is not a
//! regular file), write a temporary file created exclusively beside it, give it the old
//! file's mode and owner, sync it and rename it over the destination.

use super::temp_file::TempFile;
use super::{WriteError, MAX_NAME_BYTES, NAME_MAX, TEMP_RANDOM_CHARS, TEMP_SUFFIX};
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Symlinks followed before giving up, as Linux's own limit (`ELOOP` after 40).
const MAX_SYMLINKS: usize = 40;

/// Where a write to a path really lands.
pub(super) struct Destination {
    /// The file that will be replaced or created (symlinks followed).
    pub(super) target: PathBuf,
    /// Its folder, where the temporary file goes: a rename is atomic only within one file
    /// system, and the target's folder is the one place sure to be on the target's.
    pub(super) dir: PathBuf,
    /// The target's file name.
    name: OsString,
    /// The target's metadata if it exists (always a regular file).
    existing: Option<Metadata>,
}

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError::Io {
        path,
        action,
        source,
    }
}

/// What a non-regular file is, for [`WriteError::NotRegular`].
fn kind_of(meta: &Metadata) -> &'static str {
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a fifo";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// Follows `path` to the file a write should replace and checks everything that can be
/// checked without writing: the name, the target's type, the folder.
pub(super) fn resolve(path: &Path) -> Result<Destination, WriteError> {
    let owned = || path.to_path_buf();
    if path.as_os_str().is_empty() {
        return Err(WriteError::NoFileName { path: owned() });
    }
    // `Path` drops a trailing '/', so `run.ckpt/` would otherwise be written as `run.ckpt`
    // although the user named a folder.
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Err(WriteError::TrailingSlash { path: owned() });
    }
    let mut current = path.to_path_buf();
    let mut existing = None;
    for hop in 0..=MAX_SYMLINKS {
        // A name no file system accepts names nothing (the OS would only say "File name too
        // long" about the lookup): it is reported as too long below.
        if current
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().len() > NAME_MAX)
        {
            break;
        }
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if hop == MAX_SYMLINKS {
                    return Err(WriteError::SymlinkLoop { path: owned() });
                }
                let link = fs::read_link(&current).map_err(io_error(path, "read its symlink"))?;
                // A relative link is relative to the folder holding the link.
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(meta) if meta.is_file() => {
                existing = Some(meta);
                break;
            }
            Ok(meta) => {
                return Err(WriteError::NotRegular {
                    path: owned(),
                    kind: kind_of(&meta),
                })
            }
            // Not there yet (or its folder is missing or not a folder: checked below).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                break
            }
            Err(e) => return Err(io_error(path, "inspect it")(e)),
        }
    }
    let name = current
        .file_name()
        .ok_or_else(|| WriteError::NoFileName { path: owned() })?
        .to_os_string();
    let len = name.as_encoded_bytes().len();
    if len > MAX_NAME_BYTES {
        return Err(WriteError::NameTooLong {
            path: owned(),
            len,
            max: MAX_NAME_BYTES,
        });
    }
    let dir = match current.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(WriteError::FolderNotADirectory {
                path: owned(),
                folder: dir,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(WriteError::MissingFolder {
                path: owned(),
                folder: dir,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(WriteError::FolderNotADirectory {
                path: owned(),
                folder: dir,
            })
        }
        Err(e) => return Err(io_error(path, "inspect its folder")(e)),
    }
    Ok(Destination {
        target: current,
        dir,
        name,
        existing,
    })
}

impl Destination {
    /// Creates `.NAME.tmp-XXXXXX` beside the target exclusively (see [`TempFile`]): it never
    /// follows a symlink planted at that name and never opens another process's file; the
    /// name is random, so it cannot be planted in advance either.
    pub(super) fn create_temp(&self) -> io::Result<TempFile> {
        let mut prefix = OsString::from(".");
        prefix.push(&self.name);
        prefix.push(TEMP_SUFFIX);
        TempFile::create_in(&self.dir, &prefix, TEMP_RANDOM_CHARS)
    }

    /// Gives the temporary file the replaced file's owner (where allowed) and mode.
    fn copy_ownership(&self, file: &File) -> io::Result<()> {
        #[cfg(unix)]
        if let Some(old) = &self.existing {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let new = file.metadata()?;
            if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
                // Only root may give a file away; an owner may still set a group they are
                // in. Neither is an error when refused: the data is what must be written.
                if std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())).is_err() {
                    let _ = std::os::unix::fs::fchown(file, None, Some(old.gid()));
                }
            }
            // After the owner: changing it clears the set-user-ID and set-group-ID bits.
            file.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))?;
        }
        #[cfg(not(unix))]
        if let Some(old) = &self.existing {
            file.set_permissions(old.permissions())?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a crash at any point leaves either the old file or
/// the new one, never a torn one, and never touches another file.
///
/// - A symlink is followed and its target replaced (the link stays a link); the temporary
///   file is created beside the target.
/// - A target that exists and is not a regular file (a device such as `/dev/null`, a fifo, a
///   folder) is refused with [`WriteError::NotRegular`] before anything is created.
/// - An existing file keeps its mode and, where the process may set it, its owner and group.
/// - The temporary file `.NAME.tmp-XXXXXX` is created exclusively under a random name, so
///   a symlink planted beside the target is never followed; it is removed on any error.
///
/// Errors name `path`, never the temporary file.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), WriteError> {
    let path = path.as_ref();
    let destination = resolve(path)?;
    let temp = destination
        .create_temp()
        .map_err(io_error(path, "create a file in its folder"))?;
    destination
        .copy_ownership(temp.as_file())
        .map_err(io_error(path, "set the mode of its new version"))?;
    temp.as_file()
        .write_all(bytes)
        .map_err(io_error(path, "write"))?;
    temp.as_file().sync_all().map_err(io_error(path, "sync"))?;
    // On an error the temporary file is dropped, which removes it.
    temp.persist(&destination.target)
        .map_err(io_error(path, "replace it"))?;
    // Make the rename itself durable; not every platform can open a folder, so a failure
    // here is not an error.
    if let Ok(dir) = File::open(&destination.dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
