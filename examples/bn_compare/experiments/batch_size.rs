//! `batch-size`: "BatchNorm depends on the batch size". Batches of 2 to 256 for the same
//! number of training samples, the learning rate scaled with the batch (Goyal et al.'s
//! linear rule, 0.1 at batch 64), so that without BatchNorm the runs are comparable.

use super::pairs::Pair;
use super::sweep::{accuracy_chart, run_sweep, Sweep};
use crate::error::StudyError;
use crate::recipe::Recipe;
use crate::report::{image, Section, Table, Verdict};
use crate::study::Study;
use std::path::Path;

/// The batch sizes.
const SIZES: [usize; 6] = [2, 4, 8, 16, 64, 256];
/// The batch size at which the learning rate is the reference 0.1.
const REFERENCE: usize = 64;
/// How many more points BatchNorm must lose at the smallest batch than at the reference for
/// the claim to count as borne out.
const MARGIN: f64 = 0.01;

/// The runs, one pair per batch size.
pub type Results = Sweep;

/// Trains the reference recipe at every batch size, with and without BatchNorm.
pub fn run(study: &Study) -> Results {
    let samples = study.budget.batch_size_samples;
    let settings: Vec<(String, Recipe)> = SIZES
        .iter()
        .map(|&batch_size| {
            let steps = samples / batch_size;
            let recipe = Recipe {
                batch_size,
                lr: 0.1 * batch_size as f64 / REFERENCE as f64,
                ..Recipe::reference(steps, steps)
            };
            (batch_size.to_string(), recipe)
        })
        .collect();
    run_sweep(study, "batch-size", &settings)
}

/// The mean difference of final accuracy, with minus without BatchNorm, if all finished.
fn bn_advantage(pair: &Pair) -> Option<f64> {
    Some(pair.final_accuracy(true).clean_mean()? - pair.final_accuracy(false).clean_mean()?)
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let samples = r.pairs[0].bn[0].recipe.steps * r.pairs[0].bn[0].recipe.batch_size;
    let title = format!("Final test accuracy after {samples} training samples");
    accuracy_chart(&out.join("batch_size.svg"), &title, "batch size", &r.pairs)?;
    let mut table = Table::new(&[
        "batch",
        "lr",
        "steps",
        "without BatchNorm",
        "with BatchNorm",
        "BN minus no BN",
    ]);
    for pair in &r.pairs {
        let recipe = &pair.bn[0].recipe;
        let advantage =
            bn_advantage(pair).map_or("–".to_string(), |d| format!("{:+.2} points", d * 100.0));
        table.row([
            pair.setting.clone(),
            format!("{:.4}", recipe.lr),
            recipe.steps.to_string(),
            pair.final_accuracy(false).accuracy_cell(),
            pair.final_accuracy(true).accuracy_cell(),
            advantage,
        ]);
    }
    let (verdict, seen, summary) = reading(&r.pairs);
    let body = format!(
        "Every run sees {samples} training samples (the number of steps is that divided by the \
         batch size); the learning rate is 0.1 x batch / {REFERENCE}. The BatchNorm runs are \
         evaluated with running statistics gathered from batches of their own size.\n\n\
         {img}{table}{seen}\n",
        img = image("batch_size.svg", "final accuracy against batch size"),
        table = table.render(),
    );
    Ok(Section {
        name: "batch-size",
        title: "4. Batch size: does BatchNorm depend on it?".to_string(),
        claim: "BatchNorm depends on the batch size".to_string(),
        verdict,
        summary,
        body,
    })
}

fn reading(pairs: &[Pair]) -> (Verdict, String, String) {
    let at = |size: usize| pairs.iter().find(|p| p.setting == size.to_string());
    let advantage = |size| at(size).and_then(bn_advantage);
    let smallest = SIZES[0];
    let (small, reference) = (advantage(smallest), advantage(REFERENCE));
    let worse: Vec<&str> = pairs
        .iter()
        .filter(|p| bn_advantage(p).is_some_and(|d| d < 0.0))
        .map(|p| p.setting.as_str())
        .collect();
    let points =
        |d: Option<f64>| d.map_or("–".to_string(), |d| format!("{:+.2} points", d * 100.0));
    let verdict = match (small, reference) {
        (Some(s), Some(r)) if s + MARGIN <= r => Verdict::BorneOut,
        _ => Verdict::NotBorneOut,
    };
    let seen =
        format!(
        "**What was seen.** BatchNorm's advantage (accuracy with minus without) was {} at batch \
         {smallest} and {} at batch {REFERENCE}. Batch sizes at which BatchNorm did worse than \
         the plain network: {}. {}",
        points(small),
        points(reference),
        if worse.is_empty() { "none".to_string() } else { worse.join(", ") },
        match verdict {
            Verdict::BorneOut => "BatchNorm's advantage shrank at the smallest batch, as \
                expected when every sample is normalised with the statistics of only a few.",
            _ => "BatchNorm's advantage did not shrink at the smallest batch by at least one \
                point: the claim was not borne out here.",
        }
    );
    let summary = format!(
        "BN minus no BN: {} at batch {smallest}, {} at batch {REFERENCE}",
        points(small),
        points(reference)
    );
    (verdict, seen, summary)
}
