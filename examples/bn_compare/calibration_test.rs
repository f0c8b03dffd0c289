//! The time estimate against this machine: steps and evaluations of the recipes the study
//! trains, timed on one thread (CPU time of the thread, so that other processes on the
//! machine do not count), beside what `estimate.rs` predicts. Ignored by default: it takes a
//! minute and means something only on the machine the constants are fitted to,
//!
//! ```text
//! cargo test -p tapegrad-bn-study --release calibration -- --ignored --nocapture
//! ```

use crate::data::{synthetic, Dataset};
use crate::estimate::{eval_seconds, step_seconds};
use crate::model::build;
use crate::recipe::{Norm, Recipe};
use crate::runner::{evaluate_in_batches, Endless};
use crate::step::train_step;
use tapegrad::layers::{Activation, Mode};
use tapegrad::prelude::Tape;

/// CPU seconds this thread has run (`/proc/thread-self/stat`, utime + stime, in ticks of
/// 1/100 s).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("Linux");
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Seconds of CPU per step of `recipe`, over at least half a second after a warm-up.
fn time_steps(recipe: &Recipe, data: &Dataset) -> f64 {
    let mut model = build(recipe, 784);
    let mut optimizer = recipe.optimizer();
    let mut batches = Endless::new(recipe, data);
    let mut tape = Tape::new();
    let mut step = |n: usize| {
        for _ in 0..n {
            let b = batches.next();
            let _ = train_step(
                &mut tape,
                &mut model,
                &mut optimizer,
                b.images,
                b.labels,
                recipe.ghost_batch,
            );
        }
    };
    step(10);
    let (mut n, started) = (0, thread_cpu_seconds());
    while thread_cpu_seconds() - started < 0.5 {
        step(10);
        n += 10;
    }
    (thread_cpu_seconds() - started) / n as f64
}

/// Seconds of CPU per image of an evaluation of `recipe`'s model.
fn time_eval(recipe: &Recipe, data: &Dataset) -> f64 {
    let mut model = build(recipe, 784);
    let (mut n, started) = (0, thread_cpu_seconds());
    while thread_cpu_seconds() - started < 0.5 {
        let batch = recipe.arch.eval_batch();
        evaluate_in_batches(&mut model, data, &data.validation, Mode::Eval, batch);
        n += data.validation.len();
    }
    (thread_cpu_seconds() - started) / n as f64
}

#[test]
#[ignore = "timing: run on the reference machine, otherwise idle"]
fn calibration_the_estimate_is_within_half_of_the_measured_time() {
    // Random 28x28 images: the speed of a step does not depend on what they show.
    let data = synthetic(28, 4096, 2000);
    let reference = Recipe::reference(100);
    let paper = Recipe {
        hidden: vec![100, 100, 100],
        activation: Activation::Sigmoid,
        batch_size: 60,
        ..reference.clone()
    };
    let mut recipes = Vec::new();
    for batch_size in [2, 8, 64, 256] {
        for norm in [Norm::None, Norm::Batch, Norm::Layer] {
            recipes.push(Recipe {
                batch_size,
                ..reference.with_norm(norm)
            });
        }
    }
    for ghost in [8, 16] {
        recipes.push(Recipe {
            ghost_batch: Some(ghost),
            ..reference.bn(true)
        });
    }
    recipes.extend([paper.clone(), paper.bn(true)]);
    recipes.extend([Recipe::cnn(100), Recipe::cnn(100).bn(true)]);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut worst: f64 = 1.0;
    pool.install(|| {
        for r in &recipes {
            let (step, eval) = (time_steps(r, &data), time_eval(r, &data));
            let (step_est, eval_est) = (step_seconds(r, 784), eval_seconds(r, 784, 1));
            println!(
                "{:?} hidden {:?} {:?} batch {:>3} ghost {:?}: step {:8.1} us (estimate {:8.1}), eval {:6.2} us/image (estimate {:6.2})",
                r.arch, r.hidden, r.norm, r.batch_size, r.ghost_batch,
                step * 1e6, step_est * 1e6, eval * 1e6, eval_est * 1e6
            );
            for ratio in [step_est / step, eval_est / eval] {
                worst = worst.max(ratio.max(1.0 / ratio));
            }
        }
    });
    assert!(worst < 1.5, "an estimate is off by {worst:.2}x");
}
