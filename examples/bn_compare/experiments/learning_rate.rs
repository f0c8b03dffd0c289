//! `learning-rate`: "BatchNorm allows higher learning rates". A log-spaced sweep of the SGD
//! learning rate; the final test accuracy after a fixed number of steps.

use super::pairs::Pair;
use super::sweep::{accuracy_chart, accuracy_table, good_settings, run_sweep, Sweep};
use crate::error::StudyError;
use crate::recipe::Recipe;
use crate::report::{image, Section, Verdict};
use crate::study::Study;
use std::path::Path;

/// The learning rates: 0.01 to 10, about half a decade apart.
const RATES: [f64; 7] = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0];
/// A learning rate is "good" for a side if its accuracy is this close to the sweep's best.
const TOLERANCE: f64 = 0.01;

/// The runs, one pair per learning rate.
pub type Results = Sweep;

/// Trains the reference recipe at every learning rate, with and without BatchNorm.
pub fn run(study: &Study) -> Results {
    let steps = study.budget.sweep_steps;
    let settings: Vec<(String, Recipe)> = RATES
        .iter()
        .map(|&lr| {
            let recipe = Recipe {
                lr,
                ..Recipe::reference(steps, steps / 4)
            };
            (lr.to_string(), recipe)
        })
        .collect();
    run_sweep(study, "learning-rate", &settings)
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let steps = r.pairs[0].bn[0].recipe.steps;
    let title = format!("Final test accuracy after {steps} steps of SGD");
    accuracy_chart(
        &out.join("learning_rate.svg"),
        &title,
        "learning rate (log-spaced)",
        &r.pairs,
    )?;
    let (verdict, seen, summary) = reading(&r.pairs);
    let body = format!(
        "Every run takes {steps} steps (batch 64) at one learning rate, from the same seeds. A \
         learning rate is called *good* for a model when every seed finished and the mean final \
         accuracy is within {tol:.0} point of the best mean of the whole sweep.\n\n{img}{table}{seen}\n",
        tol = TOLERANCE * 100.0,
        img = image("learning_rate.svg", "final accuracy against learning rate"),
        table = accuracy_table("learning rate", &r.pairs).render(),
    );
    Ok(Section {
        name: "learning-rate",
        title: "2. Learning rate: does BatchNorm allow higher learning rates?".to_string(),
        claim: "BatchNorm allows higher learning rates".to_string(),
        verdict,
        summary,
        body,
    })
}

fn reading(pairs: &[Pair]) -> (Verdict, String, String) {
    let good = |bn| good_settings(pairs, bn, TOLERANCE);
    let (good_no, good_bn) = (good(false), good(true));
    let highest = |g: &[usize]| g.last().map(|&i| pairs[i].setting.clone());
    let diverged = |bn| -> Vec<usize> {
        let some_diverged = |i: &usize| !pairs[*i].final_accuracy(bn).all_finished();
        (0..pairs.len()).filter(some_diverged).collect()
    };
    let name = |s: Option<String>| s.unwrap_or_else(|| "none".to_string());
    let (top_no, top_bn) = (good_no.last().copied(), good_bn.last().copied());
    let verdict = match (top_no, top_bn) {
        (Some(no), Some(bn)) if bn > no => Verdict::BorneOut,
        (None, Some(_)) => Verdict::BorneOut,
        _ => Verdict::NotBorneOut,
    };
    let list = |g: &[usize]| {
        let names: Vec<String> = g.iter().map(|&i| pairs[i].setting.clone()).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let seen = format!(
        "**What was seen.** Good learning rates without BatchNorm: {}; with BatchNorm: {}. \
         Learning rates at which a run diverged (NaN or infinite loss): {} without BatchNorm, \
         {} with it.{}",
        list(&good_no),
        list(&good_bn),
        list(&diverged(false)),
        list(&diverged(true)),
        match verdict {
            Verdict::BorneOut => " BatchNorm kept the accuracy at learning rates where the \
                plain network lost it or diverged."
                .to_string(),
            _ => " On this network the range of good learning rates was not wider with \
                BatchNorm: the claim was not borne out here."
                .to_string(),
        }
    );
    let summary = format!(
        "highest good learning rate: {} with BN, {} without",
        name(highest(&good_bn)),
        name(highest(&good_no))
    );
    (verdict, seen, summary)
}
