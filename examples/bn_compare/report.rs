//! `report.md`: a header saying how the numbers were produced, a table of verdicts, then one
//! section per experiment (its plots, a table, and what was seen, written from the numbers).

use crate::error::StudyError;
use crate::results::Meta;
use crate::stats::Band;
use std::fmt::{self, Write};
use std::path::Path;

/// Whether the numbers of an experiment bear out the claim it tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The measurement agrees with the claim.
    BorneOut,
    /// It does not.
    NotBorneOut,
    /// Partly: in some settings and not in others.
    Mixed,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::BorneOut => "borne out",
            Verdict::NotBorneOut => "**not borne out**",
            Verdict::Mixed => "partly borne out",
        })
    }
}

/// One experiment's part of the report.
pub struct Section {
    /// The experiment's name (`convergence`), also its anchor.
    pub name: &'static str,
    /// The heading.
    pub title: String,
    /// The claim tested, in the words of the usual account.
    pub claim: String,
    /// What the numbers say of it.
    pub verdict: Verdict,
    /// One sentence for the summary table.
    pub summary: String,
    /// The body: setup, plots, tables, what was seen.
    pub body: String,
}

/// Writes the whole report to `path`.
pub fn write_report(path: &Path, meta: &Meta, sections: &[Section]) -> Result<(), StudyError> {
    let mut md = String::new();
    let _ = write!(md, "{}", header(meta));
    md.push_str("## The claims, one line each\n\n");
    let mut table = Table::new(&["claim", "experiment", "verdict on MNIST", "in numbers"]);
    for s in sections {
        let link = format!("[`{}`](#{})", s.name, s.name);
        table.row([
            s.claim.clone(),
            link,
            s.verdict.to_string(),
            s.summary.clone(),
        ]);
    }
    md.push_str(&table.render());
    md.push_str(&verdicts(sections));
    for s in sections {
        let _ = write!(md, "\n<a id=\"{}\"></a>\n\n## {}\n\n", s.name, s.title);
        let _ = write!(md, "*Claim:* {}  \n*Verdict:* {}.\n\n", s.claim, s.verdict);
        md.push_str(&s.body);
        md.push('\n');
    }
    std::fs::write(path, md).map_err(|source| StudyError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// One paragraph naming the claims that were not, or only partly, borne out.
fn verdicts(sections: &[Section]) -> String {
    let with = |v: Verdict| -> Vec<String> {
        let names = sections.iter().filter(|s| s.verdict == v);
        names.map(|s| format!("\"{}\"", s.claim)).collect()
    };
    let (not, partly) = (with(Verdict::NotBorneOut), with(Verdict::Mixed));
    let mut text = String::new();
    if !not.is_empty() {
        let _ = write!(
            text,
            "**Not borne out on MNIST here:** {}. ",
            not.join("; ")
        );
    }
    if !partly.is_empty() {
        let _ = write!(text, "**Only partly borne out:** {}. ", partly.join("; "));
    }
    if text.is_empty() {
        text.push_str("Every claim tested was borne out on MNIST here. ");
    }
    text.push_str(
        "Each section ends with what was seen, its limits included (where the advantage \
         stops, what it costs).\n\n",
    );
    text
}

fn header(meta: &Meta) -> String {
    let size = if meta.quick {
        "**`--quick` run: every experiment at a reduced size; the numbers show that the study \
         runs, not what BatchNorm does.**\n\n"
    } else {
        ""
    };
    format!(
        "# BatchNorm on MNIST, measured\n\n\
         {size}Every number and plot below was produced by one run of\n\n\
         ```\n{command}\n```\n\n\
         which took {wall:.0} s of wall time ({minutes:.1} min) with {threads} worker threads, \
         {seeds} seed(s) per setting (seeds 0 to {last}). The machine's load average was \
         {load_start} at the start and {load_end} at the end: other work shared the 2 cores, \
         so the timings (section `overhead`) may be disturbed; ratios measured in the same run \
         are the figures to read. Raw numbers: [`results.json`](results.json).\n\n\
         Unless a section says otherwise every run trains a 784-256-256-10 ReLU MLP (PyTorch's \
         default initialisation) with plain SGD (no momentum, no weight decay) at learning \
         rate 0.1, batches of 64 shuffled per epoch (seeded; the last partial batch dropped), \
         inputs standardised as PyTorch's MNIST example; the BatchNorm runs add a \
         `BatchNorm1d` (PyTorch defaults) after each hidden Linear, before the ReLU. Runs \
         compared with and without BatchNorm share the seed, hence the same Linear weights and \
         the same batches. Test accuracy is measured in evaluation mode (running statistics) on \
         the {test} test images. A band around a line is the range (smallest to largest) over \
         the seeds; a red cross marks a run that diverged (its loss became NaN or infinite; it \
         stopped there and is left out of the mean).\n\n",
        command = meta.command,
        wall = meta.wall_seconds,
        minutes = meta.wall_seconds / 60.0,
        threads = meta.threads,
        seeds = meta.seeds,
        last = meta.seeds.saturating_sub(1),
        load_start = meta.load_average_start,
        load_end = meta.load_average_end,
        test = meta.test_images,
    )
}

/// A Markdown table built row by row.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (as many cells as headings).
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) -> &mut Table {
        self.rows.push(cells.into_iter().collect());
        self
    }

    /// The table as Markdown, followed by a blank line.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let rule = vec!["---".to_string(); self.header.len()];
        let mut md = line(&self.header) + &line(&rule);
        for row in &self.rows {
            md += &line(row);
        }
        md + "\n"
    }
}

/// A fraction as a percentage with two decimals (`0.9812` → `98.12 %`).
pub fn pct(fraction: f64) -> String {
    format!("{:.2} %", fraction * 100.0)
}

/// A band of fractions as percentages: the mean, and the range when there are several
/// values (`98.12 % (97.90–98.30)`).
pub fn pct_band(band: Band) -> String {
    if band.n > 1 {
        format!(
            "{} ({:.2}–{:.2})",
            pct(band.mean),
            band.min * 100.0,
            band.max * 100.0
        )
    } else {
        pct(band.mean)
    }
}

/// A band of plain numbers with `decimals` decimals and its range when there are several.
pub fn num_band(band: Band, decimals: usize) -> String {
    if band.n > 1 {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            band.mean,
            band.min,
            band.max,
            d = decimals
        )
    } else {
        format!("{:.d$}", band.mean, d = decimals)
    }
}

/// The Markdown that embeds an SVG written next to the report.
pub fn image(file: &str, alt: &str) -> String {
    format!("![{alt}]({file})\n\n")
}
