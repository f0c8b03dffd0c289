//! A model's named parameters, buffers and random state, captured from and applied to any
//! [`Module`] through its visitors.

use super::CheckpointError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path as FilePath;
use tapegrad_core::{Param, Tensor};
use tapegrad_layers::{BufferMut, BufferRef, Module, Path, Rng, Visitor, VisitorMut};

/// A tensor's shape and data under its PyTorch-style name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedTensor {
    /// The state-dict key (`0.weight`).
    pub name: String,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A buffer's value: float tensors (running statistics) or integers (counters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BufferValue {
    /// A float buffer.
    Float {
        /// Dimensions, outermost first.
        shape: Vec<usize>,
        /// Row-major values.
        data: Vec<f32>,
    },
    /// An integer buffer (`num_batches_tracked`).
    Int(i64),
}

/// Everything a model holds: parameters, buffers and the random state of stochastic layers.
/// Losing the buffers is the classic "eval accuracy collapses after reload" bug, so they are
/// always part of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelState {
    /// Trainable parameters, in definition order.
    pub params: Vec<NamedTensor>,
    /// Buffers, in definition order.
    pub buffers: Vec<(String, BufferValue)>,
    /// Random generators of stochastic layers (Dropout).
    pub rngs: Vec<(String, Rng)>,
}

impl ModelState {
    /// Copies the state out of `model`.
    pub fn capture<M: Module + ?Sized>(model: &M) -> Self {
        struct Capture(ModelState);
        impl Visitor<'_> for Capture {
            fn param(&mut self, path: Path<'_>, param: &Param) {
                self.0.params.push(NamedTensor {
                    name: path.to_string(),
                    shape: param.shape().to_vec(),
                    data: param.value().data().to_vec(),
                });
            }
            fn buffer(&mut self, path: Path<'_>, buffer: BufferRef<'_>) {
                let value = match buffer {
                    BufferRef::Float(t) => BufferValue::Float {
                        shape: t.shape().to_vec(),
                        data: t.data().to_vec(),
                    },
                    BufferRef::Int(&i) => BufferValue::Int(i),
                };
                self.0.buffers.push((path.to_string(), value));
            }
            fn rng(&mut self, path: Path<'_>, rng: &Rng) {
                self.0.rngs.push((path.to_string(), rng.clone()));
            }
        }
        let mut capture = Capture(ModelState {
            params: Vec::new(),
            buffers: Vec::new(),
            rngs: Vec::new(),
        });
        model.visit(Path::root(), &mut capture);
        capture.0
    }

    /// Checks that every tensor holds as many values as its shape says (reported against
    /// `file`): a decoded payload is only as sound as what wrote it.
    pub fn check_consistent(&self, file: &FilePath) -> Result<(), CheckpointError> {
        let params = self
            .params
            .iter()
            .map(|p| ("parameter", &p.name, &p.shape, &p.data));
        let buffers = self.buffers.iter().filter_map(|(name, value)| match value {
            BufferValue::Float { shape, data } => Some(("buffer", name, shape, data)),
            BufferValue::Int(_) => None,
        });
        for (what, name, shape, data) in params.chain(buffers) {
            let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if numel != Some(data.len()) {
                return Err(CheckpointError::InconsistentTensor {
                    path: file.to_path_buf(),
                    what,
                    name: name.clone(),
                    shape: shape.clone(),
                    values: data.len(),
                });
            }
        }
        Ok(())
    }

    /// Writes this state into `model`. Every name, shape and length is checked first, so on
    /// an error (reported against `file`) the model is left exactly as it was.
    pub fn apply_to<M: Module + ?Sized>(
        &self,
        model: &mut M,
        file: &FilePath,
    ) -> Result<(), CheckpointError> {
        self.check_consistent(file)?;
        #[derive(Default)]
        struct Targets<'a> {
            params: Vec<(String, &'a mut Param)>,
            buffers: Vec<(String, BufferMut<'a>)>,
            rngs: Vec<(String, &'a mut Rng)>,
        }
        impl<'a> VisitorMut<'a> for Targets<'a> {
            fn param(&mut self, path: Path<'_>, param: &'a mut Param) {
                self.params.push((path.to_string(), param));
            }
            fn buffer(&mut self, path: Path<'_>, buffer: BufferMut<'a>) {
                self.buffers.push((path.to_string(), buffer));
            }
            fn rng(&mut self, path: Path<'_>, rng: &'a mut Rng) {
                self.rngs.push((path.to_string(), rng));
            }
        }
        let mut targets = Targets::default();
        model.visit_mut(Path::root(), &mut targets);

        let params: BTreeMap<&str, &NamedTensor> =
            self.params.iter().map(|p| (p.name.as_str(), p)).collect();
        let buffers: BTreeMap<&str, &BufferValue> =
            self.buffers.iter().map(|(n, b)| (n.as_str(), b)).collect();
        let rngs: BTreeMap<&str, &Rng> = self.rngs.iter().map(|(n, r)| (n.as_str(), r)).collect();

        // Check everything before touching anything.
        let mismatch = |what, name: &str, problem: &str| CheckpointError::Mismatch {
            path: file.to_path_buf(),
            what,
            name: name.to_string(),
            problem: problem.to_string(),
        };
        let shape_mismatch = |what, name: &str, expected: &[usize], found: &[usize]| {
            CheckpointError::ShapeMismatch {
                path: file.to_path_buf(),
                what,
                name: name.to_string(),
                expected: expected.to_vec(),
                found: found.to_vec(),
            }
        };
        for (name, param) in &targets.params {
            let saved = params
                .get(name.as_str())
                .ok_or_else(|| mismatch("parameter", name, "is missing from the file"))?;
            if saved.shape != param.shape() {
                return Err(shape_mismatch(
                    "parameter",
                    name,
                    param.shape(),
                    &saved.shape,
                ));
            }
        }
        for (name, buffer) in &targets.buffers {
            let saved = buffers
                .get(name.as_str())
                .ok_or_else(|| mismatch("buffer", name, "is missing from the file"))?;
            match (buffer, saved) {
                (BufferMut::Float(t), BufferValue::Float { shape, .. }) => {
                    if shape != t.shape() {
                        return Err(shape_mismatch("buffer", name, t.shape(), shape));
                    }
                }
                (BufferMut::Int(_), BufferValue::Int(_)) => {}
                _ => {
                    return Err(mismatch(
                        "buffer",
                        name,
                        "is of another kind (float vs integer)",
                    ))
                }
            }
        }
        for (name, _) in &targets.rngs {
            if !rngs.contains_key(name.as_str()) {
                return Err(mismatch("rng", name, "is missing from the file"));
            }
        }
        fn names<T>(entries: &[(String, T)]) -> BTreeSet<&str> {
            entries.iter().map(|(n, _)| n.as_str()).collect()
        }
        let (param_names, buffer_names, rng_names) = (
            names(&targets.params),
            names(&targets.buffers),
            names(&targets.rngs),
        );
        let extra = [
            (
                "parameter",
                self.params
                    .iter()
                    .map(|p| &p.name)
                    .find(|n| !param_names.contains(n.as_str())),
            ),
            (
                "buffer",
                self.buffers
                    .iter()
                    .map(|(n, _)| n)
                    .find(|n| !buffer_names.contains(n.as_str())),
            ),
            (
                "rng",
                self.rngs
                    .iter()
                    .map(|(n, _)| n)
                    .find(|n| !rng_names.contains(n.as_str())),
            ),
        ];
        if let Some((what, Some(name))) = extra.into_iter().find(|(_, n)| n.is_some()) {
            return Err(mismatch(what, name, "is in the file but not in the model"));
        }

        for (name, param) in targets.params {
            let saved = params[name.as_str()];
            *param.value_mut() = Tensor::from_vec(saved.shape.clone(), saved.data.clone());
        }
        for (name, buffer) in targets.buffers {
            match (buffer, buffers[name.as_str()]) {
                (BufferMut::Float(t), BufferValue::Float { shape, data }) => {
                    *t = Tensor::from_vec(shape.clone(), data.clone());
                }
                (BufferMut::Int(i), BufferValue::Int(v)) => *i = *v,
                _ => unreachable!("kinds were checked above"),
            }
        }
        for (name, rng) in targets.rngs {
            *rng = rngs[name.as_str()].clone();
        }
        Ok(())
    }
}
