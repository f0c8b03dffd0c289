//! Folding an evaluation-mode BatchNorm into the Linear before it, for inference: one GEMM
//! instead of a GEMM and a normalisation pass.

use crate::{
    Activation, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Dropout2d,
    Flatten, Linear, MaxPool2d, Module, Sequential, Unflatten,
};
use std::any::Any;
use std::fmt;
use tapegrad_core::Tensor;

/// A layer that [`fold_batchnorm`] or [`recalibrate`](crate::recalibrate()) left as it was,
/// and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is, as a dotted index path (`"2"`, or `"3.1"` inside a nested Sequential;
    /// empty for the model itself).
    pub path: String,
    /// Why it was left.
    pub reason: SkipReason,
}

/// Why a layer was left as it was (see [`Skipped`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A layer the utility cannot look into: a user layer whose [`Module::as_any`] returns
    /// `None`, or whose type is not a built-in one. BatchNorms it holds are not reached.
    Opaque,
    /// A BatchNorm that does not directly follow a `Linear`: there is nothing to fold it into.
    NotAfterLinear,
    /// A BatchNorm without running statistics: it normalises with the batch's statistics in
    /// evaluation too, which neither a folded `Linear` nor recomputed statistics can do.
    NoRunningStats,
}

/// A built-in layer type: how a walk over a model recognises it and copies it.
struct Builtin {
    is: fn(&dyn Any) -> bool,
    copy: fn(&dyn Any) -> Option<Box<dyn Module>>,
}

/// The [`Builtin`] of layer type `T`.
const fn builtin<T: Module + Clone + 'static>() -> Builtin {
    Builtin {
        is: |layer| layer.is::<T>(),
        copy: copy::<T>,
    }
}

/// The built-in layers without BatchNorms inside (Linear, activations, dropouts, convolution,
/// pooling, reshaping): a walk over a model's BatchNorms passes them by without a word, and
/// [`fold_batchnorm`] copies them as they are.
const PLAIN_BUILTINS: [Builtin; 10] = [
    builtin::<Linear>(),
    builtin::<Activation>(),
    builtin::<Dropout>(),
    builtin::<Dropout2d>(),
    builtin::<Conv2d>(),
    builtin::<MaxPool2d>(),
    builtin::<AvgPool2d>(),
    builtin::<AdaptiveAvgPool2d>(),
    builtin::<Flatten>(),
    builtin::<Unflatten>(),
];

/// Whether `layer` is one of [`PLAIN_BUILTINS`].
pub(crate) fn is_plain_builtin(layer: &dyn Any) -> bool {
    PLAIN_BUILTINS.iter().any(|b| (b.is)(layer))
}

/// What [`fold_batchnorm`] returns: the folded model, and the BatchNorms it kept.
#[derive(Debug)]
pub struct Folded {
    /// The copy, each foldable Linear-BatchNorm pair one Linear.
    pub model: Sequential,
    /// The BatchNorms that stay in `model`, by their paths in the original model.
    pub kept: Vec<Skipped>,
}

/// Why [`fold_batchnorm`] could not copy a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoldError {
    /// A user layer that is opaque (its [`Module::as_any`] returns `None`, or its type is
    /// not a built-in one), so it cannot be copied into the folded model.
    OpaqueLayer {
        /// Where it is, as a dotted index path (`2`, or `3.1` inside a nested Sequential).
        path: String,
    },
}

impl fmt::Display for FoldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FoldError::OpaqueLayer { path } => write!(
                f,
                "fold_batchnorm: layer {path} is not a built-in layer and cannot be copied"
            ),
        }
    }
}

impl std::error::Error for FoldError {}

/// A copy of `model` for inference where each `Linear` directly followed by a
/// `BatchNorm1d` with running statistics becomes one `Linear` giving the same output as
/// the pair in `Mode::Eval`:
///
/// ```text
/// s  = gamma / sqrt(running_var + eps)            per output feature
/// W' = W * s                                      (row j of W scaled by s_j)
/// b' = (b - running_mean) * s + beta              (b = 0 without a bias)
/// ```
///
/// Other layers are copied as they are (a Dropout keeps its generator's state), nested
/// Sequentials are folded too, and a BatchNorm that cannot be folded (first layer, after a
/// non-Linear, or without running statistics, which normalises with batch statistics even
/// in evaluation) is kept and listed in [`Folded::kept`] with the reason. If `model` was
/// [fused](Sequential::fuse), so is the copy. The folded model equals the original in `Mode::Eval` only: in
/// training the BatchNorms it removed would have normalised with batch statistics. The
/// parameters are new ones (new ids).
///
/// Only built-in layers can be copied: an opaque user layer gives [`FoldError`].
///
/// ```
/// use tapegrad_core::{Tape, Tensor};
/// use tapegrad_layers::{fold_batchnorm, Mlp, Mode, Module};
///
/// let mut model = Mlp::new(&[3, 4, 2]).batch_norm(true).build();
/// let folded = fold_batchnorm(&model).unwrap();
/// assert!(folded.kept.is_empty());
/// let mut folded = folded.model;
/// assert_eq!((model.len(), folded.len()), (4, 3)); // Linear, BN, ReLU, Linear -> 3
///
/// let mut tape = Tape::new();
/// let (a, b) = tape.no_grad(|tape| {
///     let x = tape.constant(Tensor::from_vec(vec![1, 3], vec![0.5, -1.0, 2.0]));
///     (model.forward(tape, x, Mode::Eval), folded.forward(tape, x, Mode::Eval))
/// });
/// for (a, b) in tape.value(a).data().iter().zip(tape.value(b).data()) {
///     assert!((a - b).abs() < 1e-5);
/// }
/// ```
pub fn fold_batchnorm(model: &Sequential) -> Result<Folded, FoldError> {
    let mut kept = Vec::new();
    let mut folded = fold_into(model, "", &mut kept)?;
    if model.is_fused() {
        folded.fuse();
    }
    Ok(Folded {
        model: folded,
        kept,
    })
}

fn fold_into(
    model: &Sequential,
    prefix: &str,
    kept: &mut Vec<Skipped>,
) -> Result<Sequential, FoldError> {
    let layers: Vec<&dyn Module> = model.iter().collect();
    let mut folded = Sequential::new();
    let mut i = 0;
    while i < layers.len() {
        let linear = model.get_as::<Linear>(i);
        let bn = model.get_as::<BatchNorm1d>(i + 1);
        if let (Some(linear), Some(bn)) = (linear, bn) {
            if let Some(merged) = fold_pair(linear, bn) {
                folded.push(merged);
                i += 2;
                continue;
            }
        }
        let path = format!("{prefix}{i}");
        let bn_stats = (model.get_as::<BatchNorm1d>(i).map(|bn| bn.running_stats()))
            .or_else(|| model.get_as::<BatchNorm2d>(i).map(|bn| bn.running_stats()));
        if let Some(stats) = bn_stats {
            let reason = match stats {
                None => SkipReason::NoRunningStats,
                Some(_) => SkipReason::NotAfterLinear,
            };
            kept.push(Skipped {
                path: path.clone(),
                reason,
            });
        }
        folded.push_boxed(copy_layer(layers[i], &path, kept)?);
        i += 1;
    }
    Ok(folded)
}

/// The Linear equal to `linear` then `bn` in evaluation; `None` if `bn` has no running
/// statistics (then it normalises with the batch's, which no Linear can do).
fn fold_pair(linear: &Linear, bn: &BatchNorm1d) -> Option<Linear> {
    let running = bn.running_stats()?;
    let (out, inp) = (linear.out_features(), linear.in_features());
    let eps = bn.config().eps as f64;
    let param = |p: Option<&tapegrad_core::Param>, j: usize, default: f64| {
        p.map_or(default, |p| p.value().data()[j] as f64)
    };
    let mut weight = linear.weight().value().clone();
    let mut bias = vec![0f32; out];
    let rows = weight.data_mut().chunks_exact_mut(inp);
    for (j, (row, bias)) in rows.zip(&mut bias).enumerate() {
        let s = param(bn.weight(), j, 1.0) / (running.var.data()[j] as f64 + eps).sqrt();
        row.iter_mut().for_each(|w| *w = (*w as f64 * s) as f32);
        let b = param(linear.bias(), j, 0.0);
        *bias = ((b - running.mean.data()[j] as f64) * s + param(bn.bias(), j, 0.0)) as f32;
    }
    Some(Linear::from_tensors(
        weight,
        Some(Tensor::from_vec(vec![out], bias)),
    ))
}

/// A copy of a built-in layer, or of a nested Sequential folded in turn.
fn copy_layer(
    layer: &dyn Module,
    path: &str,
    kept: &mut Vec<Skipped>,
) -> Result<Box<dyn Module>, FoldError> {
    let opaque = || FoldError::OpaqueLayer {
        path: path.to_string(),
    };
    let any = layer.as_any().ok_or_else(opaque)?;
    let batch_norms = [copy::<BatchNorm1d>, copy::<BatchNorm2d>];
    let plain = PLAIN_BUILTINS.iter().map(|b| b.copy);
    if let Some(seq) = any.downcast_ref::<Sequential>() {
        Ok(Box::new(fold_into(seq, &format!("{path}."), kept)?))
    } else {
        (batch_norms
            .into_iter()
            .chain(plain)
            .find_map(|copy| copy(any)))
        .ok_or_else(opaque)
    }
}

/// A copy of `layer` if it is a `T`.
fn copy<T: Module + Clone + 'static>(layer: &dyn Any) -> Option<Box<dyn Module>> {
    let layer = layer.downcast_ref::<T>()?;
    Some(Box::new(layer.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchNormConfig, Mlp, Mode, ModuleExt, Path, Visitor, VisitorMut};
    use tapegrad_core::{Tape, Var};

    fn input(rows: usize, cols: usize, seed: usize) -> Tensor {
        let data = (0..rows * cols)
            .map(|i| (((i + seed) * 2654435761) % 1000) as f32 / 250.0 - 2.0)
            .collect();
        Tensor::from_vec(vec![rows, cols], data)
    }

    fn eval(model: &mut Sequential, x: &Tensor) -> Vec<f32> {
        let mut tape = Tape::new();
        let y = tape.no_grad(|tape| {
            let v = tape.constant(x.clone());
            model.forward(tape, v, Mode::Eval)
        });
        tape.value(y).data().to_vec()
    }

    /// Gives every parameter non-trivial values (gamma away from 1, beta away from 0).
    fn perturb(model: &mut Sequential) {
        for (k, p) in model.params_mut().into_iter().enumerate() {
            for (i, v) in p.value_mut().data_mut().iter_mut().enumerate() {
                *v += ((i * 7 + k * 13) % 11) as f32 * 0.05 - 0.2;
            }
        }
    }

    #[test]
    fn folded_model_equals_the_original_in_eval() {
        let mut model = Mlp::new(&[6, 16, 8, 3])
            .batch_norm(true)
            .dropout(0.2)
            .seed(4)
            .build();
        perturb(&mut model);
        // Non-trivial running statistics: a few training steps on shifted data.
        for step in 0..5 {
            let mut tape = Tape::new();
            let x = tape.constant(input(32, 6, step));
            let x = tape.add_scalar(x, 0.5 * step as f32);
            model.forward(&mut tape, x, Mode::Train);
        }
        let Folded {
            model: mut folded,
            kept,
        } = fold_batchnorm(&model).unwrap();
        assert!(kept.is_empty());
        assert_eq!(folded.len(), model.len() - 2);
        assert!((0..folded.len()).all(|i| folded.get_as::<BatchNorm1d>(i).is_none()));
        let x = input(50, 6, 99);
        let (a, b) = (eval(&mut model, &x), eval(&mut folded, &x));
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "output {i}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn unfoldable_batch_norms_are_kept_and_nested_sequentials_folded() {
        let no_stats = BatchNormConfig {
            track_running_stats: false,
            ..Default::default()
        };
        let mut rng = crate::seeded_rng(1);
        let mut model = Sequential::new()
            .with(BatchNorm1d::new(3))
            .with(Linear::with_bias(3, 4, false, &mut rng))
            .with(BatchNorm1d::with_config(
                4,
                BatchNormConfig {
                    affine: false,
                    ..Default::default()
                },
            ))
            .with(Linear::new(4, 4, &mut rng))
            .with(BatchNorm1d::with_config(4, no_stats))
            .with(Mlp::new(&[4, 5, 2]).batch_norm(true).build());
        perturb(&mut model);
        let Folded {
            model: mut folded,
            kept,
        } = fold_batchnorm(&model).unwrap();
        // BN first: kept; Linear(no bias)+BN(no affine): folded; Linear+BN(no stats): kept.
        let skipped = |path: &str, reason| Skipped {
            path: path.into(),
            reason,
        };
        assert_eq!(
            kept,
            [
                skipped("0", SkipReason::NotAfterLinear),
                skipped("4", SkipReason::NoRunningStats)
            ]
        );
        assert_eq!(folded.len(), 5);
        assert!(folded.get_as::<BatchNorm1d>(0).is_some());
        assert!(folded.get_as::<BatchNorm1d>(3).is_some());
        assert_eq!(folded.get_as::<Sequential>(4).unwrap().len(), 3);
        let x = input(10, 3, 5);
        for (a, b) in eval(&mut model, &x).iter().zip(&eval(&mut folded, &x)) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
        }
        let ids: Vec<_> = model.named_params().iter().map(|(_, p)| p.id()).collect();
        assert!(folded
            .named_params()
            .iter()
            .all(|(_, p)| !ids.contains(&p.id())));
    }

    struct Opaque;
    impl Module for Opaque {
        fn forward(&mut self, _: &mut Tape, x: Var, _: Mode) -> Var {
            x
        }
        fn visit<'a>(&'a self, _: Path<'_>, _: &mut dyn Visitor<'a>) {}
        fn visit_mut<'a>(&'a mut self, _: Path<'_>, _: &mut dyn VisitorMut<'a>) {}
    }

    #[test]
    fn a_fused_model_folds_into_a_fused_model_with_the_same_outputs() {
        let mut model = Mlp::new(&[4, 6, 6, 2]).batch_norm(true).seed(2).build();
        perturb(&mut model);
        let mut tape = Tape::new();
        let x = tape.constant(input(16, 4, 1));
        model.forward(&mut tape, x, Mode::Train);
        let mut folded = fold_batchnorm(&model).unwrap().model;
        // Each folded Linear took in the ReLU its BatchNorm had taken in: nothing left.
        assert_eq!(folded.len(), 5);
        assert_eq!(folded.fuse(), []);
        let x = input(8, 4, 3);
        let mut tape = Tape::new();
        let v = tape.constant(x.clone());
        tape.no_grad(|tape| folded.forward(tape, v, Mode::Eval));
        assert_eq!(tape.num_recorded_ops(), 0);
        let (a, b) = (eval(&mut model, &x), eval(&mut folded, &x));
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn an_opaque_layer_is_reported_with_its_path() {
        let model = Sequential::new()
            .with(Activation::Relu)
            .with(Sequential::new().with(Opaque));
        let err = fold_batchnorm(&model).unwrap_err();
        assert_eq!(err, FoldError::OpaqueLayer { path: "1.0".into() });
        assert_eq!(
            err.to_string(),
            "fold_batchnorm: layer 1.0 is not a built-in layer and cannot be copied"
        );
    }
}
