//! The report's opening: the command, the commit and the machine it ran on, and the protocol
//! every section follows.

use crate::report::{capitalise, list};
use crate::results::{Merged, Meta};

/// The title, how the numbers were produced (the run of `meta`, then each run merged in)
/// and the protocol.
pub fn header(meta: &Meta, merged: &[Merged]) -> String {
    let quick = if meta.quick {
        "**`--quick` run: every experiment at a reduced size; the numbers show that the study \
         runs, not what BatchNorm does.**\n\n"
    } else {
        ""
    };
    let later: String = merged.iter().map(merged_provenance).collect();
    format!(
        "# BatchNorm on MNIST, measured\n\n{quick}{}{later}## Protocol\n\n{}{}",
        provenance(meta, !merged.is_empty()),
        data_and_seeds(meta),
        PROTOCOL
    )
}

/// The command, the commit, the compiler, the machine and its load, the time taken;
/// `except` when later runs supplied some sections.
fn provenance(meta: &Meta, except: bool) -> String {
    let except = if except {
        ", except the sections named after it,"
    } else {
        ""
    };
    format!(
        "Every number and plot below{except} was produced by one run of\n\n```\n{}\n```\n\n\
         {}; the `overhead` measurements ran alone on all {} threads. {}. Raw numbers: \
         [`results.json`](results.json); `cargo run --release --example bn_compare -- \
         --from-results results.json --out DIR` renders this report and its plots again from \
         them.\n\n",
        meta.command,
        ran_on(meta),
        meta.threads,
        load(meta),
    )
}

/// A run merged in later: which sections it supplied and how it ran.
fn merged_provenance(merged: &Merged) -> String {
    let names: Vec<String> = merged
        .experiments
        .iter()
        .map(|e| format!("[`{e}`](#{e})"))
        .collect();
    let (sections, were) = if names.len() == 1 {
        ("section", "was")
    } else {
        ("sections", "were")
    };
    format!(
        "The {sections} {} {were} measured by a later run, merged into the results with \
         `--merge` (it replaced any earlier results of theirs):\n\n```\n{}\n```\n\n{}. {}. \
         Its sizes and seeds are in its {sections}.\n\n",
        list(&names),
        merged.meta.command,
        capitalise(&ran_on(&merged.meta)),
        load(&merged.meta),
    )
}

/// Where and how long a run ran: `on commit ..., built with ..., on ... . It took ...`.
fn ran_on(meta: &Meta) -> String {
    let m = &meta.machine;
    let dirty = if m.uncommitted_changes {
        " (with uncommitted changes to tracked files)"
    } else {
        ""
    };
    format!(
        "on commit `{}`{dirty}, built with {}, on {} ({} cores). It took {:.0} s of wall time \
         ({:.1} min; the estimate it printed at the start was {:.0} s), {} runs at a time, \
         each on one thread",
        m.commit,
        m.rustc,
        m.cpu,
        m.cores,
        meta.wall_seconds,
        meta.wall_seconds / 60.0,
        meta.estimated_seconds,
        meta.workers,
    )
}

/// The machine's load around a run: `The load average was ... at the start and ...`.
fn load(meta: &Meta) -> String {
    let m = &meta.machine;
    format!(
        "The load average was {} at the start and {} at the end",
        m.load_average_start, m.load_average_end
    )
}

/// Which images decide and which report, and how many seeds.
fn data_and_seeds(meta: &Meta) -> String {
    let range = |n: usize| format!("{n} seeds per setting (seeds 0 to {})", n.saturating_sub(1));
    let seeds = if meta.long_seeds == meta.seeds {
        format!(
            "{} (every run is estimated under a minute on one core)",
            range(meta.seeds)
        )
    } else {
        format!(
            "{} where a run takes under a minute on one core, {} where it takes longer; each \
             section says how many it has",
            range(meta.seeds),
            range(meta.long_seeds)
        )
    };
    format!(
        "- **Data.** MNIST's training file is cut in two: its first {} images are trained \
         on, its last {} (the *validation* images) decide every choice a section makes (which \
         learning rates are good, the learning rate of the paper's figure, a regularizer's \
         strength, every threshold crossing). The {} test images give the final figures \
         only, and are never used to choose.\n\
         - **Seeds.** {seeds}. Runs compared with and without BatchNorm share the seed, hence \
         the same Linear weights and the same batches: an effect is measured per seed and \
         paired.\n",
        meta.train_images, meta.validation_images, meta.test_images,
    )
}

/// What every section measures the same way.
const PROTOCOL: &str = concat!(
    "- **Final accuracy** is the mean of the five evaluations over the last 20 % of a run (at \
     80, 85, 90, 95 and 100 % of its steps), not one checkpoint: at a constant learning rate \
     one checkpoint moves by most of a point from one step to the next.\n",
    "- **Intervals** are 95 %. A mean over seeds is given as `mean [lo, hi]`, its t-interval; \
     an effect (with minus without BatchNorm, say) with the paired t-interval over seeds, or \
     the t-interval of paired log ratios for times; a statistic that is not a mean (a spread \
     over settings, the highest good learning rate, a rate of divergence) with a percentile \
     bootstrap (2000 resamples, seeded, so the report renders the same every time), and a \
     proportion alone with its Wilson interval. Bands in the plots are these intervals.\n",
    "- **Verdicts** are read from the intervals: *borne out* when the interval lies wholly on \
     the side the claim expects, *not shown* when it includes \"no effect\", *contradicted* \
     when it lies wholly on the other side. Stability, a claim of several parts, is judged \
     part by part.\n",
    "- **The model**, unless a section says otherwise: a 784-256-256-10 ReLU MLP (PyTorch's \
     default initialisation), plain SGD at learning rate 0.1 (no momentum, no weight decay), \
     batches of 64 shuffled per epoch (seeded; the last partial batch dropped), inputs \
     standardised as PyTorch's MNIST example; BatchNorm means a `BatchNorm1d` (PyTorch's \
     defaults) after each hidden Linear, before the ReLU. Accuracies are measured in \
     evaluation mode (running statistics). A run *diverged* when its loss became NaN or \
     infinite (it stops there), and *failed* when it diverged or ended below 50 % validation \
     accuracy; a red cross in a plot marks a divergence.\n\n",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::WINDOW;
    use crate::stats::BOOTSTRAP_RESAMPLES;

    /// The protocol's text states the window and the resamples as numbers: they must be the
    /// constants the study uses.
    #[test]
    fn the_protocol_states_the_constants_in_use() {
        assert_eq!(WINDOW, 5);
        assert!(PROTOCOL.contains("five evaluations"));
        assert!(PROTOCOL.contains(&format!("{BOOTSTRAP_RESAMPLES} resamples")));
    }
}
