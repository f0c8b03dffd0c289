//! Writes the seed corpora: small valid IDX files (raw, gzip, and image+label pairs in the
//! `idx` target's layout) and a training checkpoint of the `checkpoint` target's model (as a
//! whole file and as a bare payload). Run from this folder: `cargo run --bin make_seeds`.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs;
use std::io::Write;
use std::path::Path;
use tapegrad::checkpoint::frame;
use tapegrad::layers::Mlp;
use tapegrad::prelude::*;

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An image file and a label file in the `idx` target's layout: the image file's length
/// (little-endian u16), the image file, the label file.
fn pair(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = (images.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(images);
    out.extend_from_slice(labels);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let idx_dir = Path::new("corpus/idx");
    let images = idx(&[3, 2, 2], &(0..12).map(|i| i * 20).collect::<Vec<u8>>());
    let labels = idx(&[3], &[7, 0, 9]);
    write(idx_dir, "images", &images);
    write(idx_dir, "labels.gz", &gzip(&labels));
    write(idx_dir, "pair", &pair(&images, &labels));
    write(idx_dir, "pair.gz", &pair(&gzip(&images), &gzip(&labels)));

    let mut model = Mlp::new(&[6, 5, 4, 3])
        .batch_norm(true)
        .dropout(0.25)
        .build();
    let sgd = SgdConfig {
        momentum: Some(Momentum::Classic(0.9)),
        ..Default::default()
    };
    let mut optimizer = Sgd::new(sgd).unwrap();
    let images: Vec<f32> = (0..4 * 6).map(|i| i as f32 / 24.0).collect();
    train_step(
        &mut Tape::new(),
        &mut model,
        &mut optimizer,
        &images,
        &[0, 1, 2, 0],
    )
    .unwrap();
    let file = Checkpoint::of_model(&model)
        .with_optimizer(&model, &optimizer)
        .with_progress(Progress {
            epochs_done: 1,
            steps_done: 1,
            schedule: None,
            rng: None,
            settings: "{}".into(),
        })
        .to_bytes()
        .unwrap();
    let checkpoint_dir = Path::new("corpus/checkpoint");
    write(checkpoint_dir, "file", &file);
    let payload = frame::verify(&file, Path::new("seed")).unwrap();
    write(checkpoint_dir, "payload", payload);
    println!("seeds written to corpus/idx and corpus/checkpoint");
}
