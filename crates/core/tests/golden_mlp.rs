//! The cross-entropy MLP of `golden/mlp_ce.json`, built from core ops alone, against
//! PyTorch's float64 loss and every gradient.

use tapegrad_core::{Param, Tape, Tensor};
use tapegrad_testutil::{GoldenCase, GoldenTensor};

fn t(g: GoldenTensor) -> Tensor {
    let data = g.to_f32();
    Tensor::from_vec(g.shape, data)
}

#[test]
fn linear_relu_linear_cross_entropy_matches_pytorch() {
    let case = GoldenCase::load("mlp_ce.json", "linear_relu_linear_ce");
    let labels = case.labels();
    let params: Vec<Param> = ["W1", "b1", "W2", "b2"]
        .iter()
        .map(|k| Param::new(t(case.tensor(k))))
        .collect();

    // Composed from the primitive ops (matmul with a transposed operand, broadcast add),
    // and again with the fused `linear`: both must match.
    for fused in [false, true] {
        let mut tape = Tape::new();
        let x = tape.variable(t(case.tensor("x")));
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
        case.check(&what("z1"), tape.value(z1).data(), "z1");
        case.check(&what("logits"), tape.value(logits).data(), "logits");
        case.check_scalar(&what("loss"), tape.value(loss).item(), "loss");

        let grads = tape.backward(loss);
        case.check(&what("dx"), grads.get(x).unwrap().data(), "dx");
        for (p, key) in params.iter().zip(["dW1", "db1", "dW2", "db2"]) {
            let g = grads.param(p).unwrap_or_else(|| panic!("{key} missing"));
            case.check(&what(key), g.data(), key);
        }
    }
}
