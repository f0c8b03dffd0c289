//! The encoding of `golden/edge_cases.json` (written by `golden/edge_cases.py`): float32
//! values as IEEE bit patterns, so NaN, infinities, signed zeros and subnormals survive
//! JSON, float64 values with `"nan"`/`"inf"`/`"-inf"` as strings, and long constant tensors
//! stored once. [`check`] compares a result with a reference the way every case states.

/// The JSON value type of the golden files, re-exported for tests of crates that do not
/// depend on `serde_json` themselves.
pub use serde_json::Value;

/// A decoded tensor of an edge case: its shape, its float32 values (bit-exact) and, for
/// results, PyTorch's float64 values.
#[derive(Debug, Clone)]
pub struct EdgeTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The float32 values (inputs, or PyTorch's float32 results).
    pub f32: Vec<f32>,
    /// PyTorch's float64 results (empty for inputs).
    pub f64: Vec<f64>,
}

/// A float64 entry: a number, or `"nan"`, `"inf"`, `"-inf"`.
pub fn f64_of(v: &Value) -> f64 {
    match v {
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unknown float64 string {other:?}"),
        },
        v => v.as_f64().expect("a float64 entry is a number or a string"),
    }
}

/// Decodes a tensor in any of the file's three layouts (`f32` bits, input `fill`, result
/// `fill_f32`).
pub fn edge_tensor(v: &Value) -> EdgeTensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("an edge tensor has a shape")
        .iter()
        .map(|d| d.as_u64().expect("dimensions are integers") as usize)
        .collect();
    let n = shape.iter().product::<usize>();
    let bits = |b: &Value| f32::from_bits(b.as_u64().expect("f32 bits are integers") as u32);
    let (f32s, f64s) = if let Some(fill) = v.get("fill") {
        (
            vec![fill.as_f64().expect("fill is a number") as f32; n],
            Vec::new(),
        )
    } else if let Some(b) = v.get("fill_f32") {
        let wide = v.get("fill_f64").map(f64_of);
        (vec![bits(b); n], wide.map_or_else(Vec::new, |w| vec![w; n]))
    } else {
        let f32s: Vec<f32> = v["f32"]
            .as_array()
            .expect("f32 bits")
            .iter()
            .map(bits)
            .collect();
        let f64s = v
            .get("f64")
            .and_then(Value::as_array)
            .map_or_else(Vec::new, |a| a.iter().map(f64_of).collect());
        (f32s, f64s)
    };
    assert_eq!(
        f32s.len(),
        n,
        "edge tensor {shape:?} has {} values",
        f32s.len()
    );
    EdgeTensor {
        shape,
        f32: f32s,
        f64: f64s,
    }
}

/// Asserts `actual` matches `tensor` as the case's `reference` says: against the float32
/// values bit for bit when `rtol == atol == 0` (any NaN equals any NaN; zeros compared by
/// sign), else within `atol + rtol * |expected|` against the float32 or (`"float64"`) the
/// float64 values, with NaN and infinities in the same places either way.
pub fn check(
    what: &str,
    actual: &[f32],
    tensor: &EdgeTensor,
    reference: &str,
    rtol: f64,
    atol: f64,
) {
    assert_eq!(actual.len(), tensor.f32.len(), "{what}: length");
    let expected: Vec<f64> = match reference {
        "float32" => tensor.f32.iter().map(|&v| v as f64).collect(),
        "float64" => tensor.f64.clone(),
        other => panic!("{what}: unknown reference {other}"),
    };
    for (i, (&a, &e)) in actual.iter().zip(&expected).enumerate() {
        let a64 = a as f64;
        let ok = if e.is_nan() || a.is_nan() {
            e.is_nan() && a.is_nan()
        } else if e.is_infinite() || a.is_infinite() {
            a64 == e
        } else if rtol == 0.0 && atol == 0.0 {
            a.to_bits() == tensor.f32[i].to_bits()
        } else {
            (a64 - e).abs() <= atol + rtol * e.abs()
        };
        assert!(
            ok,
            "{what}: element {i} is {a:e} ({:#010x}) but PyTorch {reference} gives {e:e} ({:#010x} in float32)",
            a.to_bits(),
            tensor.f32[i].to_bits()
        );
    }
}
