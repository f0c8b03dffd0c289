//! `regularization`: "BatchNorm regularizes". On a training subset small enough to overfit,
//! trained long: the train-test gap and the test loss over time, and the test accuracy at
//! matched training loss (a regularizer generalises better at the same fit; a faster
//! optimiser only gets there sooner), against Dropout and weight decay (their strength
//! chosen on the validation images), with both BatchNorm and Dropout, and with BatchNorm over
//! ghost batches (more batch noise) to see whether the noise of the batch statistics is what
//! helps.

use super::matched::{matched, reached_by_all, LEVELS};
use super::series::shown;
use crate::data::Dataset;
use crate::error::StudyError;
use crate::plots::{line_chart, Axes, Axis, Series, BN, NO_BN, PALETTE};
use crate::recipe::Recipe;
use crate::record::{RunRecord, TEST_ACCURACY, TEST_LOSS, TRAIN_ACCURACY, TRAIN_LOSS};
use crate::report::{effect, image, list, pct, seeds, Claim, Expect, Judge, Section, Table, Unit};
use crate::schedule::TestAt;
use crate::stats::{by_step, paired_difference, Effect, Summary};
use crate::study::Study;
use plotters::prelude::{RGBColor, SeriesLabelPosition};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Dropout probabilities tried (after each hidden activation).
const DROPOUTS: [f32; 2] = [0.2, 0.5];
/// L2 weight decays tried.
const DECAYS: [f64; 3] = [1e-4, 1e-3, 1e-2];
/// Ghost batch sizes of the noise ablation (the batch is 64).
const GHOSTS: [usize; 2] = [16, 8];

/// One strength tried for a regularizer on the first seed, and its run.
#[derive(Serialize, Deserialize)]
pub struct Candidate {
    /// `dropout` or `weight decay`.
    pub regularizer: String,
    /// The probability or the coefficient.
    pub strength: f64,
    /// The run; its final validation accuracy decided.
    pub run: RunRecord,
}

/// One model, every seed.
#[derive(Serialize, Deserialize)]
pub struct Group {
    /// The model's name in plots and tables.
    pub name: String,
    /// One run per seed.
    pub runs: Vec<RunRecord>,
}

/// The runs.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// Training images (the first of the training part).
    pub images: usize,
    /// Steps of one epoch over them.
    pub steps_per_epoch: usize,
    /// The strengths tried, on the first seed.
    pub candidates: Vec<Candidate>,
    /// The models, plain first, BatchNorm second.
    pub groups: Vec<Group>,
}

/// The recipe every model starts from: the reference, on the subset, evaluated every so
/// many epochs on the training and test images (validation in the final window only).
fn base(study: &Study) -> (Recipe, usize) {
    let b = &study.budget;
    let per_epoch = (b.regularization_images / 64).max(1);
    let steps = b.regularization_epochs * per_epoch;
    let mut recipe = Recipe::reference(steps).curve(b.regularization_eval_every_epochs * per_epoch);
    recipe.eval.validation_always = false;
    recipe.eval.test = TestAt::Always;
    recipe.eval.on_train = true;
    (recipe, per_epoch)
}

fn dropout(recipe: &Recipe, p: f32) -> Recipe {
    Recipe {
        dropout: p,
        ..recipe.clone()
    }
}

fn decay(recipe: &Recipe, wd: f64) -> Recipe {
    Recipe {
        weight_decay: wd,
        ..recipe.clone()
    }
}

/// The candidates' recipes, on the first seed.
fn candidates(study: &Study) -> Vec<Recipe> {
    let (r, _) = base(study);
    let seed = study.seeds[0];
    let d = DROPOUTS.iter().map(|&p| dropout(&r, p).seed(seed));
    d.chain(DECAYS.iter().map(|&wd| decay(&r, wd).seed(seed)))
        .collect()
}

/// The models, given the chosen dropout and decay: `(name, recipe)`.
fn models(study: &Study, p: f32, wd: f64) -> Vec<(String, Recipe)> {
    let (r, _) = base(study);
    let mut models = vec![
        ("without normalisation".to_string(), r.clone()),
        ("BatchNorm".to_string(), r.bn(true)),
    ];
    for g in GHOSTS {
        let ghost = Recipe {
            ghost_batch: Some(g),
            ..r.bn(true)
        };
        models.push((format!("BatchNorm, ghost batches of {g}"), ghost));
    }
    models.push((format!("Dropout {p}"), dropout(&r, p)));
    models.push((format!("weight decay {wd}"), decay(&r, wd)));
    models.push((format!("BatchNorm + Dropout {p}"), dropout(&r.bn(true), p)));
    models
}

/// The training subset every model is trained on.
fn subset(study: &Study) -> Dataset {
    study
        .data
        .with_train_images(study.budget.regularization_images)
}

/// What it will train (the chosen strengths are not known before; the estimate takes the
/// first of each). The chosen strengths' runs on the first seed are the candidates', so two
/// fewer runs are trained than listed.
pub fn planned(study: &Study) -> Vec<Recipe> {
    let data = subset(study);
    let mut all = candidates(study);
    for (_, recipe) in models(study, DROPOUTS[0], DECAYS[0]) {
        all.extend(
            study
                .seeds_on(&recipe, &data)
                .iter()
                .map(|&s| recipe.seed(s)),
        );
    }
    all
}

/// Chooses the strengths on the validation images, then trains every model on every seed
/// (the first seed's run of a chosen strength is the one already trained).
pub fn run(study: &Study) -> Results {
    let data = study
        .data
        .with_train_images(study.budget.regularization_images);
    let (_, steps_per_epoch) = base(study);
    let progress = study.progress("regularization", planned(study).len());
    let train =
        |recipes: &[Recipe]| study.map(recipes, |r| crate::runner::run(r, &data, &progress).0);
    let tried = candidates(study);
    let tried_runs = train(&tried);
    let best = |range: std::ops::Range<usize>| {
        range.max_by(|&a, &b| {
            let v = |i: usize| tried_runs[i].final_val().unwrap_or(-1.0);
            v(a).total_cmp(&v(b))
        })
    };
    let p = DROPOUTS[best(0..DROPOUTS.len()).expect("a dropout tried")];
    let wd = DECAYS[best(DROPOUTS.len()..tried.len()).expect("a decay tried") - DROPOUTS.len()];
    let candidates: Vec<Candidate> = tried_runs
        .iter()
        .map(|r| {
            let dropout = r.recipe.dropout > 0.0;
            Candidate {
                regularizer: if dropout { "dropout" } else { "weight decay" }.to_string(),
                // Through its text: the f32 0.2 as the f64 0.2, not 0.20000000298023224.
                strength: if dropout {
                    r.recipe.dropout.to_string().parse().unwrap_or(f64::NAN)
                } else {
                    r.recipe.weight_decay
                },
                run: r.clone(),
            }
        })
        .collect();
    let models = models(study, p, wd);
    // Every (model, seed) not already trained as a candidate.
    let same =
        |a: &Recipe, b: &Recipe| serde_json::to_value(a).ok() == serde_json::to_value(b).ok();
    let wanted: Vec<Recipe> = models
        .iter()
        .flat_map(|(_, r)| study.seeds_on(r, &data).iter().map(|&s| r.seed(s)))
        .collect();
    let missing: Vec<Recipe> = wanted
        .iter()
        .filter(|w| !tried.iter().any(|t| same(t, w)))
        .cloned()
        .collect();
    let mut fresh = train(&missing).into_iter();
    let groups = models
        .into_iter()
        .map(|(name, recipe)| {
            let runs = study
                .seeds_on(&recipe, &data)
                .iter()
                .map(|&s| {
                    let wanted = recipe.seed(s);
                    match tried.iter().position(|t| same(t, &wanted)) {
                        Some(i) => tried_runs[i].clone(),
                        None => fresh.next().expect("one run per missing recipe"),
                    }
                })
                .collect();
            Group { name, runs }
        })
        .collect();
    Results {
        images: data.train.len(),
        steps_per_epoch,
        candidates,
        groups,
    }
}

/// The colours of the groups, in order.
const COLORS: [RGBColor; 7] = [
    NO_BN,
    BN,
    RGBColor(120, 170, 230),
    RGBColor(170, 200, 240),
    PALETTE[0],
    PALETTE[1],
    PALETTE[2],
];

/// `(step, train accuracy - test accuracy)` of a run.
fn gap(r: &RunRecord) -> Vec<(usize, f64)> {
    let points = r.evaluations.iter();
    points
        .filter_map(|e| Some((e.step, e.train_accuracy? - e.test_accuracy?)))
        .collect()
}

/// A series per group of a curve over epochs.
fn over_epochs(
    r: &Results,
    curve: impl Fn(&RunRecord) -> Vec<(usize, f64)>,
    scale: f64,
) -> Vec<Series> {
    r.groups
        .iter()
        .zip(COLORS)
        .map(|(g, color)| {
            let points = by_step(g.runs.iter().map(&curve))
                .into_iter()
                .filter(|(s, _)| *s > 0)
                .map(|(s, v)| (s as f64 / r.steps_per_epoch as f64, v.scaled(scale)));
            Series::new(&g.name, color, points.collect())
        })
        .collect()
}

/// Per group, test accuracy against training loss: at each evaluation, the mean training
/// loss over seeds and the test accuracy's mean and interval.
fn against_fit(r: &Results) -> Vec<Series> {
    r.groups
        .iter()
        .zip(COLORS)
        .map(|(g, color)| {
            let losses = by_step(g.runs.iter().map(|run| run.curve(TRAIN_LOSS)));
            let accuracies = by_step(g.runs.iter().map(|run| run.curve(TEST_ACCURACY)));
            let mut points: Vec<(f64, Summary)> = losses
                .iter()
                .zip(&accuracies)
                .filter(|(l, a)| l.0 == a.0 && l.0 > 0 && l.1.mean > 0.0)
                .map(|(l, a)| (l.1.mean, shown(a.1, 100.0)))
                .collect();
            points.sort_by(|a, b| b.0.total_cmp(&a.0));
            Series::new(&g.name, color, points)
        })
        .collect()
}

fn final_summary(g: &Group, value: impl Fn(&RunRecord) -> Option<f64>) -> Option<Summary> {
    Summary::of(g.runs.iter().filter_map(value))
}

/// The plots, the tables and what was seen.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    let epochs_axis = || Axis::linear("epoch");
    line_chart(
        &out.join("regularization_gap.svg"),
        &Axes {
            title: format!("Train minus test accuracy, {} training images", r.images),
            x: epochs_axis(),
            y: Axis::linear("train - test accuracy (points)"),
            legend: SeriesLabelPosition::LowerRight,
        },
        &over_epochs(r, gap, 100.0),
    )?;
    line_chart(
        &out.join("regularization_test_loss.svg"),
        &Axes {
            title: "Test loss".to_string(),
            x: epochs_axis(),
            y: Axis::log("test cross-entropy (log scale)"),
            legend: SeriesLabelPosition::UpperRight,
        },
        &over_epochs(r, |run| run.curve(TEST_LOSS), 1.0),
    )?;
    line_chart(
        &out.join("regularization_matched.svg"),
        &Axes {
            title: "Test accuracy against training loss (each point an evaluation)".to_string(),
            x: Axis::log("training loss, evaluation mode, whole subset (log scale)"),
            y: Axis::linear("test accuracy (%)"),
            legend: SeriesLabelPosition::LowerLeft,
        },
        &against_fit(r),
    )?;

    let mut finals = Table::new(&[
        "model",
        "final train accuracy",
        "final train loss",
        "final test accuracy",
        "gap (points)",
        "final test loss",
        "runs at 100 % train accuracy",
    ]);
    for g in &r.groups {
        let pct_cell =
            |v: Option<Summary>| v.map_or("diverged".to_string(), crate::report::pct_summary);
        let num =
            |v: Option<Summary>| v.map_or("–".to_string(), |s| crate::report::num_summary(s, 4));
        let train = |run: &RunRecord| run.final_mean(TRAIN_ACCURACY);
        let full = g
            .runs
            .iter()
            .filter(|run| train(run).is_some_and(|a| a >= 1.0))
            .count();
        finals.row([
            g.name.clone(),
            pct_cell(final_summary(g, train)),
            num(final_summary(g, |run| run.final_mean(TRAIN_LOSS))),
            pct_cell(final_summary(g, RunRecord::final_test)),
            final_summary(g, |run| Some(train(run)? - run.final_test()?))
                .map_or("–".to_string(), |s| format!("{:.2}", s.mean * 100.0)),
            num(final_summary(g, |run| run.final_mean(TEST_LOSS))),
            format!("{full}/{}", g.runs.len()),
        ]);
    }
    let headings: Vec<String> = std::iter::once("model".to_string())
        .chain(
            LEVELS
                .iter()
                .map(|l| format!("test accuracy at training loss {l} (epoch)")),
        )
        .collect();
    let mut matched_table = Table::new(&headings.iter().map(String::as_str).collect::<Vec<_>>());
    for g in &r.groups {
        let cells = LEVELS.iter().map(|&level| {
            let acc = Summary::of(
                g.runs
                    .iter()
                    .filter_map(|run| matched(run, level, TEST_ACCURACY)),
            );
            let step = Summary::of(
                g.runs
                    .iter()
                    .filter_map(|run| matched(run, level, |e| Some(e.step as f64))),
            );
            let reached = g
                .runs
                .iter()
                .filter(|run| matched(run, level, TEST_ACCURACY).is_some())
                .count();
            match (acc, step) {
                (Some(a), Some(s)) => format!(
                    "{} ({:.1}){}",
                    crate::report::pct_summary(a),
                    s.mean / r.steps_per_epoch as f64,
                    if reached < g.runs.len() {
                        format!(", {reached}/{} reached", g.runs.len())
                    } else {
                        String::new()
                    }
                ),
                _ => "not reached".to_string(),
            }
        });
        matched_table.row(std::iter::once(g.name.clone()).chain(cells));
    }
    let tried: Vec<String> = r
        .candidates
        .iter()
        .map(|c| {
            let accuracy = c.run.final_val().map_or("diverged".to_string(), pct);
            format!("{} {}: {accuracy}", c.regularizer, c.strength)
        })
        .collect();
    let recipe = &r.groups[0].runs[0].recipe;
    let (claims, seen) = reading(r);
    let body = format!(
        "The first {images} training images only, {epochs} epochs ({steps} steps of {batch}), \
         {seeds} per model; every {every} epochs, the accuracy and loss on those \
         training images (evaluation mode: no Dropout, running statistics) and on the test \
         images. Dropout after each hidden activation and L2 weight decay had their strength \
         chosen on the validation images (first seed, final window): {tried}. Ghost batches \
         cut each batch of {batch} into parts normalised alone (more noise in the statistics; \
         the other layers act per sample, so only BatchNorm sees it).\n\n\
         A gap between training and test accuracy only means something while the training \
         accuracy can still move: once a model fits every training image, a narrower gap is \
         the same fact as a higher test accuracy. The matched comparison reads every model at \
         the same training loss (its first crossing of each level, interpolated in log loss \
         between evaluations): a regularizer has the higher test accuracy there, a faster \
         optimiser only reaches it sooner.\n\n\
         {gap_img}{loss_img}{matched_img}{finals}{matched}{seen}\n",
        images = r.images,
        epochs = recipe.steps / r.steps_per_epoch,
        steps = recipe.steps,
        batch = recipe.batch_size,
        seeds = seeds(r.groups[0].runs.len()),
        every = recipe.eval.every.unwrap_or(recipe.steps) / r.steps_per_epoch,
        tried = list(&tried),
        gap_img = image("regularization_gap.svg", "train-test gap against epochs"),
        loss_img = image("regularization_test_loss.svg", "test loss against epochs"),
        matched_img = image(
            "regularization_matched.svg",
            "test accuracy against training loss"
        ),
        finals = finals.render(),
        matched = matched_table.render(),
    );
    Ok(Section {
        name: "regularization",
        title: "Regularization: BatchNorm against Dropout and weight decay, at matched fit"
            .to_string(),
        claims,
        body,
    })
}

/// `a - b` of two groups' test accuracy at training loss `level`, paired by seed.
fn at_level(a: &Group, b: &Group, level: f64) -> Option<Effect> {
    let values = |g: &Group| -> Vec<Option<f64>> {
        g.runs
            .iter()
            .map(|run| matched(run, level, TEST_ACCURACY))
            .collect()
    };
    paired_difference(&values(a), &values(b))
}

fn reading(r: &Results) -> (Vec<Claim>, String) {
    const CLAIM: &str = "BatchNorm regularizes";
    let (plain, bn) = (&r.groups[0], &r.groups[1]);
    // Each comparison at the lowest training loss every run of both groups reached.
    let matched_effect = |a: &Group, b: &Group| {
        let level = reached_by_all(&[&a.runs, &b.runs])?;
        Some((level, at_level(a, b, level)?))
    };
    let text =
        |e: Option<Effect>| e.map_or("not measured".to_string(), |e| effect(&e, Unit::Points));
    let at_text = |m: Option<(f64, Effect)>| match m {
        Some((level, e)) => format!("{} at training loss {level}", effect(&e, Unit::Points)),
        None => "not measured (no level reached by every run of both)".to_string(),
    };
    let main = matched_effect(bn, plain);
    let what = format!(
        "test accuracy at training loss {}, BatchNorm minus without",
        main.map_or(f64::NAN, |m| m.0)
    );
    let claim = Claim::judged(
        CLAIM,
        main.as_ref().map(|m| &m.1),
        Judge {
            what: &what,
            unit: Unit::Points,
            claimed: Expect::Above,
            missing: "no training loss level reached by every run of both",
        },
    );
    let others: Vec<String> = r.groups[2..]
        .iter()
        .map(|g| {
            let against = if g.name.starts_with("BatchNorm") {
                bn
            } else {
                plain
            };
            format!(
                "{} minus {}, {}",
                g.name,
                against.name,
                at_text(matched_effect(g, against))
            )
        })
        .collect();
    let final_diff = |a: &Group, b: &Group| {
        let values = |g: &Group| g.runs.iter().map(RunRecord::final_test).collect::<Vec<_>>();
        paired_difference(&values(a), &values(b))
    };
    let both = r
        .groups
        .iter()
        .find(|g| g.name.starts_with("BatchNorm + Dropout"));
    let seen = format!(
        "**What was seen.** At the end of training, BatchNorm minus without in test accuracy: \
         {}; BatchNorm + Dropout minus BatchNorm alone: {}. At matched training loss, \
         BatchNorm minus without: {}; {}.",
        text(final_diff(bn, plain)),
        both.map_or("not measured".to_string(), |g| text(final_diff(g, bn))),
        at_text(main),
        others.join("; "),
    );
    (vec![claim], seen)
}
