//! `report.md`: how the numbers were produced, the claims and their verdicts, one section per
//! experiment (plots, tables with intervals, what was seen), and a closing note listing every
//! claim with its verdict and interval.

mod cells;
mod claim;
mod header;
mod table;

pub use cells::{capitalise, effect, image, list, num_summary, pct, pct_summary, seeds, Unit};
pub use claim::{Claim, Expect, Judge};
pub use table::Table;

use crate::error::StudyError;
use crate::results::{Merged, Meta};
use std::fmt::Write;
use std::path::Path;

/// One experiment's part of the report.
pub struct Section {
    /// The experiment's name (`convergence`), also its anchor.
    pub name: &'static str,
    /// The heading.
    pub title: String,
    /// The claims it tests, each with its verdict.
    pub claims: Vec<Claim>,
    /// The body: setup, plots, tables, what was seen.
    pub body: String,
}

/// Writes the whole report to `path`: the run of `meta` with the runs `merged` into it.
pub fn write_report(
    path: &Path,
    meta: &Meta,
    merged: &[Merged],
    sections: &[Section],
) -> Result<(), StudyError> {
    let mut md = header::header(meta, merged);
    md.push_str("## The claims\n\n");
    let mut table = Table::new(&["claim", "experiment", "verdict on MNIST"]);
    for s in sections {
        for c in &s.claims {
            let link = format!("[`{}`](#{})", s.name, s.name);
            table.row([c.text.clone(), link, c.verdict.to_string()]);
        }
    }
    md.push_str(&table.render());
    md.push_str(
        "The closing note at the end lists every claim again with the effect and the interval \
         its verdict rests on.\n",
    );
    for s in sections {
        let _ = write!(md, "\n<a id=\"{}\"></a>\n\n## {}\n\n", s.name, s.title);
        for c in &s.claims {
            let _ = writeln!(md, "*Claim:* {}. *Verdict:* {}.  ", c.text, c.verdict);
        }
        md.push('\n');
        md.push_str(&s.body);
        md.push('\n');
    }
    md.push_str(&closing_note(sections));
    std::fs::write(path, md).map_err(|source| StudyError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Every claim with its verdict and the effect and interval it rests on.
fn closing_note(sections: &[Section]) -> String {
    let mut md = String::from(
        "\n## Closing note: each claim, its verdict and interval\n\nAll intervals are 95 %; \
         `n` counts the units the interval rests on (seeds, paired runs or settings, as \
         named).\n\n",
    );
    for s in sections {
        for c in &s.claims {
            let _ = writeln!(
                md,
                "- **{}** ([`{}`](#{})): {}. {}.",
                c.text,
                s.name,
                s.name,
                c.verdict,
                capitalise(&c.evidence)
            );
        }
    }
    md
}
