//! Faults an adversarial user found: a valid multi-member gzip file, `--data` naming a file
//! or a folder that cannot be read, an image file whose rank byte says 4.
//!
//! Root ignores file modes, so the unreadable-folder test runs again in a child process
//! without the two capabilities that grant that (`setpriv`), where the mode means what it
//! means for any other user.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tapegrad_testutil::file_modes::rerun_without_mode_bypass;

use tapegrad_data::{read_idx, DataError, Mnist, MnistLocation, Origin, MNIST_FILES};

use crate::common::{gzip, idx_bytes, temp_dir, valid_idx, write};

#[test]
fn a_multi_member_gzip_file_reads_as_its_members_concatenated() {
    let bytes = valid_idx(&[4, 3]);
    let dir = temp_dir();
    // Cut inside the header, inside the payload, and into three members.
    for cuts in [vec![6], vec![15], vec![3, 10]] {
        let mut file = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([bytes.len()].iter()) {
            file.extend(gzip(&bytes[start..cut]));
            start = cut;
        }
        let path = write(dir.path(), "multi.gz", &file);
        let array = read_idx(&path).unwrap_or_else(|e| panic!("{cuts:?}: {e}"));
        assert_eq!(array.dims, [4, 3]);
        assert_eq!(array.data, &bytes[12..]);
    }
}

#[test]
fn data_naming_a_file_says_it_is_not_a_directory() {
    let dir = temp_dir();
    let file = write(dir.path(), "train-images-idx3-ubyte.gz", b"not a folder");
    for path in [file.clone(), file.join("inner")] {
        let err = Mnist::load(Some(&path)).unwrap_err();
        assert!(matches!(err, DataError::NotADirectory { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "{} (chosen by --data) is not a directory: point it at the directory that \
                 holds the MNIST files",
                path.display()
            )
        );
    }
}

#[test]
fn an_unreadable_data_folder_says_permission_denied() {
    const NAME: &str = "faults::an_unreadable_data_folder_says_permission_denied";
    if rerun_without_mode_bypass(NAME) {
        return;
    }
    let dir = temp_dir();
    let data = dir.path().join("mnist");
    fs::create_dir(&data).unwrap();
    for name in MNIST_FILES {
        write(&data, name, &valid_idx(&[1]));
    }
    // Listable but not searchable, and neither: the files cannot be looked up either way.
    for mode in [0o000, 0o600] {
        fs::set_permissions(&data, fs::Permissions::from_mode(mode)).unwrap();
        let location = MnistLocation {
            dir: data.clone(),
            origin: Origin::Explicit,
        };
        let err = Mnist::load_from(&location).unwrap_err();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            matches!(err, DataError::UnreadableDirectory { .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot read the MNIST directory {} (chosen by --data): Permission denied (os error 13)",
                data.display()
            )
        );
    }
}

#[test]
fn a_rank_4_image_header_is_refused_as_the_wrong_rank() {
    let dir = temp_dir();
    for name in MNIST_FILES {
        write(dir.path(), name, &valid_idx(&[1]));
    }
    // The image file as an editor would leave it after changing its rank byte from 3 to 4:
    // the "fourth dimension" is the first four pixels, all 0.
    let mut images = idx_bytes(0x08, &[2, 2, 2], &[0, 0, 0, 0, 9, 9, 9, 9]);
    images[3] = 4;
    let path = write(dir.path(), "train-images-idx3-ubyte", &images);
    let err = Mnist::load(Some(dir.path())).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongRank {
                expected: 3,
                found: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: expected a rank-3 IDX array (images), found rank 4",
            path.display()
        )
    );

    // Read as any IDX file (any rank is valid there), the message gives the rank and
    // points at the zero dimension instead of only "describes 0 bytes".
    let err = read_idx(Path::new(&path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: trailing data after the IDX payload: the rank-4 header [2, 2, 2, 0] \
             (dimension 4 is 0: is the rank byte right?) describes 0 bytes, the file has more",
            path.display()
        )
    );
}
