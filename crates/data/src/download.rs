//! Downloading the MNIST files from public mirrors.
//!
//! Each file is fetched from the mirrors in turn into a temporary file next to its final place,
//! its decompressed SHA-256 is checked, and only then is it renamed into place: an interrupted
//! or corrupt download never leaves a file that a later run would take for the real one.
//!
//! The transfer itself is `curl`'s (shipped with Linux distributions, macOS and Windows 10 and
//! later): an HTTP client in Rust brings a TLS stack of some twenty crates into every build of
//! the library, for a download that happens once per machine and whose bytes are checked
//! against `SHA256SUMS` anyway.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::checksum::{expected_sha256, sha256_of_file};
use crate::decompress::{read_full, GZIP_MAGIC};
use crate::error::{DataError, MirrorAttempt};

/// Public mirrors of the MNIST files, tried in this order (each serves `NAME.gz` under it).
///
/// Yann LeCun's original site is last: it has been intermittently unavailable for years.
pub const MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// The most bytes accepted from a mirror for one file (the largest MNIST file is 9.5 MB).
const MAX_DOWNLOAD_BYTES: u64 = 256 << 20;

/// Downloads MNIST file `name` (e.g. `"train-images-idx3-ubyte"`) into `dir`, trying each base
/// URL in `mirrors` in turn, and checks it against the embedded `SHA256SUMS`.
///
/// Returns the path written: `dir/NAME.gz` (or `dir/NAME` if a mirror served it uncompressed).
pub fn download_file(
    dir: impl AsRef<Path>,
    name: &str,
    mirrors: &[&str],
) -> Result<PathBuf, DataError> {
    let dir = dir.as_ref();
    let expected = expected_sha256(name).ok_or_else(|| DataError::UnknownFile {
        path: dir.join(name),
    })?;
    download_verified(dir, name, expected, mirrors)
}

/// Downloads `NAME.gz` from the first of `mirrors` that serves it with the SHA-256 `expected`
/// (lowercase hex, of the *decompressed* bytes), and moves it into `dir` atomically.
///
/// A mirror that cannot be reached, answers with an error status or serves the wrong bytes is
/// skipped; if none succeeds the error lists every URL tried with its failure.
pub fn download_verified(
    dir: &Path,
    name: &str,
    expected: &str,
    mirrors: &[&str],
) -> Result<PathBuf, DataError> {
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let file = format!("{name}.gz");
    // A name no loader looks for, unique per process, so two concurrent runs cannot clash.
    let temp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    let mut attempts = Vec::new();
    for base in mirrors {
        let url = format!("{}/{file}", base.trim_end_matches('/'));
        eprintln!("downloading {url}");
        let result = fetch(&url, &temp).and_then(|()| check(&temp, expected));
        match result {
            Ok(()) => {
                let published = publish(&temp, dir, name);
                if published.is_err() {
                    let _ = fs::remove_file(&temp);
                }
                return published;
            }
            Err(error) => {
                let _ = fs::remove_file(&temp);
                attempts.push(MirrorAttempt { url, error });
            }
        }
    }
    Err(DataError::DownloadFailed {
        file,
        dir: dir.to_path_buf(),
        attempts,
    })
}

/// Streams `url` into the file `temp` through `curl`; errors are strings because they go into
/// a report of every mirror, not up the call stack.
///
/// curl gives up on a mirror that does not connect within 15 s or sends nothing for 60 s, but
/// not on a slow one; `--fail` turns an HTTP error status into an error.
fn fetch(url: &str, temp: &Path) -> Result<(), String> {
    let mut child = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location"])
        .args([
            "--connect-timeout",
            "15",
            "--speed-limit",
            "1",
            "--speed-time",
            "60",
        ])
        .args(["--max-filesize", &MAX_DOWNLOAD_BYTES.to_string()])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run curl ({e}): install curl, or place the files by hand"))?;
    let body = child.stdout.take().expect("curl's stdout is piped");
    let bar = progress_bar(None, url);
    let copied = write_body(bar.wrap_read(body.take(MAX_DOWNLOAD_BYTES + 1)), temp);
    bar.finish_and_clear();
    // Stop curl if the copy ended early (a write error, or more bytes than the limit).
    if !matches!(copied, Ok(n) if n <= MAX_DOWNLOAD_BYTES) {
        let _ = child.kill();
    }
    let output = child.wait_with_output().map_err(|e| format!("curl: {e}"))?;
    if copied? > MAX_DOWNLOAD_BYTES {
        return Err(format!("more than {MAX_DOWNLOAD_BYTES} bytes"));
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(match stderr.trim() {
            "" => format!("curl failed ({})", output.status),
            message => message.to_string(),
        });
    }
    Ok(())
}

/// Copies `body` into a new file `temp` and makes the bytes durable before the rename that
/// publishes them; returns the number of bytes.
fn write_body(mut body: impl Read, temp: &Path) -> Result<u64, String> {
    let out = File::create(temp).map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
    let mut out = BufWriter::new(out);
    let n = io::copy(&mut body, &mut out).map_err(|e| format!("transfer failed: {e}"))?;
    let out = out
        .into_inner()
        .map_err(|e| format!("cannot write {}: {}", temp.display(), e.error()))?;
    out.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    Ok(n)
}

/// Checks the decompressed SHA-256 of the downloaded file.
fn check(temp: &Path, expected: &str) -> Result<(), String> {
    let actual = sha256_of_file(temp).map_err(|e| e.to_string())?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(format!(
            "checksum mismatch: SHA-256 of the decompressed data is {actual}, expected {expected}"
        ))
    }
}

/// Moves the verified download to its final name: `NAME.gz` if it is gzip (as the mirrors
/// serve it), `NAME` if it arrived decompressed. The rename is atomic within one directory.
fn publish(temp: &Path, dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let mut head = [0u8; 2];
    let n = File::open(temp)
        .and_then(|mut f| read_full(&mut f, &mut head))
        .map_err(|e| DataError::io(temp, e))?;
    let target = if n == head.len() && head == GZIP_MAGIC {
        dir.join(format!("{name}.gz"))
    } else {
        dir.join(name)
    };
    fs::rename(temp, &target).map_err(|e| DataError::io(&target, e))?;
    Ok(target)
}

/// A byte progress bar on stderr, hidden when stderr is not a terminal (CI logs, pipes).
fn progress_bar(len: Option<u64>, url: &str) -> ProgressBar {
    let target = if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(len, target);
    let template = if len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} {spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    bar
}
