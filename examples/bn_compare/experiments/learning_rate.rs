//! `learning-rate`: "BatchNorm allows higher learning rates". A log-spaced sweep of the SGD
//! learning rate; which rates are good is decided on the validation images.

use super::pairs::{Pair, Sweep};
use super::sweep::{
    accuracy_chart, accuracy_table, all_seeds, failures, good_settings, names, TOLERANCE,
};
use crate::error::StudyError;
use crate::recipe::Recipe;
use crate::report::{effect, image, list, seeds, Claim, Expect, Judge, Section, Unit};
use crate::stats::Effect;
use crate::study::Study;
use std::path::Path;

/// The learning rates: 0.01 to 10, about half a decade apart.
const RATES: [f64; 7] = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0];

/// The runs, one pair per learning rate.
pub type Results = Vec<Pair>;

/// The reference recipe at every learning rate.
pub fn sweep(study: &Study) -> Sweep {
    let reference = Recipe::reference(study.budget.sweep_steps);
    let at = |lr| Recipe {
        lr,
        ..reference.clone()
    };
    Sweep {
        name: "learning-rate",
        settings: RATES.iter().map(|&lr| (lr.to_string(), at(lr))).collect(),
    }
}

/// How many decades higher the highest good learning rate is with BatchNorm than without,
/// with its bootstrap interval over seeds (a seed resampled carries its runs at every rate).
fn highest_good_gap(pairs: &[Pair]) -> Option<Effect> {
    let statistic = |draw: &[usize]| {
        let [plain, bn] = good_settings(pairs, draw);
        let lr = |i: &usize| pairs[*i].bn[0].recipe.lr.log10();
        Some(lr(bn.last()?) - lr(plain.last()?))
    };
    Effect::bootstrapped(all_seeds(pairs).len(), 0.0, statistic)
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let steps = r[0].bn[0].recipe.steps;
    let title = format!("Final test accuracy after {steps} steps of SGD");
    accuracy_chart(
        &out.join("learning_rate.svg"),
        &title,
        "learning rate (log-spaced)",
        r,
    )?;
    let (claims, seen) = reading(r);
    let body = format!(
        "Every run takes {steps} steps (batch 64) at one learning rate, from the same seeds \
         ({seeds} per rate). A learning rate is called *good* for a model when no run of it \
         failed and its mean final **validation** accuracy is within {tol:.0} point of the best \
         mean of the whole sweep; the test accuracies are the figures reported.\n\n\
         {img}{table}{seen}\n",
        seeds = seeds(r[0].bn.len()),
        tol = TOLERANCE * 100.0,
        img = image("learning_rate.svg", "final accuracy against learning rate"),
        table = accuracy_table("learning rate", r).render(),
    );
    Ok(Section {
        name: "learning-rate",
        title: "Learning rate: does BatchNorm allow higher learning rates?".to_string(),
        claims,
        body,
    })
}

fn reading(pairs: &[Pair]) -> (Vec<Claim>, String) {
    const CLAIM: &str = "BatchNorm allows higher learning rates";
    let [good_no, good_bn] = good_settings(pairs, &all_seeds(pairs));
    let gap = highest_good_gap(pairs);
    let claim = Claim::judged(
        CLAIM,
        gap.as_ref(),
        Judge {
            what: "decades between the highest good learning rate with and without BatchNorm",
            unit: Unit::Plain(1, "decades"),
            claimed: Expect::Above,
            missing: "a side had no good learning rate, or one seed only",
        },
    );
    let seen = format!(
        "**What was seen.** Good learning rates (chosen on the validation images) without \
         BatchNorm: {}; with BatchNorm: {}. The highest good rate with BatchNorm minus the \
         highest without, in decades (log10): {}. Learning rates at which runs failed (diverged, or ended below \
         50 % validation accuracy): {} without BatchNorm, {} with it. A failure is not always \
         a divergence: a run whose loss stays finite can still end near chance.",
        list(&names(pairs, &good_no)),
        list(&names(pairs, &good_bn)),
        gap.map_or("not measured (a side had no good rate)".to_string(), |e| {
            effect(&e, Unit::Plain(1, "decades"))
        }),
        list(&failures(pairs, false)),
        list(&failures(pairs, true)),
    );
    (vec![claim], seen)
}
