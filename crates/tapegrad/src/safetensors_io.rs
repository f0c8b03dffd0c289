//! Weights interchange with PyTorch as safetensors, under PyTorch's state-dict keys
//! (`0.weight`, `1.running_mean`, `1.num_batches_tracked` as int64), so a `Sequential` trained
//! here loads into the equivalent `torch.nn.Sequential` with `load_state_dict`, and back.

use crate::checkpoint::{BufferValue, CheckpointError, ModelState, NamedTensor};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::path::Path;
use tapegrad_layers::Module;

fn codec(path: &Path, action: &'static str, message: impl ToString) -> CheckpointError {
    CheckpointError::Codec {
        path: path.to_path_buf(),
        action,
        message: message.to_string(),
    }
}

/// Writes the model's parameters and buffers to `path` as safetensors (atomically).
/// Random state is not part of PyTorch's state dict and is not written.
pub fn export_safetensors<M: Module + ?Sized>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let state = ModelState::capture(model);
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for p in &state.params {
        entries.push((
            p.name.clone(),
            Dtype::F32,
            p.shape.clone(),
            f32_bytes(&p.data),
        ));
    }
    for (name, buffer) in &state.buffers {
        match buffer {
            BufferValue::Float { shape, data } => {
                entries.push((name.clone(), Dtype::F32, shape.clone(), f32_bytes(data)))
            }
            // PyTorch keeps `num_batches_tracked` as a 0-d int64 tensor.
            BufferValue::Int(v) => entries.push((
                name.clone(),
                Dtype::I64,
                Vec::new(),
                v.to_le_bytes().to_vec(),
            )),
        }
    }
    let views = entries
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| codec(path, "encode", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = safetensors::serialize(views, None).map_err(|e| codec(path, "encode", e))?;
    Ok(crate::io::write_atomic(path, &bytes)?)
}

/// Loads parameters and buffers saved by [`export_safetensors`] or by PyTorch's
/// `safetensors.torch.save_file(model.state_dict(), path)` into `model`, checking every name
/// and shape first (the model is unchanged on an error).
pub fn import_safetensors<M: Module + ?Sized>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| codec(path, "decode", e))?;
    // Start from the model's own state so that what safetensors does not carry (random
    // state) stays as it is, then replace what the file holds.
    let mut state = ModelState::capture(model);
    let read = |name: &str| -> Result<TensorView<'_>, CheckpointError> {
        file.tensor(name).map_err(|_| CheckpointError::Mismatch {
            path: path.to_path_buf(),
            what: "tensor",
            name: name.to_string(),
            problem: "is missing from the file".into(),
        })
    };
    // Report problems in the model's order, each as soon as it is seen.
    let same_shape = |what, name: &str, model: &[usize], view: &TensorView<'_>| {
        if view.shape() == model {
            Ok(())
        } else {
            Err(CheckpointError::ShapeMismatch {
                path: path.to_path_buf(),
                what,
                name: name.to_string(),
                expected: model.to_vec(),
                found: view.shape().to_vec(),
            })
        }
    };
    for NamedTensor { name, shape, data } in &mut state.params {
        let view = read(name)?;
        same_shape("parameter", name, shape, &view)?;
        *data = f32_values(path, name, &view)?;
    }
    for (name, buffer) in &mut state.buffers {
        let view = read(name)?;
        match buffer {
            BufferValue::Float { shape, data } => {
                same_shape("buffer", name, shape, &view)?;
                *data = f32_values(path, name, &view)?;
            }
            BufferValue::Int(v) => {
                let raw: [u8; 8] = (view.dtype() == Dtype::I64)
                    .then(|| view.data().try_into().ok())
                    .flatten()
                    .ok_or_else(|| codec(path, "decode", format!("`{name}` is not one int64")))?;
                *v = i64::from_le_bytes(raw);
            }
        }
    }
    let known = state.params.len() + state.buffers.len();
    if file.len() != known {
        let extra = file
            .names()
            .into_iter()
            .find(|n| {
                !state.params.iter().any(|p| p.name == *n)
                    && !state.buffers.iter().any(|(b, _)| b == *n)
            })
            .map(|n| n.to_string())
            .unwrap_or_default();
        return Err(CheckpointError::Mismatch {
            path: path.to_path_buf(),
            what: "tensor",
            name: extra,
            problem: "is in the file but not in the model".into(),
        });
    }
    state.apply_to(model, path)
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_values(path: &Path, name: &str, view: &TensorView<'_>) -> Result<Vec<f32>, CheckpointError> {
    if view.dtype() != Dtype::F32 {
        return Err(codec(
            path,
            "decode",
            format!("`{name}` is {:?}, expected F32", view.dtype()),
        ));
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect())
}
