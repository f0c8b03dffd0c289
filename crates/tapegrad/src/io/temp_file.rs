//! The exclusive temporary file an atomic write goes through.
//!
//! `OpenOptions::create_new` is `O_CREAT | O_EXCL`: it fails when anything, a symlink
//! included, already has the name, so it never follows a planted link and never opens another
//! process's file; and the name is random, so it cannot be planted in advance. That is the
//! whole of what `tempfile`'s `NamedTempFile` does here; written with std alone, the library
//! keeps `tempfile` (and its four dependencies) out of the first build of every user.

use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Names tried before giving up: a collision of 6 random characters needs another writer in
/// the same folder, so a second name is already rare.
const ATTEMPTS: u32 = 64;

/// The characters of the random part of a name (portable file name characters).
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A file created exclusively; removed when dropped unless [`TempFile::persist`] renamed it.
pub(super) struct TempFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl TempFile {
    /// Creates `dir/{prefix}XXXXXX` (`random_chars` random characters) with mode 0666 less the
    /// umask, as `File::create` would.
    pub(super) fn create_in(
        dir: &Path,
        prefix: &OsString,
        random_chars: usize,
    ) -> io::Result<Self> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let mut name = prefix.clone();
            name.push(random_name(random_chars));
            let path = dir.join(name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o666);
            }
            match options.open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        kept: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
    }

    /// The open file.
    pub(super) fn as_file(&self) -> &File {
        &self.file
    }

    /// Renames the file to `target` (atomic within one file system); on an error the file is
    /// still removed when dropped.
    pub(super) fn persist(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target)?;
        self.kept = true;
        Ok(())
    }

    /// Removes the file now, reporting an error that dropping it would ignore.
    pub(super) fn close(mut self) -> io::Result<()> {
        self.kept = true;
        fs::remove_file(&self.path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// `len` characters drawn from [`ALPHABET`]. std's `RandomState` is keyed from the operating
/// system's entropy once per process; a counter and the clock make each call differ.
fn random_name(len: usize) -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut bits = hasher.finish();
    (0..len)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize];
            bits /= ALPHABET.len() as u64;
            c as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_and_use_the_alphabet() {
        let a = random_name(6);
        let b = random_name(6);
        assert_ne!(a, b);
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
    }

    #[test]
    fn a_dropped_file_is_removed_and_a_persisted_one_kept() {
        let dir = std::env::temp_dir().join(format!("tapegrad-temp-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let prefix = OsString::from(".x.tmp-");
        let dropped = TempFile::create_in(&dir, &prefix, 6).unwrap();
        let dropped_path = dropped.path.clone();
        drop(dropped);
        assert!(!dropped_path.exists());
        let kept = TempFile::create_in(&dir, &prefix, 6).unwrap();
        kept.persist(&dir.join("x")).unwrap();
        assert!(dir.join("x").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
