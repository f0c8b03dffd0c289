//! Mutated and truncated IDX buffers, raw and gzip: the reader returns Ok or Err, never panics.

use std::path::Path;

use proptest::prelude::*;
use tapegrad_data::{parse_idx, IdxArray};

use crate::common::{gzip, idx_bytes};

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
        if let Ok(array) = parse_idx(&bytes, Path::new("p")) {
            prop_assert!(consistent(&array));
        }
        // The same bytes compressed: the gzip path sees the same errors.
        if let Ok(array) = parse_idx(&gzip(&bytes), Path::new("p")) {
            prop_assert!(consistent(&array));
        }
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
        if let Ok(array) = parse_idx(&gz, Path::new("p")) {
            prop_assert!(consistent(&array));
        }
    }
}
