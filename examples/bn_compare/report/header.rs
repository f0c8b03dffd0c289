//! The report's opening: the command, the commit and the machine, and the protocol every
//! section follows.

use crate::results::Meta;
use crate::schedule::WINDOW;
use crate::stats::BOOTSTRAP_RESAMPLES;

/// The title, how the numbers were produced and the protocol.
pub fn header(meta: &Meta) -> String {
    let quick = if meta.quick {
        "**`--quick` run: every experiment at a reduced size; the numbers show that the study \
         runs, not what BatchNorm does.**\n\n"
    } else {
        ""
    };
    let m = &meta.machine;
    let dirty = if m.uncommitted_changes {
        " (with uncommitted changes to tracked files)"
    } else {
        ""
    };
    let seeds = if meta.long_seeds == meta.seeds {
        format!(
            "{} seeds per setting (seeds 0 to {})",
            meta.seeds,
            meta.seeds.saturating_sub(1)
        )
    } else {
        format!(
            "{} seeds per setting (seeds 0 to {}) where a run takes under a minute on one core, \
             {} (seeds 0 to {}) where it takes longer; each section says which",
            meta.seeds,
            meta.seeds.saturating_sub(1),
            meta.long_seeds,
            meta.long_seeds.saturating_sub(1)
        )
    };
    format!(
        "# BatchNorm on MNIST, measured\n\n\
         {quick}Every number and plot below was produced by one run of\n\n\
         ```\n{command}\n```\n\n\
         on commit `{commit}`{dirty}, built with {rustc}, on {cpu} ({cores} cores). It took \
         {wall:.0} s of wall time ({minutes:.1} min; the estimate it printed at the start was \
         {estimate:.0} s), {workers} runs at a time, each on one thread; the `overhead` \
         measurements ran alone on all {threads} threads. The load average was {load_start} at \
         the start and {load_end} at the end. Raw numbers: [`results.json`](results.json); \
         `cargo run --release --example bn_compare -- --from-results results.json --out DIR` \
         renders this report and its plots again from them.\n\n\
         ## Protocol\n\n\
         - **Data.** MNIST's training file is cut in two: its first {train} images are \
         trained on, its last {validation} (the *validation* images) decide every choice a \
         section makes (which learning rates are good, the learning rate of the paper's \
         figure, a regularizer's strength, every threshold crossing). The {test} test images \
         give the final figures only, and are never used to choose.\n\
         - **Seeds.** {seeds}. Runs compared with and without BatchNorm share the seed, \
         hence the same Linear weights and the same batches: an effect is measured per seed \
         and paired.\n\
         - **Final accuracy** is the mean of the {WINDOW} evaluations over the last 20 % of a \
         run (at 80, 85, 90, 95 and 100 % of its steps), not one checkpoint: at a constant \
         learning rate one checkpoint moves by most of a point from one step to the next.\n\
         - **Intervals** are 95 %. A mean over seeds is given as `mean [lo, hi]`, its \
         t-interval; an effect (with minus without BatchNorm, say) with the paired t-interval \
         over seeds, or the t-interval of paired log ratios for times; a statistic that is not \
         a mean (a spread over settings, the highest good learning rate, a rate of divergence) \
         with a percentile bootstrap ({BOOTSTRAP_RESAMPLES} resamples, seeded, so the report \
         renders the same every time), and a proportion alone with its Wilson interval. Bands \
         in the plots are these t-intervals.\n\
         - **Verdicts** are read from the intervals: *borne out* when the interval lies wholly \
         on the side the claim expects, *not shown* when it includes \"no effect\", \
         *contradicted* when it lies wholly on the other side. Stability, a claim of several \
         parts, is judged part by part.\n\
         - **The model**, unless a section says otherwise: a 784-256-256-10 ReLU MLP \
         (PyTorch's default initialisation), plain SGD at learning rate 0.1 (no momentum, no \
         weight decay), batches of 64 shuffled per epoch (seeded; the last partial batch \
         dropped), inputs standardised as PyTorch's MNIST example; BatchNorm means a \
         `BatchNorm1d` (PyTorch's defaults) after each hidden Linear, before the ReLU. \
         Accuracies are measured in evaluation mode (running statistics). A run *diverged* \
         when its loss became NaN or infinite (it stops there), and *failed* when it diverged \
         or ended below 50 % validation accuracy; a red cross in a plot marks a divergence.\n\n",
        command = meta.command,
        commit = m.commit,
        rustc = m.rustc,
        cpu = m.cpu,
        cores = m.cores,
        wall = meta.wall_seconds,
        minutes = meta.wall_seconds / 60.0,
        estimate = meta.estimated_seconds,
        workers = meta.workers,
        threads = meta.threads,
        load_start = m.load_average_start,
        load_end = m.load_average_end,
        train = meta.train_images,
        validation = meta.validation_images,
        test = meta.test_images,
    )
}
