//! Thousands of mutated and truncated checkpoint files: the loader returns a typed error or
//! a checkpoint whose every tensor holds as many values as its shape says; it never panics
//! and never reserves what a corrupt length prefix asks for. What loads either restores
//! exactly or leaves the model untouched.
//!
//! Random damage to a whole file is caught by the SHA-256 (the first property); to reach
//! the decoder, the second property damages the payload and frames it again with a valid
//! checksum, as a buggy or hostile writer would.

#[path = "reliability/fixtures.rs"]
mod fixtures;

use fixtures::{model_state_bits, sgd, state_bits, tiny_mlp, tiny_training_checkpoint};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::OnceLock;
use tapegrad::checkpoint::{frame, Checkpoint, CheckpointError};
use tapegrad_testutil::alloc::{measure, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The largest single allocation one load of the 1-kB file may make: the decoder's byte
/// limit for a payload this small (a string's claimed length is reserved before it is read,
/// so the limit is what stops a corrupt one), and serde's cap on reserving a vector.
const MAX_RESERVE: usize = 1 << 20;

const ORIGIN: &str = "fuzzed.ckpt";

/// The bytes of a valid training checkpoint of the tiny MLP, made once.
fn valid_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| tiny_training_checkpoint().to_bytes().expect("encodes"))
}

fn valid_payload() -> &'static [u8] {
    frame::verify(valid_file(), Path::new(ORIGIN)).expect("the valid file verifies")
}

/// One way to damage bytes.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut the file at this point.
    Truncate(Index),
    /// XOR one byte with a non-zero value.
    Flip(Index, u8),
    /// Write the longest varint there (0xfd marker: a u64 follows): a length prefix that
    /// claims far more than the file holds.
    HugeLength(Index),
    /// Drop a run of up to 16 bytes.
    Remove(Index, u8),
    /// Repeat a run of up to 16 bytes in place.
    Repeat(Index, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<Index>().prop_map(Damage::Truncate),
        (any::<Index>(), 1u8..).prop_map(|(i, x)| Damage::Flip(i, x)),
        any::<Index>().prop_map(Damage::HugeLength),
        (any::<Index>(), 1u8..=16).prop_map(|(i, n)| Damage::Remove(i, n)),
        (any::<Index>(), 1u8..=16).prop_map(|(i, n)| Damage::Repeat(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, damage: &Damage) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match *damage {
        Damage::Truncate(i) => bytes.truncate(i.index(len)),
        Damage::Flip(i, x) => bytes[i.index(len)] ^= x,
        Damage::HugeLength(i) => {
            let at = i.index(len);
            let varint = [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
            let end = (at + varint.len()).min(len);
            bytes[at..end].copy_from_slice(&varint[..end - at]);
        }
        Damage::Remove(i, n) => {
            let at = i.index(len);
            bytes.drain(at..(at + n as usize).min(len));
        }
        Damage::Repeat(i, n) => {
            let at = i.index(len);
            let run = bytes[at..(at + n as usize).min(len)].to_vec();
            bytes.splice(at..at, run);
        }
    }
}

/// `bytes` with every damage applied in turn.
fn damaged(bytes: &[u8], damages: &[Damage]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for d in damages {
        apply(&mut bytes, d);
    }
    bytes
}

/// Loads `bytes` as a checkpoint, checking that the allocation stayed bounded, and that what
/// loads restores into a fresh model exactly, or fails leaving it untouched.
fn load_and_restore(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (loaded, _, largest) = measure(|| Checkpoint::from_bytes(bytes, Path::new(ORIGIN)));
    prop_assert!(largest <= MAX_RESERVE, "one allocation of {largest} bytes");
    let checkpoint = match loaded {
        Ok(checkpoint) => checkpoint,
        Err(e) => {
            prop_assert!(
                e.to_string().contains(ORIGIN),
                "error without the file: {e}"
            );
            return Ok(());
        }
    };
    let mut model = tiny_mlp(11);
    let before = state_bits(&model);
    match checkpoint.restore_model(&mut model) {
        Ok(()) => prop_assert_eq!(state_bits(&model), model_state_bits(&checkpoint.model)),
        Err(_) => prop_assert_eq!(state_bits(&model), before),
    }
    // Resuming also loads the optimizer state: any answer but a panic is acceptable.
    let settings = checkpoint.progress.as_ref().map(|p| p.settings.clone());
    let _ = checkpoint.resume(
        &mut tiny_mlp(11),
        &mut sgd(0.1),
        &settings.unwrap_or_default(),
    );
    Ok(())
}

/// `cases` cases, reporting a failure's minimal input without saving it to a file (the
/// integration test has no `lib.rs` beside it for proptest's regression folder).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn damaged_files_are_rejected_without_panic(
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let bytes = damaged(valid_file(), &damages);
        load_and_restore(&bytes)?;
        // The checksum covers the payload, so no damage to it goes unnoticed.
        if bytes != valid_file() {
            prop_assert!(Checkpoint::from_bytes(&bytes, Path::new(ORIGIN)).is_err());
        }
    }

    #[test]
    fn truncated_files_on_disk_are_reported_as_truncated(cut in any::<Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.ckpt");
        let bytes = valid_file();
        std::fs::write(&path, &bytes[..cut.index(bytes.len())]).unwrap();
        let err = Checkpoint::load(&path).unwrap_err();
        prop_assert!(matches!(err, CheckpointError::Truncated { .. }), "{:?}", err);
        prop_assert!(err.to_string().contains(&*path.to_string_lossy()), "{}", err);
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn damaged_payloads_behind_a_valid_checksum_never_panic(
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        load_and_restore(&frame::framed(&damaged(valid_payload(), &damages)))?;
    }
}

#[test]
fn the_undamaged_file_loads_and_restores() {
    let checkpoint = Checkpoint::from_bytes(valid_file(), Path::new(ORIGIN)).unwrap();
    let mut model = tiny_mlp(11);
    checkpoint.restore_model(&mut model).unwrap();
    assert_eq!(state_bits(&model), model_state_bits(&checkpoint.model));
    assert_ne!(state_bits(&model), state_bits(&tiny_mlp(11)));
}

#[test]
fn a_tensor_whose_data_disagrees_with_its_shape_is_an_error_not_a_panic() {
    let mut checkpoint = tiny_training_checkpoint();
    checkpoint.model.params[0].data.pop();
    let bytes = checkpoint.to_bytes().unwrap();
    let err = Checkpoint::from_bytes(&bytes, Path::new(ORIGIN)).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::InconsistentTensor { name, values: 29, .. } if name == "0.weight"),
        "{err:?}"
    );
    // The same state built in memory is refused by restore, which leaves the model as it was.
    let mut model = tiny_mlp(11);
    let before = state_bits(&model);
    assert!(checkpoint.restore_model(&mut model).is_err());
    assert_eq!(state_bits(&model), before);
}
