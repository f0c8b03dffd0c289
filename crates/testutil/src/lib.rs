//! Test support shared by the tapegrad crates: the PyTorch float64 reference values
//! (`golden/*.json`, written by `golden/generate.py`; [`load`] reads them by name, and
//! [`load_from`] reads a golden file at any path, for a crate with references of its own),
//! one named case of a golden file with its checks ([`GoldenCase`]), a tolerance check that
//! names the first element that is off, a counting allocator ([`alloc`]) for tests that
//! bound allocations, and a deterministic stream for test inputs ([`SplitMix64`]).
//!
//! It depends on no tapegrad crate, so every crate can use it as a dev-dependency
//! without a dependency cycle.
#![warn(missing_docs)]

pub mod alloc;
mod case;
pub mod edge;
pub mod file_modes;
mod splitmix;

pub use case::GoldenCase;
pub use splitmix::SplitMix64;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The folder holding the golden JSON files.
pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Parses `golden/<name>` of this crate (for example `"batchnorm1d.json"`), as
/// [`load_from`] does: the workspace's own tests name their reference by file name.
pub fn load(name: &str) -> Value {
    load_from(golden_dir().join(name))
}

/// Parses the golden file at `path`, anywhere on disk, panicking with the path if it is
/// missing or malformed: a test must fail loudly, never skip, when its reference is gone.
///
/// This is how a crate outside the workspace checks itself against reference values of its
/// own (written by a script like `golden/generate.py`), with the same readers
/// ([`tensor`], [`tensor_of`], [`GoldenCase`]) and tolerance checks ([`assert_close`]):
///
/// ```
/// use tapegrad_testutil::{assert_close, load_from, tensor, tol};
/// // A reference file of the caller's own; here one written on the spot.
/// let path = std::env::temp_dir().join(format!("tapegrad-doc-{}.json", std::process::id()));
/// std::fs::write(&path, r#"{"y": {"shape": [2], "data": [0.5, -1.25]}}"#).unwrap();
/// let golden = load_from(&path);
/// std::fs::remove_file(&path).unwrap();
/// let expected = tensor(&golden, "y");
/// assert_eq!(expected.shape, [2]);
/// let actual = [0.500_01_f32, -1.25]; // what the code under test computed
/// assert_close("my_op: y", &actual, &expected.data, tol::RTOL, tol::ATOL);
/// ```
pub fn load_from(path: impl AsRef<Path>) -> Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read golden file {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot parse golden file {}: {e}", path.display()))
}

/// A tensor from a golden file: its shape and its row-major float64 data.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenTensor {
    /// Dimensions, outermost first (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Row-major values in float64, as PyTorch computed them.
    pub data: Vec<f64>,
}

impl GoldenTensor {
    /// The data rounded to `f32`, the precision tapegrad computes in.
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// Reads `value[key]` as a `{shape, data}` tensor.
pub fn tensor(value: &Value, key: &str) -> GoldenTensor {
    let t = value
        .get(key)
        .unwrap_or_else(|| panic!("golden value has no key `{key}`"));
    tensor_of(t)
}

/// Reads a `{shape, data}` JSON object as a tensor.
pub fn tensor_of(t: &Value) -> GoldenTensor {
    let shape = t["shape"]
        .as_array()
        .expect("golden tensor has a `shape` array")
        .iter()
        .map(|d| d.as_u64().expect("shape entries are integers") as usize)
        .collect::<Vec<_>>();
    let data = t["data"]
        .as_array()
        .expect("golden tensor has a `data` array")
        .iter()
        .map(|v| v.as_f64().expect("data entries are numbers"))
        .collect::<Vec<_>>();
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "golden tensor shape {shape:?} disagrees with its data length"
    );
    GoldenTensor { shape, data }
}

/// Asserts `|actual - expected| <= atol + rtol * |expected|` element by element (the rule of
/// `torch.allclose`), panicking with `what`, the first offending index and both values.
pub fn assert_close(what: &str, actual: &[f32], expected: &[f64], rtol: f64, atol: f64) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: length {} but expected {}",
        actual.len(),
        expected.len()
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let a = a as f64;
        let ok = (a - e).abs() <= atol + rtol * e.abs();
        assert!(
            ok,
            "{what}: element {i} is {a} but PyTorch gives {e} (|diff| {:.3e} > atol {atol:e} + rtol {rtol:e} * |expected|)",
            (a - e).abs()
        );
    }
}

/// The tolerances of `golden/README.md` for a float32 implementation.
pub mod tol {
    /// Default relative tolerance against the float64 references.
    pub const RTOL: f64 = 1e-4;
    /// Default absolute tolerance against the float64 references.
    pub const ATOL: f64 = 1e-5;
    /// Relative tolerance for the `large_mean_1e3_8x4` BatchNorm case.
    pub const LARGE_MEAN_RTOL: f64 = 1e-3;
    /// Absolute tolerance for the `large_mean_1e3_8x4` BatchNorm case.
    pub const LARGE_MEAN_ATOL: f64 = 1e-4;
    /// Relative tolerance for optimizer trajectories.
    pub const OPTIM_RTOL: f64 = 1e-5;
    /// Absolute tolerance for optimizer trajectories.
    pub const OPTIM_ATOL: f64 = 1e-6;
    /// Relative tolerance for learning-rate schedules.
    pub const SCHEDULE_RTOL: f64 = 1e-6;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_golden_file_parses() {
        for name in [
            "batchnorm1d.json",
            "batchnorm2d.json",
            "conv_pool.json",
            "mlp_ce.json",
            "dropout.json",
            "optim.json",
            "schedules.json",
            "layernorm.json",
            "edge_cases.json",
        ] {
            let v = load(name);
            assert!(v.get("generated_by").is_some(), "{name} lacks generated_by");
        }
    }

    #[test]
    fn every_golden_file_is_made_by_the_script() {
        let script = std::fs::read_to_string(golden_dir().join("generate.py"))
            .expect("golden/generate.py is present");
        let mut files = 0;
        for entry in std::fs::read_dir(golden_dir()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") {
                files += 1;
                assert!(
                    script.contains(&format!("\"{name}\": make_")),
                    "golden/{name} is not in generate.py's FILES"
                );
            }
        }
        assert_eq!(files, 9);
    }

    #[test]
    #[should_panic(expected = "element 1 is")]
    fn assert_close_reports_the_first_bad_element() {
        assert_close("demo", &[1.0, 2.5], &[1.0, 2.0], 1e-4, 1e-5);
    }
}
