//! The CNN section of the report: the validation curve and the steps to 97 % and 98 % with
//! and without BatchNorm, the grid of learning rates, and the usable range at two bars.

use super::range::{describe, range, reached, usable, widening};
use super::Results;
use crate::error::StudyError;
use crate::experiments::convergence::{accuracy_chart, crossings_table, reading};
use crate::experiments::pairs::{diverged, failed, side_name, Outcome, Pair};
use crate::experiments::sweep::{all_seeds, counted, setting_chart};
use crate::record::{RunRecord, FAILED_BELOW};
use crate::report::{capitalise, effect, image, list, seeds, Claim, Judge, Section, Table, Unit};
use std::path::Path;

/// The stricter bar of the range, beside the study's failure bar ([`FAILED_BELOW`], which
/// the verdict rests on, as in `learning-rate`): a net that has learned the digits, not one
/// that is merely off chance. A rate too small does not fail within the budget, it trains
/// slowly, which only this bar sees.
pub const USABLE_AT: f64 = 0.95;

/// The validation accuracies whose first crossing is reported, the first one judged: within
/// its 400 steps on 12,800 images the net without BatchNorm ends near 96.3 %, so the MLP's
/// 97 % and 98 % would leave most seeds without a crossing to pair.
const THRESHOLDS: [f64; 2] = [0.96, 0.97];

/// The range's effect, in decades of learning rate.
const DECADES: Unit = Unit::Plain(1, "decades");

/// The plots, the tables and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let pair = &r.convergence;
    let curve = &pair.bn[0].recipe;
    let grid = &r.learning_rate;
    let grid_steps = grid[0].bn[0].recipe.steps;
    let title = format!(
        "CNN: validation accuracy, SGD at lr {} momentum {}",
        curve.lr, curve.momentum
    );
    accuracy_chart(&out.join("cnn_convergence.svg"), &title, pair)?;
    let title = format!("CNN: final validation accuracy after {grid_steps} steps");
    let axes = [
        title.as_str(),
        "learning rate (log-spaced), SGD momentum 0.9",
        "final validation accuracy (%)",
    ];
    setting_chart(
        &out.join("cnn_learning_rate.svg"),
        axes,
        grid,
        RunRecord::final_val,
    )?;

    let (mut claims, seen_speed) =
        reading(pair, "BatchNorm speeds up training of the CNN", &THRESHOLDS);
    let (range_claim, seen_range) = range_reading(grid);
    claims.push(range_claim);
    let passes = |steps: usize| steps as f64 * curve.batch_size as f64 / r.train_images as f64;
    // The 95 % half-width of one evaluation's accuracy near 97 %, from the binomial.
    let half_width = 1.96 * (0.97 * 0.03 / r.validation_images as f64).sqrt();
    let body = format!(
        "PyTorch's MNIST example net (`examples/mnist_cnn/model.rs`, the net `mnist_cnn` \
         trains: conv 1→32 3x3, ReLU, conv 32→64 3x3, ReLU, max-pool 2, dropout 0.25, Linear \
         9216→128, ReLU, dropout 0.5, Linear 128→10), without and with BatchNorm (a \
         `BatchNorm2d` after each convolution and a `BatchNorm1d` after the first Linear, each \
         before its ReLU), trained as that example trains it: SGD with momentum {momentum}, \
         batches of 64, learning rate {lr} unless the grid sets another. Per seed both models \
         start from the same weights and see the same batches; {seeds} per setting.\n\n\
         A training step of this net costs about forty of the MLP's, so the section trains on \
         the **first {train} training images** ({conv_passes:.1} passes in the convergence \
         runs, {grid_passes:.1} in the grid's) and measures validation accuracy on the **first \
         {val} validation images** (one evaluation's 95 % binomial half-width near 97 % is \
         {half:.2} points), to keep the section near 12 minutes on 2 cores. The final \
         test accuracy is on all {test} test images. It measures \
         how fast the net learns from few images and which learning rates train it, not the \
         accuracy of longer training: within this budget the net without BatchNorm ends at \
         {plain_end} validation accuracy, so the thresholds are {t0} and {t1} (the MLP's are 97 \
         and 98 %), and the claim is judged at {t0}.\n\n\
         ### Convergence at learning rate {lr}\n\n\
         {conv_steps} steps, the validation accuracy every {every} steps; the step at which it \
         first reached a threshold is interpolated between the two evaluations around the \
         crossing. Final test accuracy: the mean of the final window.\n\n\
         {conv_img}{conv_table}{seen_speed}\n\n\
         ### The usable learning-rate range\n\n\
         Every run of the grid takes {grid_steps} steps at one learning rate. A rate is \
         *usable* for a model when every seed's run of it neither diverged nor ended below a \
         bar of final validation accuracy (the mean of the final window). Two bars: the \
         study's failure bar, {fail}, which the verdict rests on, as in \
         [`learning-rate`](#learning-rate); and {usable}, a net that has learned the digits \
         rather than one that is merely off chance: a rate too small does not fail within \
         the budget, it trains slowly, which only the stricter bar sees. Width: `log10` of \
         the highest usable rate over \
         the lowest; an end at the edge of the grid is written `≤` or `≥` and the width is \
         then a lower bound. With minus without: a percentile bootstrap over seeds (a \
         resampled seed carries its runs at every rate; with few seeds the resamples are few \
         and the interval coarse). The test images are not evaluated in the grid.\n\n\
         {grid_img}{grid_table}{range_table}{seen_range}\n",
        momentum = curve.momentum,
        lr = curve.lr,
        seeds = seeds(pair.bn.len()),
        train = r.train_images,
        conv_passes = passes(curve.steps),
        grid_passes = passes(grid_steps),
        val = r.validation_images,
        half = half_width * 100.0,
        test = r.test_images,
        conv_steps = curve.steps,
        every = curve.eval.every.unwrap_or(curve.steps),
        conv_img = image(
            "cnn_convergence.svg",
            "CNN validation accuracy against steps"
        ),
        conv_table = crossings_table(pair, &THRESHOLDS).render(),
        plain_end = Outcome::of(pair.values(false, RunRecord::final_val)).pct_cell("diverged"),
        t0 = bar(THRESHOLDS[0]),
        t1 = bar(THRESHOLDS[1]),
        fail = bar(FAILED_BELOW),
        usable = bar(USABLE_AT),
        grid_img = image(
            "cnn_learning_rate.svg",
            "CNN final validation accuracy against learning rate"
        ),
        grid_table = grid_table(grid).render(),
        range_table = range_table(grid).render(),
    );
    Ok(Section {
        name: "cnn",
        title: "A convolutional net: does BatchNorm speed it up and widen its learning rates?"
            .to_string(),
        claims,
        body,
    })
}

/// A bar of accuracy in words: `95 %`.
fn bar(fraction: f64) -> String {
    format!("{:.0} %", fraction * 100.0)
}

/// How many of `runs` ended below [`USABLE_AT`] (diverged runs included).
fn short_of_usable(runs: &[RunRecord]) -> usize {
    runs.iter().filter(|r| !reached(r, USABLE_AT)).count()
}

/// Per learning rate: the final validation accuracy of each side, and how many runs
/// diverged, failed and ended short of the bar.
fn grid_table(pairs: &[Pair]) -> Table {
    let failed_heading = format!(
        "runs failed (diverged or < {}), without / with",
        bar(FAILED_BELOW)
    );
    let short_heading = format!("runs under {}, without / with", bar(USABLE_AT));
    let mut table = Table::new(&[
        "learning rate",
        "validation, without BatchNorm",
        "validation, with BatchNorm",
        "runs diverged, without / with",
        failed_heading.as_str(),
        short_heading.as_str(),
    ]);
    for pair in pairs {
        let accuracy = |bn| Outcome::of(pair.values(bn, RunRecord::final_val)).pct_cell("diverged");
        let count = |f: fn(&[RunRecord]) -> usize| {
            format!("{} / {} of {}", f(&pair.no_bn), f(&pair.bn), pair.bn.len())
        };
        table.row([
            pair.setting.clone(),
            accuracy(false),
            accuracy(true),
            count(diverged),
            count(failed),
            count(short_of_usable),
        ]);
    }
    table
}

/// The usable range of each side at both bars, and the widening with its interval.
fn range_table(pairs: &[Pair]) -> Table {
    let levels = [FAILED_BELOW, USABLE_AT];
    let headings = [
        format!(
            "usable at {} (no run failed; the verdict's)",
            bar(FAILED_BELOW)
        ),
        format!("usable at {}", bar(USABLE_AT)),
    ];
    let mut table = Table::new(&["", headings[0].as_str(), headings[1].as_str()]);
    let every_seed = all_seeds(pairs);
    for bn in [false, true] {
        let cells = levels.map(|level| {
            let usable = usable(pairs, bn, level, &every_seed);
            describe(pairs, range(&usable).as_ref())
        });
        table.row([
            side_name(bn).to_string(),
            cells[0].clone(),
            cells[1].clone(),
        ]);
    }
    let widening = levels.map(|level| {
        widening(pairs, level).map_or(
            "not measured (a side has no usable rate)".to_string(),
            |e| effect(&e, DECADES),
        )
    });
    table.row([
        "with minus without, width".to_string(),
        widening[0].clone(),
        widening[1].clone(),
    ]);
    table
}

/// The claim on the range at the failure bar and the paragraph saying what was seen.
fn range_reading(pairs: &[Pair]) -> (Claim, String) {
    let every_seed = all_seeds(pairs);
    let at = |bn: bool, level: f64| {
        let usable = usable(pairs, bn, level, &every_seed);
        describe(pairs, range(&usable).as_ref())
    };
    let wider = widening(pairs, FAILED_BELOW);
    let strict = widening(pairs, USABLE_AT);
    let claim = Claim::judged(
        "BatchNorm widens the CNN's usable learning-rate range",
        wider.as_ref(),
        Judge::above(
            "decades of learning rate at which no run failed, with minus without BatchNorm",
            DECADES,
            "a side had no learning rate at which no run failed",
        ),
    );
    let sentences = [
        format!(
            "usable at {} (no failure): without BatchNorm {}, with BatchNorm {}; with minus \
             without, {}",
            bar(FAILED_BELOW),
            at(false, FAILED_BELOW),
            at(true, FAILED_BELOW),
            wider.map_or("not measured".to_string(), |e| effect(&e, DECADES)),
        ),
        format!(
            "usable at {}: without {}, with {}; with minus without, {}",
            bar(USABLE_AT),
            at(false, USABLE_AT),
            at(true, USABLE_AT),
            strict.map_or(
                "not measured (a side has no usable rate)".to_string(),
                |e| { effect(&e, DECADES) }
            ),
        ),
        format!(
            "learning rates at which runs failed: {} without BatchNorm, {} with it; at which \
             runs diverged: {} without, {} with",
            list(&counted(pairs, false, failed)),
            list(&counted(pairs, true, failed)),
            list(&counted(pairs, false, diverged)),
            list(&counted(pairs, true, diverged)),
        ),
    ];
    let seen = format!("**What was seen.** {}.", capitalise(&sentences.join("; ")));
    (claim, seen)
}
