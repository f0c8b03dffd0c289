//! The CI check of the study: `--quick` runs every experiment and writes every output, the
//! report carries intervals, verdicts and its closing note, and `--from-results` renders the
//! same report and plots again. It checks the files and the wiring, not the science.

use super::*;
use crate::experiments::paper_fig1::Input;
use crate::recipe::Init;
use std::fs;
use std::path::Path;

/// Every SVG the ten experiments draw.
const SVGS: [&str; 17] = [
    "convergence_accuracy.svg",
    "convergence_loss.svg",
    "learning_rate.svg",
    "init.svg",
    "stability.svg",
    "batch_size.svg",
    "train_test.svg",
    "overhead_train.svg",
    "overhead_inference_b1000.svg",
    "overhead_inference_b1.svg",
    "regularization_gap.svg",
    "regularization_test_loss.svg",
    "regularization_matched.svg",
    "paper_fig1.svg",
    "paper_fig1_standardized.svg",
    "cnn_convergence.svg",
    "cnn_learning_rate.svg",
];

const EXPERIMENTS: [&str; 10] = [
    "convergence",
    "learning-rate",
    "init",
    "stability",
    "batch-size",
    "train-test",
    "overhead",
    "regularization",
    "paper-fig1",
    "cnn",
];

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn quick_study_writes_every_output_and_renders_again_from_its_results() {
    let dir = std::env::temp_dir().join(format!("bn_compare_quick_{}", std::process::id()));
    let (out, again) = (dir.join("run"), dir.join("again"));
    let args =
        Args::try_parse_from(["bn_compare", "--quick", "--out", out.to_str().unwrap()]).unwrap();
    study(&args, false).expect("the quick study runs");

    let json: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    for name in EXPERIMENTS {
        assert!(
            json["experiments"][name].is_object() || json["experiments"][name].is_array(),
            "results.json lacks {name}"
        );
    }
    assert_eq!(json["meta"]["quick"], true);
    assert_eq!(json["meta"]["seeds"], 2);

    let report = read(&out.join("report.md"));
    for name in EXPERIMENTS {
        assert!(
            report.contains(&format!("<a id=\"{name}\"></a>")),
            "no section {name}"
        );
        assert!(
            report.contains(&format!("([`{name}`](#{name})): ")),
            "the closing note lacks {name}"
        );
    }
    assert!(report.contains("## Closing note"));
    assert!(report.contains("on commit `"));
    assert!(
        report.contains("(paired t, n = 2)"),
        "no paired interval in the report"
    );
    for svg in SVGS {
        let text = read(&out.join(svg));
        assert!(
            text.trim_start().starts_with("<svg"),
            "{svg} does not start as SVG"
        );
        assert!(
            text.trim_end().ends_with("</svg>"),
            "{svg} does not end as SVG"
        );
        assert!(
            text.contains("<polyline") || text.contains("<rect"),
            "{svg} draws nothing"
        );
        assert!(
            report.contains(&format!("]({svg})")),
            "report.md does not embed {svg}"
        );
    }
    // Every image the report embeds exists.
    for image in report.split("![").skip(1) {
        let link = &image[image.find("](").unwrap() + 2..];
        let file = &link[..link.find(')').unwrap()];
        assert!(out.join(file).exists(), "report.md embeds a missing {file}");
    }

    let results = out.join("results.json");
    let rerender = Args::try_parse_from([
        "bn_compare",
        "--from-results",
        results.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ])
    .unwrap();
    study(&rerender, false).expect("rendering from results.json");
    assert_eq!(read(&again.join("report.md")), report);
    for svg in SVGS {
        assert_eq!(
            read(&again.join(svg)),
            read(&out.join(svg)),
            "{svg} renders differently"
        );
    }
    // Every number reads back as written (serde_json's float_roundtrip): the copy is the
    // same file.
    let copy = read(&again.join("results.json"));
    assert!(
        copy == read(&results),
        "results.json reads back differently"
    );

    merging_replaces_only_the_experiments_run(&again);
    fs::remove_dir_all(&dir).unwrap();
}

/// `--merge` into `out` (a quick study's outputs): the experiment run replaces its results,
/// the others stay, and the report names the later run; a full run is refused before it
/// trains, and so is a folder without results.json.
fn merging_replaces_only_the_experiments_run(out: &Path) {
    let out_arg = out.to_str().unwrap();
    let before: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    let merge = |words: &[&str]| {
        let mut all = vec!["bn_compare"];
        all.extend(words);
        study(&Args::try_parse_from(all).unwrap(), false)
    };
    merge(&[
        "convergence",
        "--quick",
        "--seeds",
        "1",
        "--merge",
        "--out",
        out_arg,
    ])
    .expect("merging a quick run");
    let after: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    for name in EXPERIMENTS {
        let replaced = name == "convergence";
        assert_eq!(
            after["experiments"][name] != before["experiments"][name],
            replaced,
            "{name}"
        );
    }
    // One seed now where the quick study had two.
    let runs = &after["experiments"]["convergence"]["runs"]["bn"];
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    assert_eq!(after["meta"], before["meta"]);
    assert_eq!(after["merged"][0]["experiments"][0], "convergence");
    assert_eq!(after["merged"][0]["meta"]["seeds"], 1);
    let report = read(&out.join("report.md"));
    assert!(report.contains("except the sections named after it"));
    assert!(
        report.contains("The section [`convergence`](#convergence) was measured by a later run")
    );
    assert!(report.contains("--seeds 1 --out"));
    for name in EXPERIMENTS {
        assert!(
            report.contains(&format!("<a id=\"{name}\"></a>")),
            "no section {name}"
        );
    }

    let full = merge(&["convergence", "--merge", "--out", out_arg]);
    assert!(
        matches!(full, Err(StudyError::Usage(_))),
        "a full run merged into quick results"
    );
    let empty = out.join("empty");
    let missing = merge(&[
        "cnn",
        "--quick",
        "--merge",
        "--out",
        empty.to_str().unwrap(),
    ]);
    assert!(matches!(missing, Err(StudyError::Read { .. })));
}

#[test]
fn paper_flags_parse_and_are_refused_where_they_do_not_apply() {
    let parse = |words: &[&str]| {
        let mut all = vec!["bn_compare"];
        all.extend(words);
        all.extend(["--out", "/tmp/x"]);
        Args::try_parse_from(all)
    };
    let args = parse(&[
        "paper-fig1",
        "--init",
        "uniform",
        "--input",
        "standardized",
        "--lr",
        "0.5",
        "--seeds",
        "3",
    ])
    .unwrap();
    let options = args.paper().unwrap();
    assert_eq!(
        (options.init, options.input, options.lr, args.seeds),
        (Init::Uniform, Input::Standardized, Some(0.5), Some(3))
    );
    assert!(args
        .command()
        .contains("paper-fig1 --seeds 3 --init uniform --input standardized --lr 0.5"));
    // The defaults are the paper's: Gaussian weights, binary inputs, the learning rate chosen.
    let default = parse(&["paper-fig1"]).unwrap().paper().unwrap();
    assert_eq!(default, PaperOptions::default());
    assert_eq!(
        (default.init, default.input, default.lr),
        (Init::Normal, Input::Binary, None)
    );
    // Every experiment runs by default, paper-fig1 among them: the flags apply.
    assert!(parse(&["--lr", "2"]).unwrap().paper().is_ok());
    // Bad values are clap's errors (exit 2); flags for an experiment not run are ours (exit 2).
    for bad in [
        &["--init", "gaussian"][..],
        &["--input", "grey"],
        &["--lr", "-1"],
        &["--lr", "nan"],
        &["--lr", "0"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} parsed");
    }
    let misplaced = parse(&["convergence", "--lr", "0.5"]).unwrap().paper();
    assert!(matches!(misplaced, Err(StudyError::Usage(_))));
    assert!(parse(&["--from-results", "r.json", "--lr", "1"]).is_err());
}
