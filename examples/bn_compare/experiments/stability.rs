//! `stability`: "BatchNorm makes training more stable", measured directly over a grid of
//! learning rates and initial scales, every seed: how many runs diverge or fail, how many
//! loss spikes the others have, how much their gradient's norm varies, and how much the
//! seeds' results spread.

use super::pairs::{diverged, failed, side_name, Pair, Sweep};
use crate::error::StudyError;
use crate::plots::{panels, Axes, Axis, Series, PALETTE};
use crate::recipe::Recipe;
use crate::record::RunRecord;
use crate::report::{effect, image, seeds, Claim, Judge, Section, Table, Unit};
use crate::schedule::TestAt;
use crate::stats::{paired_difference, wilson, Effect, Summary};
use crate::study::Study;
use plotters::prelude::{RGBColor, SeriesLabelPosition};
use std::path::Path;

/// The learning rates of the grid.
const RATES: [f64; 4] = [0.1, 0.3, 1.0, 3.0];
/// The initial weight scales of the grid (x PyTorch's default).
const SCALES: [f32; 4] = [0.3, 1.0, 3.0, 10.0];

/// The runs, one pair per (learning rate, scale), rates outer.
pub type Results = Vec<Pair>;

/// The grid: the reference recipe at every learning rate and init scale.
pub fn sweep(study: &Study) -> Sweep {
    let mut reference = Recipe::reference(study.budget.stability_steps);
    // Stability is read from training and the validation images: no test figure.
    reference.eval.test = TestAt::Never;
    let mut settings = Vec::new();
    for lr in RATES {
        for init_scale in SCALES {
            let recipe = Recipe {
                lr,
                init_scale,
                ..reference.clone()
            };
            settings.push((format!("lr {lr}, {init_scale}x"), recipe));
        }
    }
    Sweep {
        name: "stability",
        settings,
    }
}

/// Every paired unit of the grid: `(without, with)` BatchNorm, same setting and seed.
fn units(pairs: &[Pair]) -> Vec<(&RunRecord, &RunRecord)> {
    pairs
        .iter()
        .flat_map(|p| p.no_bn.iter().zip(&p.bn))
        .collect()
}

/// Without minus with BatchNorm, the share of runs for which `bad` holds, with its
/// bootstrap interval over the paired units.
fn rate_difference(pairs: &[Pair], bad: fn(&RunRecord) -> bool) -> Option<Effect> {
    let units = units(pairs);
    Effect::bootstrapped(units.len(), 0.0, |draw| {
        let count = |bn: bool| {
            let run = |i: usize| if bn { units[i].1 } else { units[i].0 };
            draw.iter().filter(|&&i| bad(run(i))).count() as f64
        };
        Some((count(false) - count(true)) / draw.len() as f64)
    })
}

/// Without minus with BatchNorm of `value`, paired over the units where neither diverged.
fn finished_difference(
    pairs: &[Pair],
    value: impl Fn(&RunRecord) -> Option<f64>,
) -> Option<Effect> {
    let units: Vec<_> = units(pairs)
        .into_iter()
        .filter(|(a, b)| a.diverged.is_none() && b.diverged.is_none())
        .collect();
    let without: Vec<Option<f64>> = units.iter().map(|u| value(u.0)).collect();
    let with: Vec<Option<f64>> = units.iter().map(|u| value(u.1)).collect();
    paired_difference(&without, &with)
}

fn spikes(r: &RunRecord) -> Option<f64> {
    Some(r.stability.spikes as f64)
}

fn grad_sd(r: &RunRecord) -> Option<f64> {
    r.stability.grad_norm_log_sd
}

/// Over the settings where no run of either side failed: in how many the seeds' final
/// validation accuracies spread less with BatchNorm (standard deviations), and the mean
/// `log10` of the ratio of the two standard deviations with its bootstrap interval over
/// those settings.
fn seed_spread(pairs: &[Pair]) -> (usize, usize, Option<Effect>) {
    let sd = |runs: &[RunRecord]| {
        Summary::of(runs.iter().filter_map(RunRecord::final_val)).map(|s| s.sd)
    };
    let ratios: Vec<(f64, f64)> = pairs
        .iter()
        .filter(|p| p.no_bn.iter().chain(&p.bn).all(|r| !r.failed()))
        .filter_map(|p| Some((sd(&p.no_bn)?, sd(&p.bn)?)))
        .filter(|(a, b)| *a > 0.0 && *b > 0.0)
        .collect();
    let smaller = ratios.iter().filter(|(no, bn)| bn < no).count();
    let effect = Effect::bootstrapped(ratios.len(), 0.0, |draw| {
        let logs = draw.iter().map(|&i| (ratios[i].0 / ratios[i].1).log10());
        Some(logs.sum::<f64>() / draw.len() as f64)
    });
    (smaller, ratios.len(), effect)
}

/// The colours of the init scales' lines.
const COLORS: [RGBColor; 4] = [PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3]];

/// The plot, the table and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let figure: Vec<(Axes, Vec<Series>)> = [false, true]
        .map(|bn| {
            let series = SCALES
                .iter()
                .zip(COLORS)
                .map(|(&scale, color)| {
                    let points = RATES.iter().enumerate().filter_map(|(i, &lr)| {
                        let pair = r.iter().find(|p| {
                            let recipe = &p.bn[0].recipe;
                            recipe.lr == lr && recipe.init_scale == scale
                        })?;
                        let runs = pair.side(bn);
                        let (p, lo, hi) = wilson(failed(runs), runs.len())?;
                        let s = Summary::interval(p, lo, hi, runs.len()).scaled(100.0);
                        Some((i as f64, s))
                    });
                    Series::new(&format!("init {scale}x"), color, points.collect())
                })
                .collect();
            let axes = Axes {
                title: format!("Runs failed, {}", side_name(bn)),
                x: Axis::categories("learning rate", RATES.iter().map(|lr| lr.to_string())),
                y: Axis::linear("failed runs (%), Wilson 95 % interval").range(0.0, 100.0),
                legend: SeriesLabelPosition::UpperLeft,
            };
            (axes, series)
        })
        .into();
    panels(&out.join("stability.svg"), &figure)?;

    let mut table = Table::new(&[
        "setting",
        "failed (diverged), without / with",
        "loss spikes per run, without / with",
        "sd of log10 gradient norm, without / with",
    ]);
    for p in r {
        let mean = |runs: &[RunRecord], f: fn(&RunRecord) -> Option<f64>, d: usize| {
            Summary::of(runs.iter().filter(|r| r.diverged.is_none()).filter_map(f))
                .map_or("–".to_string(), |s| format!("{:.d$}", s.mean))
        };
        let runs = |bn| p.side(bn);
        table.row([
            p.setting.clone(),
            format!(
                "{} ({}) / {} ({})",
                failed(runs(false)),
                diverged(runs(false)),
                failed(runs(true)),
                diverged(runs(true))
            ),
            format!(
                "{} / {}",
                mean(runs(false), spikes, 1),
                mean(runs(true), spikes, 1)
            ),
            format!(
                "{} / {}",
                mean(runs(false), grad_sd, 3),
                mean(runs(true), grad_sd, 3)
            ),
        ]);
    }
    let (claims, seen) = reading(r);
    let recipe = &r[0].bn[0].recipe;
    let body = format!(
        "A grid of {rates} learning rates x {scales} initial scales, {seeds} each, with \
         and without BatchNorm: {runs} runs of {steps} steps. Per run: whether it diverged \
         (a NaN or infinite loss) or failed (diverged, or ended below 50 % validation \
         accuracy); its loss spikes (steps whose batch loss was more than {rise} nat above \
         the median of the {window} steps before); and the standard deviation of log10 of \
         the gradient's norm over the second half of the run (a scale-free measure: \
         BatchNorm changes the gradient's scale, not this). The rates are shares of the \
         {per_side} runs of a side; their difference is bootstrapped over the paired runs \
         (same setting, same seed). Spikes and gradient variation are compared over the \
         pairs where neither run diverged.\n\n{img}{table}{seen}\n",
        rates = RATES.len(),
        scales = SCALES.len(),
        seeds = seeds(r[0].bn.len()),
        runs = 2 * r.len() * r[0].bn.len(),
        steps = recipe.steps,
        rise = crate::monitor::SPIKE_RISE,
        window = crate::monitor::SPIKE_WINDOW,
        per_side = r.len() * r[0].bn.len(),
        img = image("stability.svg", "share of failed runs over the grid"),
        table = table.render(),
    );
    Ok(Section {
        name: "stability",
        title: "Stability: does BatchNorm make training more stable?".to_string(),
        claims,
        body,
    })
}

fn reading(pairs: &[Pair]) -> (Vec<Claim>, String) {
    let totals = |bn: bool, bad: fn(&RunRecord) -> bool| {
        let runs: Vec<&RunRecord> = pairs.iter().flat_map(|p| p.side(bn)).collect();
        (runs.iter().filter(|r| bad(r)).count(), runs.len())
    };
    let is_failed: fn(&RunRecord) -> bool = RunRecord::failed;
    let is_diverged: fn(&RunRecord) -> bool = |r| r.diverged.is_some();
    let rate = |(k, n): (usize, usize)| match wilson(k, n) {
        Some((p, lo, hi)) => format!(
            "{k} of {n} ({:.1} % [{:.1}, {:.1}], Wilson)",
            p * 100.0,
            lo * 100.0,
            hi * 100.0
        ),
        None => "none".to_string(),
    };
    let failure = rate_difference(pairs, is_failed);
    let divergence = rate_difference(pairs, is_diverged);
    let spike = finished_difference(pairs, spikes);
    let gradient = finished_difference(pairs, grad_sd);
    let (smaller, settings, spread) = seed_spread(pairs);
    let claim = |text: &str, what: &str, e: &Option<Effect>, unit| {
        Claim::judged(
            text,
            e.as_ref(),
            Judge::above(what, unit, "no pair of runs to compare"),
        )
    };
    let claims = vec![
        claim(
            "BatchNorm makes training more stable: fewer runs fail",
            "share of failed runs over the grid, without minus with BatchNorm",
            &failure,
            Unit::Points,
        ),
        claim(
            "BatchNorm makes training more stable: fewer loss spikes",
            "loss spikes per run, without minus with BatchNorm",
            &spike,
            Unit::Plain(2, "spikes"),
        ),
        claim(
            "BatchNorm makes training more stable: a steadier gradient norm",
            "sd of log10 gradient norm, without minus with BatchNorm",
            &gradient,
            Unit::Plain(3, ""),
        ),
    ];
    let text =
        |e: &Option<Effect>, unit| e.map_or("not measured".to_string(), |e| effect(&e, unit));
    let seen = format!(
        "**What was seen.** Runs that failed: {} without BatchNorm, {} with it; the difference \
         in share, {}. Runs that diverged: {} without, {} with; difference {}. Over the pairs \
         where neither diverged, loss spikes per run, without minus with: {}; the standard \
         deviation of log10 gradient norm, without minus with: {}. Seed-to-seed spread of the \
         final validation accuracy, over the {settings} settings where no run failed: smaller \
         with BatchNorm in {smaller} of them; mean log10 of the ratio of standard deviations \
         (without over with), {}.",
        rate(totals(false, is_failed)),
        rate(totals(true, is_failed)),
        text(&failure, Unit::Points),
        rate(totals(false, is_diverged)),
        rate(totals(true, is_diverged)),
        text(&divergence, Unit::Points),
        text(&spike, Unit::Plain(2, "spikes")),
        text(&gradient, Unit::Plain(3, "")),
        text(&spread, Unit::Plain(2, "")),
    );
    (claims, seen)
}
