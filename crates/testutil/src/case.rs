//! One named case of a golden file, and the checks a test runs against it at the default
//! tolerances.
//!
//! Plain JSON only: the tests turn the [`GoldenTensor`]s into their own types, since this
//! crate depends on no tapegrad crate.

use crate::{assert_close, load, tensor, tol, GoldenTensor};
use serde_json::Value;

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
    /// Loads `golden/<file>` and takes its case called `name`, panicking if there is none:
    /// a test must fail loudly, never skip, when its reference is gone.
    pub fn load(file: &str, name: &str) -> Self {
        let mut golden = load(file);
        let cases = golden["cases"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("golden file {file} has no `cases` array"));
        let index = cases
            .iter()
            .position(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("golden file {file} has no case {name}"));
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

    fn check_against(&self, what: &str, actual: &[f32], expected: &[f64]) {
        let what = format!("{}: {what}", self.name);
        assert_close(&what, actual, expected, tol::RTOL, tol::ATOL);
    }
}
