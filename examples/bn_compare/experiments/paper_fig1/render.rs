//! The figure, the tables, and the comparison with the paper.

use super::probe::{Probe, PERCENTILES, UNIT};
use super::{Input, Networks, PaperOptions, Results, STANDARDIZED_LR};
use crate::error::StudyError;
use crate::experiments::pairs::{side_name, Outcome};
use crate::experiments::series::curve_series;
use crate::plots::{bn_color, panels, Axes, Axis, Series};
use crate::record::{RunRecord, TEST_ACCURACY, VAL_ACCURACY};
use crate::report::{effect, image, num_summary, pct, seeds, Claim, Judge, Section, Table, Unit};
use crate::stats::{paired_difference, paired_log_ratio, Effect, Summary};
use plotters::prelude::SeriesLabelPosition;
use std::path::Path;

/// The validation accuracy whose first crossing is reported.
const THRESHOLD: f64 = 0.95;

/// Per seed of a side, the mean over the layer's sigmoids of a per-sigmoid range.
fn per_seed(n: &Networks, bn: bool, which: fn(&Probe) -> &Vec<f64>) -> Vec<Option<f64>> {
    let probes = n.probes.iter().filter(|p| p.batch_norm == bn);
    probes.map(|p| Probe::mean(which(p))).collect()
}

fn medians(p: &Probe) -> &Vec<f64> {
    &p.median_range
}

fn widths(p: &Probe) -> &Vec<f64> {
    &p.width_range
}

/// The percentile panel of one side: the first seed's sigmoid [`UNIT`].
fn percentile_panel(n: &Networks, bn: bool, range: (f64, f64)) -> (Axes, Vec<Series>) {
    let probe = n.probes.iter().find(|p| p.batch_norm == bn);
    let series = (0..3)
        .map(|k| {
            let points = probe.into_iter().flat_map(|p| {
                p.steps.iter().zip(&p.unit_percentiles).map(move |(&s, q)| {
                    let one = Summary::of([q[k]]).expect("one value");
                    (s as f64, one)
                })
            });
            let name = format!("{:.0}th percentile", PERCENTILES[k]);
            let mut s = Series::new(&name, bn_color(bn), points.collect());
            s.width = if k == 1 { 3 } else { 1 };
            s
        })
        .collect();
    let axes = Axes {
        title: format!("({}) {}", if bn { "c" } else { "b" }, side_name(bn)),
        x: Axis::linear("training step"),
        y: Axis::linear("input to the sigmoid").range(range.0, range.1),
        legend: SeriesLabelPosition::UpperRight,
    };
    (axes, series)
}

/// Writes the three-panel figure of `n` to `file`.
fn figure(n: &Networks, out: &Path, file: &str) -> Result<(), StudyError> {
    let every = n.pair.bn[0].recipe.eval.every.unwrap_or(1);
    let accuracy: Vec<Series> = [false, true]
        .map(|bn| curve_series(side_name(bn), n.pair.side(bn), TEST_ACCURACY, 100.0, every))
        .into();
    let accuracy_axes = Axes {
        title: "(a) test accuracy".to_string(),
        x: Axis::linear("training step"),
        y: Axis::linear("test accuracy (%)"),
        legend: SeriesLabelPosition::LowerRight,
    };
    let first_seed = n.probes.first().map(|p| p.seed);
    let values = n.probes.iter().filter(|p| Some(p.seed) == first_seed);
    let (low, high) = values
        .flat_map(|p| p.unit_percentiles.iter().flat_map(|q| [q[0], q[2]]))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    // Room above the data for the legend.
    let span = (high - low).max(1e-3);
    let range = (low - span * 0.08, high + span * 0.45);
    let panels_ = [
        (accuracy_axes, accuracy),
        percentile_panel(n, false, range),
        percentile_panel(n, true, range),
    ];
    panels(&out.join(file), &panels_)
}

/// The table of one way of training the networks.
fn table(n: &Networks) -> Table {
    let mut t = Table::new(&[
        "",
        "learning rate",
        "final test accuracy",
        "steps to 95 % (validation)",
        "median moved by (mean over sigmoids)",
        "15-85 width changed by (mean)",
    ]);
    for bn in [false, true] {
        let reach = Outcome::of(n.pair.values(bn, |r| r.crossing(VAL_ACCURACY, THRESHOLD)));
        let reach = match reach.summary {
            Some(s) if reach.missing == 0 => num_summary(s, 0),
            Some(s) => format!(
                "{} ({}/{} never)",
                num_summary(s, 0),
                reach.missing,
                reach.runs
            ),
            None => "never".to_string(),
        };
        let summary = |v: Vec<Option<f64>>| {
            Summary::of(v.into_iter().flatten()).map_or("–".to_string(), |s| num_summary(s, 3))
        };
        t.row([
            side_name(bn).to_string(),
            n.pair.side(bn)[0].recipe.lr.to_string(),
            n.pair.final_test(bn).pct_cell("diverged"),
            reach,
            summary(per_seed(n, bn, medians)),
            summary(per_seed(n, bn, widths)),
        ]);
    }
    t
}

/// The effects of one way of training: final test accuracy (BatchNorm minus without), steps
/// to 95 % (without over with), median and width movement (without minus with).
fn effects(n: &Networks) -> [Option<Effect>; 4] {
    let crossing = |r: &RunRecord| r.crossing(VAL_ACCURACY, THRESHOLD);
    [
        n.pair.bn_minus_plain(RunRecord::final_test),
        paired_log_ratio(
            &n.pair.values(false, crossing),
            &n.pair.values(true, crossing),
        ),
        paired_difference(&per_seed(n, false, medians), &per_seed(n, true, medians)),
        paired_difference(&per_seed(n, false, widths), &per_seed(n, true, widths)),
    ]
}

/// The sentence saying what `n` showed.
fn seen(n: &Networks) -> String {
    let [accuracy, speed, median, width] = effects(n);
    let text = |e: Option<Effect>, unit| e.map_or("not measured".to_string(), |e| effect(&e, unit));
    format!(
        "final test accuracy, with minus without BatchNorm, {}; steps to 95 % validation \
         accuracy, without over with, {}; how far the median of a sigmoid's input moved over \
         training, without minus with, {}; how much its 15-85 width changed, without minus \
         with, {}",
        text(accuracy, Unit::Points),
        text(speed, Unit::Ratio),
        text(median, Unit::Plain(3, "")),
        text(width, Unit::Plain(3, "")),
    )
}

/// The figures, tables, commands and the comparison with the paper.
pub fn render(r: &Results, out: &Path) -> Result<Section, StudyError> {
    figure(&r.main, out, "paper_fig1.svg")?;
    let mut body = String::new();
    let o = &r.options;
    let chosen = match &r.selection {
        Some(s) => {
            let mut t = Table::new(&[
                "learning rate",
                "validation, without BatchNorm",
                "validation, with BatchNorm",
            ]);
            for (lr, v) in s.candidates.iter().zip(s.validation()) {
                let cell = |a: Option<f64>| a.map_or("diverged".to_string(), pct);
                t.row([lr.to_string(), cell(v[0]), cell(v[1])]);
            }
            format!(
                "The paper does not give the learning rate. Each model's was chosen on the \
                 validation images: a full-length run on the first seed at each candidate, the \
                 one with the higher final validation accuracy kept (and its run reused as that \
                 seed's).\n\n{}",
                t.render()
            )
        }
        None => format!(
            "Learning rate {} for both models (`--lr`).\n\n",
            o.lr.unwrap_or(f64::NAN)
        ),
    };
    let recipe = &r.main.pair.bn[0].recipe;
    body += &format!(
        "The paper's setup (its Section 4.1): 28x28 {input} images, three fully connected hidden \
         layers of 100 sigmoid units, a 10-way output with cross-entropy, {steps} steps of \
         {batch} images, plain SGD; weights {init}; with BatchNorm, a `BatchNorm1d` after each \
         hidden Linear and no bias in that Linear (the paper drops it: BatchNorm's shift takes \
         its place). {seeds}. {chosen}Panel (a) is the test accuracy every {every} steps \
         (mean and interval over seeds). Panels (b) and (c) follow the input of sigmoid {UNIT} \
         of the last hidden layer (the first, not picked for looks) of the first seed's \
         networks: its 15th, 50th and 85th percentiles over all {test} test images, the \
         network in evaluation mode, as the paper's panels show the trained network, from the \
         first evaluation after step 0 (before any step a BatchNorm in evaluation mode still \
         has its initial running statistics and passes its input through); both share one \
         vertical scale. The table's last two columns summarise every sigmoid of \
         that layer: per seed, the mean over sigmoids of how far the median of its input \
         moved over training (largest minus smallest) and of how much its 15-85 width \
         changed; then mean and interval over seeds.\n\n\
         {img}{table}Reproduce: `cargo run --release --example bn_compare -- paper-fig1 {flags} \
         --out DIR`{given}.\n\n",
        input = if o.input == Input::Binary {
            "binary (a pixel is 1 from 128 of 255 on)"
        } else {
            "standardized"
        },
        steps = recipe.steps,
        batch = recipe.batch_size,
        init = match o.init {
            crate::recipe::Init::Normal =>
                "from N(0, 1/fan_in), biases 0 (the paper: \"small random Gaussian values\")",
            crate::recipe::Init::Uniform => "PyTorch's default uniform draw",
        },
        seeds = seeds(r.main.pair.bn.len()),
        every = recipe.eval.every.unwrap_or(recipe.steps),
        test = r.test_images,
        img = image(
            "paper_fig1.svg",
            "Figure 1 of Ioffe and Szegedy, reproduced"
        ),
        table = table(&r.main).render(),
        flags = o.flags(),
        given = if r.selection.is_some() {
            " (which chooses the learning rates again, with the same result: every run is seeded)"
        } else {
            ""
        },
    );
    if let Some(s) = &r.standardized {
        figure(s, out, "paper_fig1_standardized.svg")?;
        let flags = PaperOptions {
            input: Input::Standardized,
            lr: Some(STANDARDIZED_LR),
            ..*o
        }
        .flags();
        body +=
            &format!(
            "### Beside it: standardized inputs at learning rate {STANDARDIZED_LR}\n\nThe same \
             networks and seeds on standardized inputs (`(x/255 - 0.1307) / 0.3081`), both at \
             learning rate {STANDARDIZED_LR}: BatchNorm's lead where the plain network's inputs \
             are centred and scaled, as they usually are, instead of binary. Reproduce: `cargo run --release --example bn_compare -- \
             paper-fig1 {flags} --out DIR`.\n\n{}{}Here: {}.\n\n",
            image("paper_fig1_standardized.svg", "Figure 1 on standardized inputs"),
            table(s).render(),
            seen(s),
        );
    }
    let [accuracy, _, median, _] = effects(&r.main);
    let claim = |text: &str, what: &str, e: Option<Effect>, unit| {
        let judge = Judge::above(what, unit, "a side diverged on every seed");
        Claim::judged(text, e.as_ref(), judge)
    };
    let claims = vec![
        claim(
            "The paper's Figure 1(a): with BatchNorm the network reaches a higher test accuracy",
            "final test accuracy, with minus without BatchNorm",
            accuracy,
            Unit::Points,
        ),
        claim(
            "The paper's Figure 1(b, c): BatchNorm keeps the distribution of a sigmoid's input stable",
            "how far the median of a sigmoid's input moved, without minus with BatchNorm",
            median,
            Unit::Plain(3, ""),
        ),
    ];
    body += &format!(
        "**What was seen, against the paper.** The paper's panel (a) shows the BatchNorm \
         network ahead in test accuracy throughout training, and its panels (b, c) the plain \
         network's sigmoid input drifting in mean and spread while the BatchNorm network's \
         stays put. Here, in the paper's setup: {}. A BatchNorm network's sigmoid inputs are \
         not constant either: its scale and shift are learned.\n",
        seen(&r.main)
    );
    Ok(Section {
        name: "paper-fig1",
        title: "Ioffe and Szegedy (2015), Figure 1, as the paper sets it".to_string(),
        claims,
        body,
    })
}
