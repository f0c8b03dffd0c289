//! The CI check of the study: `--quick` runs every experiment and writes every output, and
//! `--from-results` renders the same report again. It checks the files, not the science.

use super::*;
use std::fs;
use std::path::Path;

/// Every SVG the eight experiments draw.
const SVGS: [&str; 12] = [
    "convergence_accuracy.svg",
    "convergence_loss.svg",
    "learning_rate.svg",
    "init.svg",
    "batch_size.svg",
    "train_test.svg",
    "overhead_train.svg",
    "overhead_inference_b1000.svg",
    "overhead_inference_b1.svg",
    "regularization_gap.svg",
    "regularization_test.svg",
    "paper_fig1.svg",
];

const EXPERIMENTS: [&str; 8] = [
    "convergence",
    "learning-rate",
    "init",
    "batch-size",
    "train-test",
    "overhead",
    "regularization",
    "paper-fig1",
];

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn quick_study_writes_every_output_and_renders_again_from_its_results() {
    let dir = std::env::temp_dir().join(format!("bn_compare_quick_{}", std::process::id()));
    let (out, again) = (dir.join("run"), dir.join("again"));
    let args = Args::parse_from(["bn_compare", "--quick", "--out", out.to_str().unwrap()]);
    study(&args, false).expect("the quick study runs");

    let json: serde_json::Value = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    for name in EXPERIMENTS {
        assert!(
            json["experiments"][name].is_object(),
            "results.json lacks {name}"
        );
    }
    assert_eq!(json["meta"]["quick"], true);

    let report = read(&out.join("report.md"));
    for name in EXPERIMENTS {
        assert!(
            report.contains(&format!("<a id=\"{name}\"></a>")),
            "no section {name}"
        );
    }
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
    let rerender = Args::parse_from([
        "bn_compare",
        "--from-results",
        results.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    study(&rerender, false).expect("rendering from results.json");
    assert_eq!(read(&again.join("report.md")), report);
    // (Not byte-equal: serde_json's default parser may round the last digit of an f64.)
    StudyResults::load(&again.join("results.json")).expect("the copy parses");
    fs::remove_dir_all(&dir).unwrap();
}
