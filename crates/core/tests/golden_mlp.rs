//! The cross-entropy MLP of `golden/mlp_ce.json`, built from core ops alone, against
//! PyTorch's float64 loss and every gradient.

use tapegrad_core::{Param, Tape, Tensor};
use tapegrad_testutil::{assert_close, load, tensor, tol, GoldenTensor};

fn t(g: &GoldenTensor) -> Tensor {
    Tensor::from_vec(g.shape.clone(), g.to_f32())
}

#[test]
fn linear_relu_linear_cross_entropy_matches_pytorch() {
    let golden = load("mlp_ce.json");
    let case = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linear_relu_linear_ce")
        .expect("case linear_relu_linear_ce");
    let labels: Vec<usize> = case["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() as usize)
        .collect();
    let params: Vec<Param> = ["W1", "b1", "W2", "b2"]
        .iter()
        .map(|k| Param::new(t(&tensor(case, k))))
        .collect();

    // Composed from the primitive ops (matmul with a transposed operand, broadcast add),
    // and again with the fused `linear`: both must match.
    for fused in [false, true] {
        let mut tape = Tape::new();
        let x = tape.variable(t(&tensor(case, "x")));
        let [w1, b1, w2, b2] = [0, 1, 2, 3].map(|i| tape.param(&params[i]));
        let (z1, logits) = if fused {
            let z1 = tape.linear(x, w1, Some(b1));
            let h = tape.relu(z1);
            (z1, tape.linear(h, w2, Some(b2)))
        } else {
            let xw = tape.matmul_t(x, false, w1, true);
            let z1 = tape.add(xw, b1);
            let h = tape.relu(z1);
            let hw = tape.matmul_t(h, false, w2, true);
            (z1, tape.add(hw, b2))
        };
        let loss = tape.cross_entropy(logits, &labels);
        let what = |name: &str| format!("{name} ({})", if fused { "linear" } else { "matmul+add" });
        assert_close(
            &what("z1"),
            tape.value(z1).data(),
            &tensor(case, "z1").data,
            tol::RTOL,
            tol::ATOL,
        );
        assert_close(
            &what("logits"),
            tape.value(logits).data(),
            &tensor(case, "logits").data,
            tol::RTOL,
            tol::ATOL,
        );
        let expected_loss = case["loss"].as_f64().unwrap();
        assert_close(
            &what("loss"),
            &[tape.value(loss).item()],
            &[expected_loss],
            tol::RTOL,
            tol::ATOL,
        );

        let grads = tape.backward(loss);
        assert_close(
            &what("dx"),
            grads.get(x).unwrap().data(),
            &tensor(case, "dx").data,
            tol::RTOL,
            tol::ATOL,
        );
        for (p, key) in params.iter().zip(["dW1", "db1", "dW2", "db2"]) {
            let g = grads.param(p).unwrap_or_else(|| panic!("{key} missing"));
            assert_close(
                &what(key),
                g.data(),
                &tensor(case, key).data,
                tol::RTOL,
                tol::ATOL,
            );
        }
    }
}
