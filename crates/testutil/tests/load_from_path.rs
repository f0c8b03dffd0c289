//! Golden files loaded by path, as a crate outside the workspace loads its own: a file this
//! test writes to the temporary folder, read with `load_from` and `GoldenCase::load_from`,
//! and tolerance checks that pass and that fail.

use std::path::{Path, PathBuf};
use tapegrad_testutil::{
    assert_close, golden_dir, load, load_from, tensor, tensor_of, tol, GoldenCase,
};

/// A golden file written for one test, removed when the test ends (also when it panics).
struct TempGolden(PathBuf);

impl TempGolden {
    fn new(test: &str, json: &str) -> Self {
        let name = format!("tapegrad-testutil-{}-{test}.json", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, json).expect("write the temporary golden file");
        TempGolden(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempGolden {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A top-level tensor and two cases, in the layout `generate.py` writes.
const JSON: &str = r#"{
  "generated_by": "hand-written for a test",
  "w": {"shape": [2, 2], "data": [1.0, -2.0, 0.5, 4.0]},
  "cases": [
    {"name": "first", "x": {"shape": [3], "data": [1.0, 2.0, 3.0]}, "loss": 0.25},
    {"name": "second", "x": {"shape": [], "data": [1000.0]}, "labels": [2, 0, 1]}
  ]
}"#;

#[test]
fn a_file_outside_the_golden_folder_loads_by_path() {
    let file = TempGolden::new("loads", JSON);
    let golden = load_from(file.path());
    assert_eq!(golden["generated_by"], "hand-written for a test");
    let w = tensor(&golden, "w");
    assert_eq!(w.shape, [2, 2]);
    assert_eq!(w.data, [1.0, -2.0, 0.5, 4.0]);
    let x = tensor_of(&golden["cases"][1]["x"]);
    assert_eq!((x.shape.len(), x.data.as_slice()), (0, &[1000.0][..]));

    let case = GoldenCase::load_from(file.path(), "second");
    assert_eq!(case.name(), "second");
    assert_eq!(case.labels(), [2, 0, 1]);
    let first = GoldenCase::load_from(file.path(), "first");
    assert_eq!(first.scalar("loss"), 0.25);
}

#[test]
fn values_within_the_default_tolerance_pass() {
    let file = TempGolden::new("within", JSON);
    let case = GoldenCase::load_from(file.path(), "first");
    // |diff| 2e-4 <= 1e-5 + 1e-4 * 3 = 3.1e-4 for the last element.
    case.check("x", &[1.0, 2.0, 3.0002], "x");
    case.check_scalar("loss", 0.250_02, "loss");
    let golden = load_from(file.path());
    assert_close(
        "w",
        &[1.0, -2.000_1, 0.5, 4.0],
        &tensor(&golden, "w").data,
        tol::RTOL,
        tol::ATOL,
    );
}

#[test]
#[should_panic(expected = "first: x: element 2 is 3.0004")]
fn a_value_outside_the_default_tolerance_fails_naming_case_and_element() {
    let file = TempGolden::new("outside", JSON);
    // |diff| 4e-4 > 1e-5 + 1e-4 * 3 = 3.1e-4.
    GoldenCase::load_from(file.path(), "first").check("x", &[1.0, 2.0, 3.0004], "x");
}

#[test]
fn a_looser_tolerance_accepts_what_the_default_rejects() {
    let file = TempGolden::new("looser", JSON);
    let case = GoldenCase::load_from(file.path(), "second");
    // 1000.5 is 5e-4 relative off: outside rtol 1e-4, inside the large-mean case's 1e-3.
    let rejected = std::panic::catch_unwind(|| case.check("x", &[1000.5], "x"));
    assert!(rejected.is_err(), "the default tolerance rejects 1000.5");
    case.check_within(
        "x",
        &[1000.5],
        "x",
        tol::LARGE_MEAN_RTOL,
        tol::LARGE_MEAN_ATOL,
    );
}

#[test]
#[should_panic(expected = "second: x: element 0 is 1000.5")]
fn check_within_fails_outside_its_tolerance() {
    let file = TempGolden::new("tight", JSON);
    GoldenCase::load_from(file.path(), "second").check_within("x", &[1000.5], "x", 1e-4, 0.0);
}

#[test]
#[should_panic(expected = "has no case third")]
fn a_missing_case_fails_loudly() {
    let file = TempGolden::new("no-case", JSON);
    GoldenCase::load_from(file.path(), "third");
}

#[test]
#[should_panic(expected = "cannot read golden file")]
fn a_missing_file_fails_loudly() {
    load_from(std::env::temp_dir().join("tapegrad-testutil-no-such-file.json"));
}

#[test]
#[should_panic(expected = "cannot parse golden file")]
fn a_malformed_file_fails_loudly() {
    let file = TempGolden::new("malformed", "{\"w\": [1.0,");
    load_from(file.path());
}

#[test]
fn loading_by_name_is_loading_the_crate_golden_folder_by_path() {
    for name in ["dropout.json", "schedules.json"] {
        assert_eq!(load(name), load_from(golden_dir().join(name)));
    }
}
