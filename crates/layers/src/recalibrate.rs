//! Precise BatchNorm statistics: recompute every BatchNorm's running statistics over given
//! data, instead of the exponential moving average left by training.

use crate::fold::is_plain_builtin;
use crate::{
    BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormConfig, Mode, Module, Path, Rng, RunningStats,
    Sequential, SkipReason, Skipped, VisitorMut,
};
use tapegrad_core::{Tape, Tensor};

/// What [`recalibrate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recalibration {
    /// BatchNorm layers whose running statistics were recomputed.
    pub layers: usize,
    /// Batches forwarded.
    pub batches: usize,
    /// What the walk could not recalibrate: BatchNorms without running statistics, and user
    /// layers it cannot look into (any BatchNorm inside them kept its statistics).
    pub skipped: Vec<Skipped>,
}

/// Recomputes the running statistics of every [`BatchNorm1d`] and [`BatchNorm2d`] in `model`
/// from `batches`
/// (PyTorch's "precise BN", as fvcore's `update_bn_stats`):
///
/// 1. each BatchNorm's statistics are reset (mean 0, variance 1, no batch tracked) and its
///    momentum set to `None`, so the update is a cumulative average with equal weight per
///    batch;
/// 2. every batch is forwarded in `Mode::Train` on a tape that records nothing (`no_grad`);
/// 3. the momentums are restored, and so is the random state of every stochastic layer
///    (Dropout is active in `Mode::Train`, as in PyTorch's procedure, but recalibrating
///    does not change the masks training draws afterwards).
///
/// Afterwards `running_mean` is the mean of the batch means, which is the exact mean over
/// the data when the batches have equal sizes, and `running_var` the mean of the unbiased
/// batch variances, an unbiased estimate of the population variance (not the exact
/// variance over the data: that would also count the spread of the batch means).
/// `num_batches_tracked` is the number of batches.
///
/// BatchNorms are found inside (nested) [`Sequential`]s and at the root; a user module that
/// holds BatchNorms in its own fields is opaque to this walk. BatchNorms without running
/// statistics are left alone. Both are listed in [`Recalibration::skipped`]. Every batch must have at least two rows, or the forward
/// panics (leaving the statistics half recomputed); panics if `batches` is empty.
///
/// ```
/// use tapegrad_core::Tensor;
/// use tapegrad_layers::{recalibrate, BatchNorm1d, Mlp};
///
/// let mut model = Mlp::new(&[3, 4, 2]).batch_norm(true).build();
/// let data: Vec<Tensor> = (0..5)
///     .map(|k| Tensor::from_vec(vec![2, 3], (0..6).map(|i| (i + k) as f32).collect()))
///     .collect();
/// let done = recalibrate(&mut model, &data);
/// assert_eq!((done.layers, done.batches), (1, 5));
/// assert!(done.skipped.is_empty());
/// let bn = model.get_as::<BatchNorm1d>(1).unwrap();
/// assert_eq!(bn.running_stats().unwrap().num_batches_tracked, 5);
/// assert_eq!(bn.config().momentum, Some(0.1));
/// ```
pub fn recalibrate<'t>(
    model: &mut dyn Module,
    batches: impl IntoIterator<Item = &'t Tensor>,
) -> Recalibration {
    let mut batches = batches.into_iter().peekable();
    assert!(batches.peek().is_some(), "recalibrate: no batches given");

    let (mut momentums, mut skipped) = (Vec::new(), Vec::new());
    for_each_batch_norm(model, "", &mut skipped, &mut |config, running| {
        momentums.push(config.momentum);
        running.reset();
        config.momentum = None;
    });
    let rngs = RngStates::save(model);

    let mut tape = Tape::new();
    let mut count = 0;
    tape.no_grad(|tape| {
        for batch in batches {
            tape.reset();
            let x = tape.constant_from_slice(batch.shape(), batch.data());
            model.forward(tape, x, Mode::Train);
            count += 1;
        }
    });

    let mut saved = momentums.iter();
    for_each_batch_norm(model, "", &mut Vec::new(), &mut |config, _| {
        config.momentum = *saved.next().expect("the same BatchNorms on both walks");
    });
    rngs.restore(model);
    Recalibration {
        layers: momentums.len(),
        batches: count,
        skipped,
    }
}

/// Calls `f` on every BatchNorm with running statistics at `module` (at `path`) or inside it
/// through nested `Sequential`s, in layer order; adds what it passes by to `skipped`.
fn for_each_batch_norm(
    module: &mut dyn Module,
    path: &str,
    skipped: &mut Vec<Skipped>,
    f: &mut dyn FnMut(&mut BatchNormConfig, &mut RunningStats),
) {
    let mut skip = |reason| {
        skipped.push(Skipped {
            path: path.to_string(),
            reason,
        })
    };
    let Some(any) = module.as_any_mut() else {
        return skip(SkipReason::Opaque);
    };
    let parts = match any.is::<BatchNorm1d>() {
        true => any
            .downcast_mut::<BatchNorm1d>()
            .map(BatchNorm::config_and_stats),
        false => any
            .downcast_mut::<BatchNorm2d>()
            .map(BatchNorm::config_and_stats),
    };
    if let Some(parts) = parts {
        match parts {
            (config, Some(running)) => f(config, running),
            (_, None) => skip(SkipReason::NoRunningStats),
        }
    } else if let Some(seq) = any.downcast_mut::<Sequential>() {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}.")
        };
        for (i, layer) in seq.iter_mut().enumerate() {
            for_each_batch_norm(layer, &format!("{prefix}{i}"), skipped, f);
        }
    } else if !is_plain_builtin(any) {
        skip(SkipReason::Opaque);
    }
}

/// Copies of every random generator of a model, in visiting order.
struct RngStates(Vec<Rng>);

impl RngStates {
    fn save(model: &dyn Module) -> Self {
        struct Save(Vec<Rng>);
        impl crate::Visitor<'_> for Save {
            fn rng(&mut self, _: Path<'_>, rng: &Rng) {
                self.0.push(rng.clone());
            }
        }
        let mut save = Save(Vec::new());
        model.visit(Path::root(), &mut save);
        RngStates(save.0)
    }

    fn restore(self, model: &mut dyn Module) {
        struct Restore(std::vec::IntoIter<Rng>);
        impl VisitorMut<'_> for Restore {
            fn rng(&mut self, _: Path<'_>, rng: &mut Rng) {
                *rng = self.0.next().expect("the same generators on both walks");
            }
        }
        model.visit_mut(Path::root(), &mut Restore(self.0.into_iter()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;
    use crate::{BatchNormConfig, BatchStats, Linear, Mlp};

    fn batches(count: usize, rows: usize, cols: usize) -> Vec<Tensor> {
        (0..count)
            .map(|k| {
                let data = (0..rows * cols)
                    .map(|i| ((i * 31 + k * 17) % 23) as f32 * 0.3 - 2.0 + k as f32 * 0.1)
                    .collect();
                Tensor::from_vec(vec![rows, cols], data)
            })
            .collect()
    }

    #[test]
    fn a_lone_batch_norm_gets_the_average_of_the_batch_statistics() {
        let mut bn = BatchNorm1d::new(3);
        let data = batches(4, 8, 3);
        assert_eq!(
            recalibrate(&mut bn, &data),
            Recalibration {
                layers: 1,
                batches: 4,
                skipped: Vec::new(),
            }
        );
        let stats: Vec<BatchStats> = data.iter().map(BatchStats::of).collect();
        let r = bn.running_stats().unwrap();
        for j in 0..3 {
            let mean = stats.iter().map(|s| s.mean[j]).sum::<f64>() / 4.0;
            let var = stats.iter().map(|s| s.unbiased_var(j)).sum::<f64>() / 4.0;
            // Equal batch sizes: the mean of the batch means is the mean of all the data.
            let all = data
                .iter()
                .map(|b| (0..8).map(|r| b.row(r)[j] as f64).sum::<f64>())
                .sum::<f64>()
                / 32.0;
            assert!((r.mean.data()[j] as f64 - mean).abs() < 1e-5);
            assert!((mean - all).abs() < 1e-5);
            assert!((r.var.data()[j] as f64 - var).abs() < 1e-5);
        }
        assert_eq!(r.num_batches_tracked, 4);
        assert_eq!(bn.config().momentum, Some(0.1));
    }

    #[test]
    fn every_batch_norm_of_a_model_is_recalibrated_and_dropout_state_kept() {
        let mut model = Mlp::new(&[3, 5, 4, 2])
            .batch_norm(true)
            .dropout(0.3)
            .seed(2)
            .build();
        model
            .get_as_mut::<BatchNorm1d>(5)
            .unwrap()
            .set_momentum(Some(0.25));
        // An inner Sequential is searched too; a BatchNorm without statistics is skipped.
        let mut inner = Sequential::new();
        inner
            .push(Linear::new(2, 2, &mut seeded_rng(0)))
            .push(BatchNorm1d::new(2))
            .push(BatchNorm1d::with_config(
                2,
                BatchNormConfig {
                    track_running_stats: false,
                    ..Default::default()
                },
            ));
        model.push(inner);
        // A user layer the walk cannot look into, reported with its path.
        struct Opaque;
        impl Module for Opaque {
            fn forward(
                &mut self,
                _: &mut Tape,
                x: tapegrad_core::Var,
                _: Mode,
            ) -> tapegrad_core::Var {
                x
            }
            fn visit<'a>(&'a self, _: Path<'_>, _: &mut dyn crate::Visitor<'a>) {}
            fn visit_mut<'a>(&'a mut self, _: Path<'_>, _: &mut dyn VisitorMut<'a>) {}
        }
        model.push(Opaque);
        let before = RngStates::save(&model).0;
        let done = recalibrate(&mut model, &batches(3, 6, 3));
        let skipped = |path: &str, reason| Skipped {
            path: path.into(),
            reason,
        };
        assert_eq!(
            done,
            Recalibration {
                layers: 3,
                batches: 3,
                skipped: vec![
                    skipped("9.2", SkipReason::NoRunningStats),
                    skipped("10", SkipReason::Opaque)
                ],
            }
        );
        assert_eq!(RngStates::save(&model).0, before);
        assert_eq!(
            model.get_as::<BatchNorm1d>(1).unwrap().config().momentum,
            Some(0.1)
        );
        assert_eq!(
            model.get_as::<BatchNorm1d>(5).unwrap().config().momentum,
            Some(0.25)
        );
        let inner = model.get_as::<Sequential>(9).unwrap();
        assert_eq!(
            inner
                .get_as::<BatchNorm1d>(1)
                .unwrap()
                .running_stats()
                .unwrap()
                .num_batches_tracked,
            3
        );
    }

    #[test]
    #[should_panic(expected = "recalibrate: no batches given")]
    fn no_batches_is_an_error_before_anything_is_reset() {
        recalibrate(&mut BatchNorm1d::new(2), &[]);
    }
}
