//! `init`: "BatchNorm makes training less sensitive to initialisation". Every Linear weight
//! drawn at 0.01x, 0.1x, 1x and 10x PyTorch's default scale.

use super::pairs::Pair;
use super::sweep::{accuracy_chart, accuracy_table, run_sweep, Sweep};
use crate::error::StudyError;
use crate::recipe::Recipe;
use crate::report::{image, pct, Section, Verdict};
use crate::study::Study;
use std::path::Path;

/// Multipliers of the default initial weights.
const SCALES: [f32; 4] = [0.01, 0.1, 1.0, 10.0];
/// How much narrower (in accuracy points) the spread over scales must be with BatchNorm
/// for the claim to count as borne out.
const MARGIN: f64 = 0.01;

/// The runs, one pair per scale.
pub type Results = Sweep;

/// Trains the reference recipe at every init scale, with and without BatchNorm.
pub fn run(study: &Study) -> Results {
    let steps = study.budget.sweep_steps;
    let settings: Vec<(String, Recipe)> = SCALES
        .iter()
        .map(|&init_scale| {
            let recipe = Recipe {
                init_scale,
                ..Recipe::reference(steps, steps / 4)
            };
            (format!("{init_scale}x"), recipe)
        })
        .collect();
    run_sweep(study, "init", &settings)
}

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let steps = r.pairs[0].bn[0].recipe.steps;
    let title = format!("Final test accuracy after {steps} steps, by initial weight scale");
    accuracy_chart(
        &out.join("init.svg"),
        &title,
        "initial weight scale (x PyTorch's default)",
        &r.pairs,
    )?;
    let (verdict, seen, summary) = reading(&r.pairs);
    let body = format!(
        "PyTorch's default draw, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, then every Linear weight \
         (not the biases) multiplied by the scale; {steps} steps at learning rate 0.1. A setting \
         where a seed diverged counts as 0 % in the spread below.\n\n{img}{table}{seen}\n",
        img = image("init.svg", "final accuracy against init scale"),
        table = accuracy_table("init scale", &r.pairs).render(),
    );
    Ok(Section {
        name: "init",
        title: "3. Initialisation: is BatchNorm less sensitive to the initial weights?".to_string(),
        claim: "BatchNorm makes training less sensitive to initialisation".to_string(),
        verdict,
        summary,
        body,
    })
}

/// The best and worst mean final accuracy over the scales (a diverged setting counts 0).
fn best_and_worst(pairs: &[Pair], bn: bool) -> (f64, f64) {
    let means = pairs
        .iter()
        .map(|p| p.final_accuracy(bn).clean_mean().unwrap_or(0.0));
    means.fold((0.0, 1.0), |(best, worst), m| (best.max(m), worst.min(m)))
}

fn reading(pairs: &[Pair]) -> (Verdict, String, String) {
    let (best_no, worst_no) = best_and_worst(pairs, false);
    let (best_bn, worst_bn) = best_and_worst(pairs, true);
    let (spread_no, spread_bn) = (best_no - worst_no, best_bn - worst_bn);
    let verdict = if spread_bn + MARGIN <= spread_no {
        Verdict::BorneOut
    } else {
        Verdict::NotBorneOut
    };
    let points = |x: f64| format!("{:.2} points", x * 100.0);
    let diverged = |bn| -> String {
        let scales: Vec<&str> = pairs
            .iter()
            .filter(|p| !p.final_accuracy(bn).all_finished())
            .map(|p| p.setting.as_str())
            .collect();
        if scales.is_empty() {
            "none".to_string()
        } else {
            scales.join(", ")
        }
    };
    let seen = format!(
        "**What was seen.** Over the four scales the mean final accuracy ranged from {} to {} \
         without BatchNorm (a spread of {}) and from {} to {} with it (a spread of {}). Scales \
         at which a run diverged (counted as 0 %): {} without BatchNorm, {} with it. {}",
        pct(worst_no),
        pct(best_no),
        points(spread_no),
        pct(worst_bn),
        pct(best_bn),
        points(spread_bn),
        diverged(false),
        diverged(true),
        match verdict {
            Verdict::BorneOut => "BatchNorm made the result depend less on the initial scale.",
            _ =>
                "BatchNorm did not make the result depend less on the initial scale by at \
                  least one point: the claim was not borne out here.",
        }
    );
    let summary = format!(
        "spread of final accuracy over 0.01x-10x: {} with BN, {} without",
        points(spread_bn),
        points(spread_no)
    );
    (verdict, seen, summary)
}
