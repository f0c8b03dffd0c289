//! Any bytes as a checkpoint file, and as a payload behind a valid header and checksum (what
//! a buggy writer would produce): loading, restoring into a model and resuming a training run
//! return errors or succeed, never panic, and never reserve what a length prefix claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tapegrad::checkpoint::frame;
use tapegrad::layers::{Mlp, Sequential};
use tapegrad::prelude::*;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz.ckpt");
    if let Ok(checkpoint) = Checkpoint::from_bytes(data, origin) {
        exercise(&checkpoint);
    }
    if let Ok(checkpoint) = Checkpoint::from_bytes(&frame::framed(data), origin) {
        exercise(&checkpoint);
    }
});

/// The model the seed checkpoints were made from (see make_seeds.rs).
fn model() -> Sequential {
    Mlp::new(&[6, 5, 4, 3])
        .batch_norm(true)
        .dropout(0.25)
        .build()
}

fn exercise(checkpoint: &Checkpoint) {
    let _ = checkpoint.restore_model(&mut model());
    let settings = checkpoint
        .progress
        .as_ref()
        .map(|p| p.settings.clone())
        .unwrap_or_default();
    let sgd = SgdConfig {
        momentum: Some(Momentum::Classic(0.9)),
        ..Default::default()
    };
    let mut optimizers: [Box<dyn Optimizer>; 2] = [
        Box::new(Sgd::new(sgd).unwrap()),
        Box::new(Adam::new(AdamConfig::adam()).unwrap()),
    ];
    for optimizer in &mut optimizers {
        let mut model = model();
        if checkpoint
            .resume(&mut model, optimizer.as_mut(), &settings)
            .is_ok()
        {
            // A resumed run must be able to take a step.
            let mut tape = Tape::new();
            let images = [0.5f32; 4 * 6];
            let _ = train_step(
                &mut tape,
                &mut model,
                optimizer.as_mut(),
                &images,
                &[0, 1, 2, 0],
            );
        }
    }
}
