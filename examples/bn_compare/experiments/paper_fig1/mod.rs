//! `paper-fig1`: Ioffe and Szegedy (2015), Figure 1, as the paper sets it. Three hidden
//! layers of 100 sigmoid units, batches of 60, 50,000 steps: (a) test accuracy against steps,
//! (b, c) the 15th, 50th and 85th percentiles of the input to one sigmoid of the last hidden
//! layer over training, without and with BatchNorm. The paper's inputs (binary), weights
//! (Gaussian), and no Linear bias before a BatchNorm; the learning rate, which the paper does
//! not give, chosen per model on the validation images. Beside it, the same networks on
//! standardized inputs at learning rate 0.5.

mod options;
mod probe;
mod render;

pub use options::{Input, PaperOptions};
pub use render::render;

use super::pairs::Pair;
use crate::data::Dataset;
use crate::recipe::Recipe;
use crate::record::RunRecord;
use crate::runner::run_observed;
use crate::schedule::TestAt;
use crate::study::{Progress, Study};
use probe::{Probe, Prober};
use serde::{Deserialize, Serialize};

/// The learning rates tried when `--lr` is not given.
const CANDIDATES: [f64; 4] = [0.1, 0.3, 1.0, 3.0];
/// The learning rate of the standardized-input networks shown beside the paper's.
const STANDARDIZED_LR: f64 = 0.5;

/// How the learning rates were chosen: per model, the final validation accuracy of a
/// full-length run on the first seed at each candidate.
#[derive(Serialize, Deserialize)]
pub struct Selection {
    /// The candidates.
    pub candidates: Vec<f64>,
    /// Per candidate, the runs `[without, with]` BatchNorm.
    pub runs: Vec<[RunRecord; 2]>,
}

impl Selection {
    /// Per candidate, `[without, with]` BatchNorm: the final validation accuracy (`None` if
    /// the run diverged).
    pub fn validation(&self) -> Vec<[Option<f64>; 2]> {
        self.runs
            .iter()
            .map(|p| p.clone().map(|r| r.final_val()))
            .collect()
    }
}

/// The paper's networks, trained one way.
#[derive(Serialize, Deserialize)]
pub struct Networks {
    /// The inputs.
    pub input: Input,
    /// The runs without and with BatchNorm (each side at its learning rate).
    pub pair: Pair,
    /// One per run, in the order without BatchNorm (every seed), then with.
    pub probes: Vec<Probe>,
}

/// The runs and their probes.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// The options the experiment ran with.
    pub options: PaperOptions,
    /// Test images the accuracies and percentiles are taken over.
    pub test_images: usize,
    /// How the learning rates were chosen (`None` if `--lr` gave it).
    pub selection: Option<Selection>,
    /// The networks of the options.
    pub main: Networks,
    /// On standardized inputs at learning rate 0.5 (when the main ones are not already).
    pub standardized: Option<Networks>,
}

/// The paper's network on `input`, at learning rate `lr`, BatchNorm off.
fn recipe(study: &Study, options: &PaperOptions, lr: f64) -> Recipe {
    let b = &study.budget;
    let mut recipe = Recipe {
        hidden: vec![100, 100, 100],
        activation: tapegrad::layers::Activation::Sigmoid,
        batch_size: 60,
        init: options.init,
        bias_before_norm: false,
        lr,
        ..Recipe::reference(b.paper_steps).curve(b.paper_eval_every)
    };
    recipe.eval.test = TestAt::Always;
    recipe
}

/// Every recipe the experiment may train (the estimate counts the candidates' runs and the
/// other seeds at one rate).
pub fn planned(study: &Study, options: &PaperOptions) -> Vec<Recipe> {
    let mut all = Vec::new();
    let base = recipe(study, options, options.lr.unwrap_or(CANDIDATES[0]));
    let seeds = study.seeds_for(&base);
    let first = if options.lr.is_some() { 0 } else { 1 };
    if options.lr.is_none() {
        for lr in CANDIDATES {
            let r = recipe(study, options, lr).seed(seeds[0]);
            all.extend([r.bn(false), r.bn(true)]);
        }
    }
    for bn in [false, true] {
        all.extend(seeds[first..].iter().map(|&s| base.bn(bn).seed(s)));
    }
    if options.input != Input::Standardized {
        let r = recipe(study, options, STANDARDIZED_LR);
        for bn in [false, true] {
            all.extend(study.seeds_for(&r).iter().map(|&s| r.bn(bn).seed(s)));
        }
    }
    all
}

/// One run with its probe.
fn probed(recipe: &Recipe, data: &Dataset, progress: &Progress) -> (RunRecord, Probe) {
    let mut prober = Prober::new();
    let every = recipe.eval.every;
    let (record, _) = run_observed(recipe, data, progress, &mut |step, model| {
        // The curve's evaluations only: the window's extra ones would crowd the panels. Not
        // step 0: in evaluation mode an untrained BatchNorm still has its initial running
        // statistics (mean 0, variance 1) and passes its input through, which is not the
        // network training runs.
        if step > 0 && every.is_some_and(|e| step % e == 0) {
            prober.observe(step, model, data);
        }
    });
    (record, prober.finish(recipe))
}

/// Trains `recipes` with probes, spread over the workers.
fn train(
    study: &Study,
    data: &Dataset,
    progress: &Progress,
    recipes: &[Recipe],
) -> Vec<(RunRecord, Probe)> {
    study.map(recipes, |r| probed(r, data, progress))
}

/// The networks of both sides, side `bn` at `lrs[bn]`, every seed; the runs in `done` (the
/// candidates') are taken rather than trained again.
fn networks(
    study: &Study,
    data: &Dataset,
    progress: &Progress,
    options: &PaperOptions,
    lrs: [f64; 2],
    done: Vec<(RunRecord, Probe)>,
) -> Networks {
    let seeds = study.seeds_for(&recipe(study, options, lrs[0])).to_vec();
    let wanted: Vec<Recipe> = [false, true]
        .iter()
        .flat_map(|&bn| {
            let r = recipe(study, options, lrs[usize::from(bn)]).bn(bn);
            seeds.iter().map(move |&s| r.seed(s)).collect::<Vec<_>>()
        })
        .collect();
    let same =
        |a: &Recipe, b: &Recipe| serde_json::to_value(a).ok() == serde_json::to_value(b).ok();
    let missing: Vec<Recipe> = wanted
        .iter()
        .filter(|w| !done.iter().any(|(r, _)| same(&r.recipe, w)))
        .cloned()
        .collect();
    let mut fresh = train(study, data, progress, &missing).into_iter();
    let mut runs: Vec<(RunRecord, Probe)> = wanted
        .iter()
        .map(|w| match done.iter().find(|(r, _)| same(&r.recipe, w)) {
            Some(found) => found.clone(),
            None => fresh.next().expect("one run per missing recipe"),
        })
        .collect();
    let with: Vec<(RunRecord, Probe)> = runs.split_off(seeds.len());
    let (no_bn, mut probes): (Vec<RunRecord>, Vec<Probe>) = runs.into_iter().unzip();
    let (bn, with_probes): (Vec<RunRecord>, Vec<Probe>) = with.into_iter().unzip();
    probes.extend(with_probes);
    Networks {
        input: options.input,
        pair: Pair {
            setting: "paper".to_string(),
            no_bn,
            bn,
        },
        probes,
    }
}

/// Chooses the learning rates if not given, trains the paper's networks, and the
/// standardized-input ones beside them.
pub fn run(study: &Study, options: &PaperOptions) -> Results {
    let progress = study.progress("paper-fig1", planned(study, options).len());
    let data_for = |input: Input| match input {
        Input::Binary => study.data.binarized(),
        Input::Standardized => study.data.with_train_images(study.data.train.len()),
    };
    let data = data_for(options.input);
    let (lrs, selection, done) = match options.lr {
        Some(lr) => ([lr, lr], None, Vec::new()),
        None => {
            let seed = study.seeds_for(&recipe(study, options, CANDIDATES[0]))[0];
            let tried: Vec<Recipe> = CANDIDATES
                .iter()
                .flat_map(|&lr| {
                    let r = recipe(study, options, lr).seed(seed);
                    [r.bn(false), r.bn(true)]
                })
                .collect();
            let runs = train(study, &data, &progress, &tried);
            let selection = Selection {
                candidates: CANDIDATES.to_vec(),
                runs: runs
                    .chunks(2)
                    .map(|pair| [pair[0].0.clone(), pair[1].0.clone()])
                    .collect(),
            };
            let validation = selection.validation();
            let best = |side: usize| {
                let score = |i: usize| validation[i][side].unwrap_or(-1.0);
                let i = (0..CANDIDATES.len()).max_by(|&a, &b| score(a).total_cmp(&score(b)));
                CANDIDATES[i.expect("candidates")]
            };
            ([best(0), best(1)], Some(selection), runs)
        }
    };
    let main = networks(study, &data, &progress, options, lrs, done);
    let standardized = (options.input != Input::Standardized).then(|| {
        let data = data_for(Input::Standardized);
        let options = PaperOptions {
            input: Input::Standardized,
            lr: Some(STANDARDIZED_LR),
            ..*options
        };
        let lrs = [STANDARDIZED_LR; 2];
        networks(study, &data, &progress, &options, lrs, Vec::new())
    });
    Results {
        options: *options,
        test_images: study.data.test.len(),
        selection,
        main,
        standardized,
    }
}
