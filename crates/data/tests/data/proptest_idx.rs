//! Mutated and truncated IDX buffers, raw and gzip: the reader returns Ok or Err, never panics,
//! and never reserves what a lying header claims; mutated image and label files on disk load
//! into a split that keeps its invariant, or fail.

use std::path::Path;

use proptest::prelude::*;
use tapegrad_data::{parse_idx, read_idx, IdxArray, Split};

use crate::alloc::measure;
use crate::common::{gzip, idx_bytes, temp_dir, write};

/// The most one parse of these small inputs may reserve at once, though their headers may
/// claim up to 1 GiB: gzip input is bounded by DEFLATE's expansion ratio, plus the
/// decompressor's own state.
const MAX_RESERVE: usize = 1 << 20;

/// A small valid `u8` IDX file: rank 0 to 3, each dimension 0 to 5.
fn valid() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u32..6, 0..4).prop_flat_map(|dims| {
        let len = dims.iter().product::<u32>() as usize;
        prop::collection::vec(any::<u8>(), len).prop_map(move |data| idx_bytes(0x08, &dims, &data))
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 1u8..).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Flip(i, x) => {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        Mutation::Insert(i, x) => bytes.insert(i.index(bytes.len() + 1), *x),
        Mutation::Remove(i) => {
            bytes.remove(i.index(bytes.len()));
        }
        Mutation::Append(tail) => bytes.extend_from_slice(tail),
    }
}

/// What every Ok must satisfy: the data is exactly the product of the dimensions.
fn consistent(array: &IdxArray) -> bool {
    array.dims.iter().product::<usize>() == array.data.len()
}

/// Parses `bytes`, checking that an Ok is consistent and that no allocation was large.
fn parse_bounded(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (result, _, largest) = measure(|| parse_idx(bytes, Path::new("p")));
    prop_assert!(largest <= MAX_RESERVE, "reserved {} bytes", largest);
    if let Ok(array) = result {
        prop_assert!(consistent(&array));
    }
    Ok(())
}

/// A valid image file (`count` images of 2x3) and its label file (digits).
fn valid_pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (0u32..5).prop_flat_map(|count| {
        (
            prop::collection::vec(any::<u8>(), count as usize * 6),
            prop::collection::vec(0u8..10, count as usize),
        )
            .prop_map(move |(pixels, labels)| {
                (
                    idx_bytes(0x08, &[count, 2, 3], &pixels),
                    idx_bytes(0x08, &[count], &labels),
                )
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn valid_buffers_parse_raw_and_gzip(bytes in valid()) {
        let raw = parse_idx(&bytes, Path::new("p")).unwrap();
        prop_assert!(consistent(&raw));
        prop_assert_eq!(parse_idx(&gzip(&bytes), Path::new("p")).unwrap(), raw);
    }

    #[test]
    fn mutated_raw_buffers_never_panic(
        mut bytes in valid(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        for m in &mutations {
            apply(&mut bytes, m);
        }
        parse_bounded(&bytes)?;
        // The same bytes compressed: the gzip path sees the same errors.
        parse_bounded(&gzip(&bytes))?;
    }

    #[test]
    fn mutated_gzip_buffers_never_panic(
        bytes in valid(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut gz = gzip(&bytes);
        for m in &mutations {
            apply(&mut gz, m);
        }
        parse_bounded(&gz)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn mutated_files_on_disk_assemble_a_valid_split_or_fail(
        (mut images, mut labels) in valid_pair(),
        image_mutations in prop::collection::vec(mutation(), 0..3),
        label_mutations in prop::collection::vec(mutation(), 0..3),
        compress in any::<bool>(),
    ) {
        for m in &image_mutations {
            apply(&mut images, m);
        }
        for m in &label_mutations {
            apply(&mut labels, m);
        }
        if compress {
            (images, labels) = (gzip(&images), gzip(&labels));
        }
        let dir = temp_dir();
        let images_path = write(dir.path(), "images", &images);
        let labels_path = write(dir.path(), "labels", &labels);
        let split = match (read_idx(&images_path), read_idx(&labels_path)) {
            (Ok(i), Ok(l)) => Split::from_idx(i, l, &images_path, &labels_path),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match split {
            Ok(split) => {
                prop_assert_eq!(split.images.len(), split.len() * split.pixels_per_image());
                prop_assert!(split.labels.iter().all(|&l| l < 10));
            }
            // Every error names one of the two files.
            Err(e) => prop_assert!(
                e.to_string().contains("images") || e.to_string().contains("labels"),
                "{}", e
            ),
        }
    }
}
