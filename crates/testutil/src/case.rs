//! One named case of a golden file, and the checks a test runs against it at the default
//! tolerances.
//!
//! Plain JSON only: the tests turn the [`GoldenTensor`]s into their own types, since this
//! crate depends on no tapegrad crate.

use crate::{assert_close, golden_dir, load_from, tensor, tol, GoldenTensor};
use serde_json::Value;
use std::path::Path;

/// The entry named `name` in the `cases` array of a golden file (`mlp_ce.json`,
/// `batchnorm1d.json`...).
///
/// ```
/// use tapegrad_testutil::GoldenCase;
/// let case = GoldenCase::load("mlp_ce.json", "linear_relu_linear_ce");
/// assert_eq!(case.labels().len(), case.tensor("x").shape[0]);
/// ```
#[derive(Debug, Clone)]
pub struct GoldenCase {
    name: String,
    value: Value,
}

impl GoldenCase {
    /// Loads `golden/<file>` of this crate and takes its case called `name`, as
    /// [`load_from`](Self::load_from) does.
    pub fn load(file: &str, name: &str) -> Self {
        Self::load_from(golden_dir().join(file), name)
    }

    /// Loads the golden file at `path`, anywhere on disk, and takes its case called `name`,
    /// panicking if the file is missing or malformed or has no such case: a test must fail
    /// loudly, never skip, when its reference is gone. A crate outside the workspace checks
    /// itself against golden files of its own this way.
    ///
    /// ```
    /// use tapegrad_testutil::GoldenCase;
    /// let path = std::env::temp_dir().join(format!("tapegrad-case-doc-{}.json", std::process::id()));
    /// let json = r#"{"cases": [{"name": "double", "x": {"shape": [2], "data": [1, 2]},
    ///                           "y": {"shape": [2], "data": [2, 4]}}]}"#;
    /// std::fs::write(&path, json).unwrap();
    /// let case = GoldenCase::load_from(&path, "double");
    /// std::fs::remove_file(&path).unwrap();
    /// let y: Vec<f32> = case.tensor("x").to_f32().iter().map(|v| 2.0 * v).collect();
    /// case.check("y", &y, "y");
    /// ```
    pub fn load_from(path: impl AsRef<Path>, name: &str) -> Self {
        let path = path.as_ref();
        let mut golden = load_from(path);
        let cases = golden["cases"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("golden file {} has no `cases` array", path.display()));
        let index = cases
            .iter()
            .position(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("golden file {} has no case {name}", path.display()));
        GoldenCase {
            name: name.to_owned(),
            value: cases.swap_remove(index),
        }
    }

    /// The case's name, which every check message starts with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The case as JSON, for keys the accessors below do not cover.
    pub fn json(&self) -> &Value {
        &self.value
    }

    /// The tensor stored under `key`.
    pub fn tensor(&self, key: &str) -> GoldenTensor {
        tensor(&self.value, key)
    }

    /// The number stored under `key` (a scalar such as `loss`).
    pub fn scalar(&self, key: &str) -> f64 {
        self.value[key]
            .as_f64()
            .unwrap_or_else(|| panic!("case {}: `{key}` is not a number", self.name))
    }

    /// The class indices stored under `labels`.
    pub fn labels(&self) -> Vec<usize> {
        self.value["labels"]
            .as_array()
            .unwrap_or_else(|| panic!("case {}: no `labels` array", self.name))
            .iter()
            .map(|l| l.as_u64().expect("labels are non-negative integers") as usize)
            .collect()
    }

    /// Asserts `actual` matches the tensor under `key` within [`tol::RTOL`] and
    /// [`tol::ATOL`]; a failure names the case and `what`.
    pub fn check(&self, what: &str, actual: &[f32], key: &str) {
        self.check_against(what, actual, &self.tensor(key).data);
    }

    /// Asserts `actual` matches the number under `key`, as [`check`](Self::check) does.
    pub fn check_scalar(&self, what: &str, actual: f32, key: &str) {
        self.check_against(what, &[actual], &[self.scalar(key)]);
    }

    /// Asserts `actual` matches the tensor under `key` within `rtol` and `atol` (the rule of
    /// [`assert_close`]), for a case whose tolerances differ from the defaults, such as
    /// BatchNorm's `large_mean_1e3_8x4` ([`tol::LARGE_MEAN_RTOL`], [`tol::LARGE_MEAN_ATOL`]).
    pub fn check_within(&self, what: &str, actual: &[f32], key: &str, rtol: f64, atol: f64) {
        let what = format!("{}: {what}", self.name);
        assert_close(&what, actual, &self.tensor(key).data, rtol, atol);
    }

    fn check_against(&self, what: &str, actual: &[f32], expected: &[f64]) {
        let what = format!("{}: {what}", self.name);
        assert_close(&what, actual, expected, tol::RTOL, tol::ATOL);
    }
}
