//! Any bytes as an IDX file (raw or gzip), and as a pair of image and label files assembled
//! into a split and batched as training batches them: errors are fine, panics are bugs, and
//! whatever parses keeps its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tapegrad::data::{parse_idx, BatchConfig, Split};

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = parse_idx(data, Path::new("fuzz")) {
        assert_eq!(array.dims.iter().product::<usize>(), array.data.len());
    }
    // The first two bytes say where the image file ends and the label file begins.
    let Some((head, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (images, labels) = rest.split_at(usize::from(u16::from_le_bytes(*head)).min(rest.len()));
    let (images_path, labels_path) = (Path::new("images"), Path::new("labels"));
    let (Ok(images), Ok(labels)) = (
        parse_idx(images, images_path),
        parse_idx(labels, labels_path),
    ) else {
        return;
    };
    if let Ok(split) = Split::from_idx(images, labels, images_path, labels_path) {
        assert_eq!(split.images.len(), split.len() * split.pixels_per_image());
        let mut batches = split.batches(BatchConfig::shuffled(3, 0));
        while let Some(batch) = batches.next_batch() {
            assert_eq!(batch.images.len(), batch.len() * split.pixels_per_image());
            assert!(batch.labels.iter().all(|&l| l < 10));
        }
    }
});
