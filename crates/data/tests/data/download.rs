//! Downloads against a loopback server: fallback, checksum mismatch, total failure.

use std::path::Path;

use tapegrad_data::{download_file, download_verified, sha256_hex, DataError};

use crate::common::{gzip, temp_dir, valid_idx};
use crate::server::{dead_mirror, Server};

const NAME: &str = "tiny-idx2-ubyte";

/// No temporary file is left behind, whatever happened.
fn assert_no_temp_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().ends_with(".tmp"),
            "left {name:?} behind"
        );
    }
}

#[test]
fn falls_back_from_a_dead_mirror_to_a_good_one() {
    let dir = temp_dir();
    let data = valid_idx(&[4, 4]);
    let body = gzip(&data);
    let good = Server::start(vec![(format!("/mnist/{NAME}.gz"), body.clone())], 1);
    let good_base = format!("{}mnist", good.base); // no trailing slash: joined all the same
    let path = download_verified(
        dir.path(),
        NAME,
        &sha256_hex(&data),
        &[&dead_mirror(), &good_base],
    )
    .unwrap();
    assert_eq!(path, dir.path().join(format!("{NAME}.gz")));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(good.requests(), [format!("/mnist/{NAME}.gz")]);
    assert_no_temp_files(dir.path());
}

#[test]
fn skips_a_mirror_serving_wrong_bytes() {
    let dir = temp_dir();
    let data = valid_idx(&[4, 4]);
    let wrong = Server::start(vec![(format!("/{NAME}.gz"), gzip(&valid_idx(&[4, 5])))], 1);
    let good = Server::start(vec![(format!("/{NAME}.gz"), gzip(&data))], 1);
    let path = download_verified(
        dir.path(),
        NAME,
        &sha256_hex(&data),
        &[&wrong.base, &good.base],
    )
    .unwrap();
    assert_eq!(tapegrad_data::read_idx(&path).unwrap().dims, [4, 4]);
    wrong.requests();
    good.requests();
    assert_no_temp_files(dir.path());
}

#[test]
fn a_checksum_mismatch_on_every_mirror_is_an_error_and_writes_nothing() {
    let dir = temp_dir();
    let data = valid_idx(&[4, 4]);
    let wrong = Server::start(vec![(format!("/{NAME}.gz"), gzip(b"not the file"))], 1);
    let err = download_verified(dir.path(), NAME, &sha256_hex(&data), &[&wrong.base]).unwrap_err();
    let DataError::DownloadFailed { attempts, .. } = &err else {
        panic!("expected a failed download, got {err:?}");
    };
    assert_eq!(attempts.len(), 1);
    assert!(
        attempts[0].error.contains("checksum mismatch"),
        "{}",
        attempts[0].error
    );
    assert!(
        attempts[0].error.contains(&sha256_hex(b"not the file")),
        "{}",
        attempts[0].error
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing is written"
    );
    wrong.requests();
}

#[test]
fn all_mirrors_failing_lists_every_one() {
    let dir = temp_dir();
    let dead = dead_mirror();
    let not_found = Server::start(vec![], 1);
    let err = download_verified(
        dir.path(),
        NAME,
        &sha256_hex(b""),
        &[&dead, &not_found.base],
    )
    .unwrap_err();
    let DataError::DownloadFailed { file, attempts, .. } = &err else {
        panic!("expected a failed download, got {err:?}");
    };
    assert_eq!(file, &format!("{NAME}.gz"));
    assert_eq!(attempts.len(), 2);
    assert!(attempts[1].error.contains("404"), "{}", attempts[1].error);
    let message = err.to_string();
    for part in [
        format!("{dead}{NAME}.gz"),
        format!("{}{NAME}.gz", not_found.base),
        dir.path().display().to_string(),
        "place the files by hand".to_string(),
        "MNIST_DIR".to_string(),
    ] {
        assert!(message.contains(&part), "message lacks {part:?}: {message}");
    }
    assert_eq!(not_found.requests(), [format!("/{NAME}.gz")]);
    assert_no_temp_files(dir.path());
}

#[test]
fn an_uncompressed_body_is_kept_under_the_decompressed_name() {
    let dir = temp_dir();
    let data = valid_idx(&[3]);
    let server = Server::start(vec![(format!("/{NAME}.gz"), data.clone())], 1);
    let path = download_verified(dir.path(), NAME, &sha256_hex(&data), &[&server.base]).unwrap();
    assert_eq!(path, dir.path().join(NAME));
    server.requests();
}

#[test]
fn mnist_names_use_the_embedded_checksums() {
    let dir = temp_dir();
    let server = Server::start(
        vec![(
            "/t10k-labels-idx1-ubyte.gz".to_string(),
            gzip(&valid_idx(&[10])),
        )],
        1,
    );
    let err = download_file(dir.path(), "t10k-labels-idx1-ubyte", &[&server.base]).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    server.requests();
    let err = download_file(dir.path(), "not-mnist", &[]).unwrap_err();
    assert!(matches!(err, DataError::UnknownFile { .. }), "{err:?}");
}
