//! The layers' state as a model sees it: PyTorch-style names, checkpoints that restore
//! parameters, buffers and random state, and behaviour in training and evaluation.

use std::path::PathBuf;
use tapegrad::checkpoint::{Checkpoint, CheckpointError, ModelState};
use tapegrad::layers::{seeded_rng, Linear, Sequential};
use tapegrad::prelude::*;
use tapegrad::train::train_step;
use tapegrad_extending_example::{GaussianNoise, LayerNorm, LeakyRelu, MeanCenter};

/// `Linear(4, d) -> LayerNorm -> MeanCenter -> GaussianNoise -> LeakyRelu -> Linear(d, 3)`.
fn model(d: usize, seed: u64) -> Sequential {
    let mut rng = seeded_rng(seed);
    Sequential::new()
        .with(Linear::new(4, d, &mut rng))
        .with(LayerNorm::new(d))
        .with(MeanCenter::new(d))
        .with(GaussianNoise::new(0.1, seed))
        .with(LeakyRelu::default())
        .with(Linear::new(d, 3, &mut rng))
}

#[test]
fn names_are_pytorch_state_dict_keys() {
    let state = ModelState::capture(&model(5, 0));
    let params: Vec<&str> = state.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        params,
        ["0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"]
    );
    let buffers: Vec<&str> = state.buffers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(buffers, ["2.running_mean"]);
    let rngs: Vec<&str> = state.rngs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(rngs, ["3.rng"]);
    assert_eq!(model(5, 0).param_count(), 4 * 5 + 5 + 2 * 5 + 5 * 3 + 3);
}

fn batch() -> (Vec<f32>, Vec<usize>) {
    let images = (0..6 * 4).map(|i| (i as f32 * 0.37).sin()).collect();
    (images, vec![0, 1, 2, 2, 1, 0])
}

/// Trains `model` for `steps` SGD steps on the fixed batch.
fn train(model: &mut Sequential, steps: usize) {
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    })
    .unwrap();
    let mut tape = Tape::new();
    let (images, labels) = batch();
    for _ in 0..steps {
        train_step(&mut tape, model, &mut sgd, &images, &labels).unwrap();
    }
}

/// The model's logits on the fixed batch, in `mode`.
fn logits(model: &mut Sequential, mode: Mode) -> Vec<f32> {
    let mut tape = Tape::new();
    let (images, labels) = batch();
    let x = tape.constant(Tensor::from_vec(vec![labels.len(), 4], images));
    let y = model.forward(&mut tape, x, mode);
    tape.value(y).data().to_vec()
}

fn assert_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() < 1e-6, "{actual:?} vs {expected:?}");
    }
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-extending-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn a_checkpoint_restores_parameters_buffers_and_random_state() {
    let mut trained = model(5, 1);
    train(&mut trained, 3);
    let norm = trained.get_as::<LayerNorm>(1).unwrap();
    assert_ne!(
        norm.weight().value().data(),
        &[1.0; 5],
        "training moved the gain"
    );
    let path = temp_file("restore.ckpt");
    Checkpoint::of_model(&trained).save(&path).unwrap();

    let mut restored = model(5, 2);
    assert_ne!(
        logits(&mut restored, Mode::Eval),
        logits(&mut trained, Mode::Eval)
    );
    Checkpoint::load(&path)
        .unwrap()
        .restore_model(&mut restored)
        .unwrap();
    // Parameters and the running mean: the same evaluation, bit for bit.
    assert_eq!(
        logits(&mut restored, Mode::Eval),
        logits(&mut trained, Mode::Eval)
    );
    // The generator: the same noise in the next training forward.
    assert_eq!(
        logits(&mut restored, Mode::Train),
        logits(&mut trained, Mode::Train)
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn restoring_into_a_layer_of_another_size_names_the_tensor() {
    let path = temp_file("mismatch.ckpt");
    Checkpoint::of_model(&model(5, 0)).save(&path).unwrap();
    let mut other = model(6, 0);
    let before = logits(&mut other, Mode::Eval);
    let err = Checkpoint::load(&path)
        .unwrap()
        .restore_model(&mut other)
        .unwrap_err();
    assert!(
        matches!(&err, CheckpointError::ShapeMismatch { name, .. } if name == "0.weight"),
        "{err}"
    );
    assert_eq!(
        logits(&mut other, Mode::Eval),
        before,
        "the model is unchanged"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn training_and_evaluation_differ_only_where_they_should() {
    let x = Tensor::from_vec(vec![3, 2], vec![1.0, -2.0, 3.0, 0.5, -1.0, 4.0]);
    let run = |layer: &mut dyn Module, mode: Mode| {
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        let y = layer.forward(&mut tape, v, mode);
        (tape.value(y).data().to_vec(), tape.num_recorded_ops())
    };
    // LayerNorm and LeakyReLU: the same in both modes.
    let mut norm = LayerNorm::new(2);
    assert_eq!(run(&mut norm, Mode::Train).0, run(&mut norm, Mode::Eval).0);
    let mut act = LeakyRelu::new(0.1);
    assert_eq!(run(&mut act, Mode::Train).0, run(&mut act, Mode::Eval).0);

    // MeanCenter: the batch mean in training, and only training moves the buffer.
    let column_mean = [1.0, 2.5 / 3.0];
    let minus = |m: &[f32]| -> Vec<f32> {
        x.data()
            .iter()
            .zip(m.iter().cycle())
            .map(|(x, m)| x - m)
            .collect()
    };
    let mut center = MeanCenter::new(2);
    assert_close(&run(&mut center, Mode::Train).0, &minus(&column_mean));
    let running: Vec<f32> = column_mean.iter().map(|m| 0.1 * m).collect();
    assert_close(center.running_mean().data(), &running);
    assert_close(&run(&mut center, Mode::Eval).0, &minus(&running));
    assert_close(center.running_mean().data(), &running);

    // GaussianNoise: noise in training, the identity without an op in evaluation.
    let mut noise = GaussianNoise::new(0.5, 3);
    let (noisy, ops) = run(&mut noise, Mode::Train);
    assert_eq!(ops, 0, "a constant input needs no backward");
    assert!(noisy.iter().zip(x.data()).all(|(y, x)| y != x));
    assert_eq!(run(&mut noise, Mode::Eval), (x.data().to_vec(), 0));
}

#[test]
fn layer_norm_output_of_a_row_does_not_depend_on_its_batch() {
    let mut norm = LayerNorm::new(3);
    let mut out = |rows: usize, data: &[f32]| {
        let mut tape = Tape::new();
        let x = tape.constant(Tensor::from_vec(vec![rows, 3], data.to_vec()));
        let y = norm.forward(&mut tape, x, Mode::Train);
        tape.value(y).row(0).to_vec()
    };
    let alone = out(1, &[0.5, -1.0, 2.0]);
    let in_batch = out(3, &[0.5, -1.0, 2.0, 10.0, 20.0, 30.0, -5.0, 0.0, 5.0]);
    assert_eq!(alone, in_batch);
}

#[test]
#[should_panic(expected = "MeanCenter(2): expected an input of shape [batch, 2], got [4, 3]")]
fn mean_center_rejects_another_width() {
    let mut tape = Tape::new();
    let x = tape.constant(Tensor::zeros(vec![4, 3]));
    MeanCenter::new(2).forward(&mut tape, x, Mode::Train);
}
