//! Runs the cases of `golden/edge_cases.json` forward and backward against PyTorch's values:
//! shared by the core ops' edge test and the layers' one, each with its own `apply`.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tapegrad_core::{Tape, Tensor, Var};
use tapegrad_testutil::edge::{check, edge_tensor, Value};

/// Runs every case with `apply` (the case's op on the tape, one handle per input), asserts
/// that none failed (listing every failure together), and returns the ops the cases named.
pub fn run_all(
    cases: &[Value],
    apply: impl Fn(&Value, &mut Tape, &[Var]) -> Var,
) -> BTreeSet<String> {
    let mut ops_seen = BTreeSet::new();
    let mut failures = Vec::new();
    for case in cases {
        ops_seen.insert(case["op"].as_str().expect("op").to_owned());
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run_case(case, &apply))) {
            let text = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(text);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ops_seen
}

/// Runs one case forward and backward and checks the output and every input's gradient.
fn run_case(case: &Value, apply: &dyn Fn(&Value, &mut Tape, &[Var]) -> Var) {
    {
        let name = case["name"].as_str().expect("name");
        let reference = case["reference"].as_str().expect("reference");
        let (rtol, atol) = (
            case["rtol"].as_f64().unwrap(),
            case["atol"].as_f64().unwrap(),
        );
        let mut tape = Tape::new();
        let vars: Vec<Var> = case["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|t| {
                let t = edge_tensor(t);
                tape.variable(Tensor::from_vec(t.shape, t.f32))
            })
            .collect();
        let y = apply(case, &mut tape, &vars);
        let out = edge_tensor(&case["out"]);
        assert_eq!(tape.shape(y), out.shape.as_slice(), "{name}: output shape");
        check(
            &format!("{name}: output"),
            tape.value(y).data(),
            &out,
            reference,
            rtol,
            atol,
        );
        let seed = match &case["grad_out"] {
            Value::Null => Tensor::full(out.shape.clone(), 1.0),
            g => {
                let g = edge_tensor(g);
                Tensor::from_vec(g.shape, g.f32)
            }
        };
        let grads = tape.backward_with(y, seed);
        for (i, (v, want)) in vars
            .iter()
            .zip(case["grads"].as_array().expect("grads"))
            .enumerate()
        {
            let want = edge_tensor(want);
            let got = grads
                .get(*v)
                .cloned()
                .unwrap_or_else(|| Tensor::zeros(want.shape.clone()));
            assert_eq!(got.shape(), want.shape.as_slice(), "{name}: grad {i} shape");
            check(
                &format!("{name}: gradient of input {i}"),
                got.data(),
                &want,
                reference,
                rtol,
                atol,
            );
        }
    }
}
