//! What saving, exporting and loading do with the files around them: symlinks are written
//! through, devices, fifos and folders are refused, an existing file keeps its mode and
//! owner, a file planted at a predictable temporary name is never followed, a destination
//! can be probed before training, and a checkpoint's header is checked before its payload
//! is read.
//!
//! These tests run as root here. Root bypasses file modes, so the cases that depend on them
//! (a read-only folder) run again in a child process without the two capabilities that
//! grant the bypass (`setpriv`), where they mean what they mean for any other user.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use tapegrad_testutil::file_modes::{bypasses_file_modes, rerun_without_mode_bypass};

use tapegrad::checkpoint::{frame, Checkpoint, CheckpointError};
use tapegrad::io::{check_writable, WriteError, MAX_NAME_BYTES};
use tapegrad::layers::{Mlp, ModuleExt, Sequential};
use tapegrad::prelude::export_safetensors;
use tapegrad_testutil::alloc::{measure, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn model(seed: u64) -> Sequential {
    Mlp::new(&[4, 8, 3]).seed(seed).build()
}

fn first_weights(path: &Path) -> Vec<f32> {
    let checkpoint = Checkpoint::load(path).unwrap();
    checkpoint.model.params[0].data.clone()
}

fn weights_of(seed: u64) -> Vec<f32> {
    model(seed).named_params()[0].1.value().data().to_vec()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

// ---- A: atomic saves ----------------------------------------------------------------------

#[test]
fn saving_through_a_symlink_writes_its_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("runs")).unwrap();
    let target = dir.path().join("runs/real.ckpt");
    Checkpoint::of_model(&model(1)).save(&target).unwrap();
    let link = dir.path().join("latest.ckpt");
    std::os::unix::fs::symlink("runs/real.ckpt", &link).unwrap();

    Checkpoint::of_model(&model(2)).save(&link).unwrap();

    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("runs/real.ckpt"));
    assert_eq!(first_weights(&target), weights_of(2));
    assert_eq!(listing(dir.path()), ["latest.ckpt", "runs"]);
    assert_eq!(listing(&dir.path().join("runs")), ["real.ckpt"]);
}

#[test]
fn saving_through_a_dangling_symlink_creates_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("latest.ckpt");
    std::os::unix::fs::symlink("new.ckpt", &link).unwrap();
    Checkpoint::of_model(&model(3)).save(&link).unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(first_weights(&dir.path().join("new.ckpt")), weights_of(3));
}

#[test]
fn saving_or_exporting_onto_a_fifo_or_a_folder_is_refused_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let folder = dir.path().join("folder.ckpt");
    fs::create_dir(&folder).unwrap();
    let linked = dir.path().join("link-to-pipe");
    std::os::unix::fs::symlink(&fifo, &linked).unwrap();

    for path in [&fifo, &folder, &linked] {
        let err = Checkpoint::of_model(&model(1)).save(path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Write(WriteError::NotRegular { .. })),
            "{err}"
        );
        let err = export_safetensors(&model(1), path).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Write(WriteError::NotRegular { .. })),
            "{err}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::metadata(&folder).unwrap().is_dir());
    assert!(fs::symlink_metadata(&linked)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(listing(dir.path()), ["folder.ckpt", "link-to-pipe", "pipe"]);
}

#[test]
fn exporting_to_dev_null_is_refused_and_leaves_the_device() {
    // The probe must refuse first: if it did not, the export below could replace the
    // machine's /dev/null, so the test stops before trying.
    assert!(matches!(
        check_writable(Path::new("/dev/null")),
        Err(WriteError::NotRegular { .. })
    ));
    let err = export_safetensors(&model(1), Path::new("/dev/null")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/null: cannot write here: it is a character device, not a regular file"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn saving_keeps_the_mode_and_owner_of_the_file_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    let exported = dir.path().join("model.safetensors");
    Checkpoint::of_model(&model(1)).save(&path).unwrap();
    export_safetensors(&model(1), &exported).unwrap();
    for file in [&path, &exported] {
        fs::set_permissions(file, fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Only a process that may give files away can test the owner; it is checked as well.
    let other_owner = bypasses_file_modes()
        && std::os::unix::fs::chown(&path, Some(4321), Some(4321)).is_ok()
        && std::os::unix::fs::chown(&exported, Some(4321), Some(4321)).is_ok();

    Checkpoint::of_model(&model(2)).save(&path).unwrap();
    export_safetensors(&model(2), &exported).unwrap();

    for file in [&path, &exported] {
        let meta = fs::metadata(file).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600, "{}", file.display());
        if other_owner {
            assert_eq!((meta.uid(), meta.gid()), (4321, 4321), "{}", file.display());
        }
    }
    assert_eq!(first_weights(&path), weights_of(2));
}

#[test]
fn a_new_file_gets_the_mode_the_umask_allows() {
    let umask = fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    Checkpoint::of_model(&model(1)).save(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask);
}

#[test]
fn a_symlink_planted_at_the_old_temporary_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let path = dir.path().join("run.ckpt");
    // The name the writer used to create without O_EXCL, for checkpoints and exports.
    let planted = dir
        .path()
        .join(format!(".run.ckpt.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();

    Checkpoint::of_model(&model(1)).save(&path).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"precious");

    let exported = dir.path().join("w.safetensors");
    let planted = dir
        .path()
        .join(format!(".w.safetensors.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    export_safetensors(&model(1), &exported).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert_eq!(first_weights(&path), weights_of(1));
}

#[test]
fn a_failed_save_names_the_destination_not_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing/run.ckpt");
    // No file can be created in /proc/self, even by root: the temporary file fails.
    let unwritable = Path::new("/proc/self/run.ckpt");
    for path in [missing.as_path(), unwritable] {
        let message = Checkpoint::of_model(&model(1))
            .save(path)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(!message.contains(".run.ckpt.tmp-"), "{message}");
        assert!(!message.contains(" at path "), "{message}");
    }
    assert_eq!(
        Checkpoint::of_model(&model(1))
            .save(unwritable)
            .unwrap_err()
            .to_string(),
        "/proc/self/run.ckpt: cannot create a file in its folder: No such file or directory (os error 2)"
    );
}

// ---- B: probing a destination before training ------------------------------------------------

#[test]
fn probing_a_good_destination_succeeds_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("run.ckpt");
    check_writable(&new).unwrap();
    assert!(listing(dir.path()).is_empty());

    let existing = dir.path().join("old.ckpt");
    fs::write(&existing, b"old").unwrap();
    check_writable(&existing).unwrap();
    assert_eq!(fs::read(&existing).unwrap(), b"old");
    assert_eq!(listing(dir.path()), ["old.ckpt"]);
}

#[test]
fn probing_a_missing_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/run.ckpt");
    let err = check_writable(&path).unwrap_err();
    assert!(matches!(err, WriteError::MissingFolder { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the folder {} does not exist",
            path.display(),
            dir.path().join("no/such/folder").display()
        )
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn probing_a_file_in_place_of_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("plain"), b"").unwrap();
    let err = check_writable(dir.path().join("plain/run.ckpt")).unwrap_err();
    assert!(
        matches!(err, WriteError::FolderNotADirectory { .. }),
        "{err}"
    );
}

#[test]
fn probing_a_read_only_folder_is_refused_and_leaves_nothing() {
    if rerun_without_mode_bypass("probing_a_read_only_folder_is_refused_and_leaves_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("ro");
    fs::create_dir(&folder).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    let path = folder.join("run.ckpt");
    let err = check_writable(&path).unwrap_err();
    assert!(
        matches!(
            err,
            WriteError::Io {
                action: "create a file in its folder",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    // And the save itself says the same.
    let err = Checkpoint::of_model(&model(1)).save(&path).unwrap_err();
    assert!(err.to_string().contains("Permission denied"), "{err}");
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(listing(&folder).is_empty());
}

#[test]
fn probing_under_proc_is_refused_even_for_root() {
    for path in ["/proc/tapegrad-run.ckpt", "/proc/self/tapegrad-run.ckpt"] {
        let err = check_writable(Path::new(path)).unwrap_err();
        assert!(matches!(err, WriteError::Io { .. }), "{path}: {err}");
        assert!(err.to_string().starts_with(path), "{err}");
    }
}

#[test]
fn probing_a_path_with_a_trailing_slash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/run.ckpt/", dir.path().display());
    let err = check_writable(Path::new(&path)).unwrap_err();
    assert!(matches!(err, WriteError::TrailingSlash { .. }), "{err}");
    let err = Checkpoint::of_model(&model(1))
        .save(Path::new(&path))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Write(WriteError::TrailingSlash { .. })
        ),
        "{err}"
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn probing_a_name_too_long_for_the_temporary_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The longest name whose temporary file (".NAME.tmp-XXXXXX") still fits in 255 bytes.
    let longest = dir.path().join("a".repeat(MAX_NAME_BYTES));
    check_writable(&longest).unwrap();
    Checkpoint::of_model(&model(1)).save(&longest).unwrap();
    assert_eq!(first_weights(&longest), weights_of(1));

    for len in [MAX_NAME_BYTES + 1, 255, 300] {
        let path = dir.path().join("b".repeat(len));
        let err = check_writable(&path).unwrap_err();
        assert!(
            matches!(err, WriteError::NameTooLong { .. }),
            "{len}: {err}"
        );
        let err = Checkpoint::of_model(&model(1)).save(&path).unwrap_err();
        assert!(matches!(
            err,
            CheckpointError::Write(WriteError::NameTooLong { .. })
        ));
    }
    assert_eq!(listing(dir.path()).len(), 1);
}

#[test]
fn probing_a_folder_a_fifo_or_a_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let cases: [(PathBuf, &str); 4] = [
        (dir.path().to_path_buf(), "a directory"),
        (fifo, "a fifo"),
        (PathBuf::from("/dev/null"), "a character device"),
        (PathBuf::from("/dev/zero"), "a character device"),
    ];
    for (path, kind) in cases {
        let err = check_writable(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: cannot write here: it is {kind}, not a regular file",
                path.display()
            )
        );
    }
}

// ---- C: a checkpoint's header is read first -----------------------------------------------

/// Aborts the test binary if `f` runs longer than a minute: reading without bound would
/// otherwise run until the machine's memory is gone instead of failing.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| {
            eprintln!("the load did not stop within a minute: aborting");
            std::process::abort()
        })
}

#[test]
fn loading_dev_zero_stops_at_the_magic_number() {
    let (result, _, largest) =
        within_a_minute(|| measure(|| Checkpoint::load(Path::new("/dev/zero"))));
    let err = result.unwrap_err();
    assert!(matches!(err, CheckpointError::BadMagic { .. }), "{err}");
    assert!(largest < 1 << 16, "reserved {largest} bytes");
}

#[test]
fn a_header_declaring_more_than_the_file_holds_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lying.ckpt");
    let declared: u64 = 256 << 20;
    let mut header = Vec::new();
    header.extend_from_slice(&frame::MAGIC);
    header.extend_from_slice(&frame::FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&declared.to_le_bytes());
    header.extend_from_slice(&[0; 32]);
    fs::write(&path, &header).unwrap();
    // A sparse file: 64 MiB long, nothing of it on disk.
    let len: u64 = 64 << 20;
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len)
        .unwrap();

    let (result, _, largest) = measure(|| Checkpoint::load(&path));
    match result.unwrap_err() {
        CheckpointError::Truncated {
            what,
            expected,
            found,
            ..
        } => {
            assert_eq!(what, "the payload");
            assert_eq!((expected, found), (52 + declared, len));
        }
        other => panic!("{other}"),
    }
    assert!(largest < 1 << 16, "reserved {largest} bytes");

    // A length no file can have is refused the same way, whatever the file's size.
    let mut huge = header.clone();
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    fs::write(&path, &huge).unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(matches!(err, CheckpointError::Truncated { .. }), "{err}");
}

#[test]
fn a_valid_checkpoint_still_loads_after_the_header_first_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.ckpt");
    Checkpoint::of_model(&model(5)).save(&path).unwrap();
    assert_eq!(first_weights(&path), weights_of(5));
    let mut bytes = fs::read(&path).unwrap();
    bytes.push(0);
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        Checkpoint::load(&path).unwrap_err(),
        CheckpointError::ChecksumMismatch { .. }
    ));
}
