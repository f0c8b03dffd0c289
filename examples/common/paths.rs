//! The checks of `--save`, `--export` and `--resume` that can be made before any data is
//! read: a destination that cannot be written, or an export that would overwrite the
//! checkpoint, would only fail or do harm after training.

use std::path::{Path, PathBuf};

/// Refuses a `--save` or `--export` that cannot be written, and an `--export` naming the file
/// of `--save` or `--resume`, however spelled.
pub fn check_outputs(
    save: Option<&Path>,
    export: Option<&Path>,
    resume: Option<&Path>,
) -> Result<(), String> {
    for (flag, path) in [("--save", save), ("--export", export)] {
        path.map_or(Ok(()), |p| writable(flag, p))?;
    }
    let Some(export) = export else {
        return Ok(());
    };
    for (flag, path) in [("--save", save), ("--resume", resume)] {
        match path {
            Some(path) if same_file(export, path) => {
                return Err(format!(
                    "--export {} and {flag} {} are the same file ({}): the exported weights \
                     would replace the checkpoint; give --export another path",
                    export.display(),
                    path.display(),
                    normalise(path).display()
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Asks the library's atomic write whether `path` can be written (an existing folder that
/// takes a new file, a name short enough for the temporary file beside it, no device or folder
/// in the way), without writing it: found now, not after an epoch of training.
fn writable(flag: &str, path: &Path) -> Result<(), String> {
    tapegrad::io::check_writable(path).map_err(|e| format!("{flag} {e}"))
}

/// Whether `a` and `b` name one file, however spelled (`X`, `./X`, `dir/../X`, a symbolic or
/// hard link): the file itself may not exist yet, so its folder is what gets resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    if normalise(a) == normalise(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (a.metadata(), b.metadata()) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

/// `path` made absolute with links, `.` and `..` resolved: the whole path if the file exists,
/// else its folder with the file name appended.
fn normalise(path: &Path) -> PathBuf {
    if let Ok(full) = path.canonicalize() {
        return full;
    }
    let folder = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (folder.canonicalize(), path.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => path.to_path_buf(),
    }
}
