//! `init`: "BatchNorm makes training less sensitive to initialisation". Every Linear weight
//! drawn at 0.01x, 0.1x, 1x and 10x PyTorch's default scale.

use super::pairs::{Pair, Sweep};
use super::sweep::{accuracy_chart, accuracy_table, all_seeds, failures, names};
use crate::error::StudyError;
use crate::recipe::Recipe;
use crate::report::{effect, image, list, seeds, Claim, Expect, Judge, Section, Unit};
use crate::stats::Effect;
use crate::study::Study;
use std::path::Path;

/// Multipliers of the default initial weights.
const SCALES: [f32; 4] = [0.01, 0.1, 1.0, 10.0];

/// The runs, one pair per scale.
pub type Results = Vec<Pair>;

/// The reference recipe at every init scale.
pub fn sweep(study: &Study) -> Sweep {
    let reference = Recipe::reference(study.budget.sweep_steps);
    let at = |init_scale| Recipe {
        init_scale,
        ..reference.clone()
    };
    Sweep {
        name: "init",
        settings: SCALES.iter().map(|&s| (format!("{s}x"), at(s))).collect(),
    }
}

/// The scales at which no run of either side failed: where a spread of accuracies means
/// something (a failed run has no accuracy to spread).
fn clean_scales(pairs: &[Pair]) -> Vec<usize> {
    let clean = |p: &Pair| p.no_bn.iter().chain(&p.bn).all(|r| !r.failed());
    (0..pairs.len()).filter(|&i| clean(&pairs[i])).collect()
}

/// The spread (largest minus smallest) over `scales` of a side's mean final test accuracy,
/// the means over the seeds at positions `draw`.
fn spread(pairs: &[Pair], scales: &[usize], bn: bool, draw: &[usize]) -> Option<f64> {
    let means: Option<Vec<f64>> = scales
        .iter()
        .map(|&i| {
            let runs = pairs[i].side(bn);
            let values: Option<Vec<f64>> =
                draw.iter().map(|&s| runs.get(s)?.final_test()).collect();
            let values = values?;
            Some(values.iter().sum::<f64>() / values.len() as f64)
        })
        .collect();
    let means = means?;
    let max = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = means.iter().copied().fold(f64::INFINITY, f64::min);
    (means.len() >= 2).then_some(max - min)
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let steps = r[0].bn[0].recipe.steps;
    let title = format!("Final test accuracy after {steps} steps, by initial weight scale");
    accuracy_chart(
        &out.join("init.svg"),
        &title,
        "initial weight scale (x PyTorch's default)",
        r,
    )?;
    let (claims, seen) = reading(r);
    let body = format!(
        "PyTorch's default draw, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, then every Linear \
         weight (not the biases) multiplied by the scale; {steps} steps at learning rate 0.1, \
         {seeds} per scale. Sensitivity is read two ways, kept apart: how many runs \
         failed at each scale, and how much the final test accuracy moved over the scales at \
         which no run of either model failed (a failed run has no accuracy to compare; counting \
         it as 0 % would make the failure the whole spread).\n\n{img}{table}{seen}\n",
        seeds = seeds(r[0].bn.len()),
        img = image("init.svg", "final accuracy against init scale"),
        table = accuracy_table("init scale", r).render(),
    );
    Ok(Section {
        name: "init",
        title: "Initialisation: is BatchNorm less sensitive to the initial weights?".to_string(),
        claims,
        body,
    })
}

fn reading(pairs: &[Pair]) -> (Vec<Claim>, String) {
    const CLAIM: &str = "BatchNorm makes training less sensitive to initialisation";
    let scales = clean_scales(pairs);
    let seeds = all_seeds(pairs);
    let difference = Effect::bootstrapped(seeds.len(), 0.0, |draw| {
        Some(spread(pairs, &scales, false, draw)? - spread(pairs, &scales, true, draw)?)
    });
    let claim = Claim::judged(
        CLAIM,
        difference.as_ref(),
        Judge {
            what: "spread of the final test accuracy over the scales where no run failed, \
                   without minus with BatchNorm",
            unit: Unit::Points,
            claimed: Expect::Above,
            missing: "fewer than two scales at which no run failed",
        },
    );
    let spreads = [false, true].map(|bn| spread(pairs, &scales, bn, &seeds));
    let points =
        |s: Option<f64>| s.map_or("–".to_string(), |s| format!("{:.2} points", s * 100.0));
    let seen = format!(
        "**What was seen.** Scales at which runs failed: {} without BatchNorm, {} with it. Over \
         the scales at which no run failed ({}), the mean final test accuracy spread over {} \
         without BatchNorm and {} with it; the difference, {}.",
        list(&failures(pairs, false)),
        list(&failures(pairs, true)),
        list(&names(pairs, &scales)),
        points(spreads[0]),
        points(spreads[1]),
        difference.map_or("not measured".to_string(), |e| effect(&e, Unit::Points)),
    );
    (vec![claim], seen)
}
