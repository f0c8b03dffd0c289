//! Properties of the tape as a whole: accumulation, handles, reuse, inference.

use tapegrad_core::{Param, Tape, Tensor, Var};

fn input() -> Tensor {
    Tensor::from_vec(vec![2, 3], vec![0.5, -1.0, 2.0, 1.5, 0.25, -0.75])
}

#[test]
fn a_value_used_twice_accumulates_both_paths() {
    // Diamond: x -> a = 3x, b = x^2 -> y = sum(a + b); dy/dx = 3 + 2x.
    let mut tape = Tape::new();
    let x = tape.variable(input());
    let a = tape.mul_scalar(x, 3.0);
    let b = tape.mul(x, x);
    let s = tape.add(a, b);
    let y = tape.sum(s);
    let grads = tape.backward(y);
    let expected: Vec<f32> = input().data().iter().map(|&x| 3.0 + 2.0 * x).collect();
    assert_eq!(grads.get(x).unwrap().data(), expected.as_slice());
}

#[test]
fn the_same_param_used_twice_gets_the_summed_gradient() {
    let w = Param::new(Tensor::from_vec(vec![1, 2], vec![2.0, -1.0]));
    let mut tape = Tape::new();
    let first = tape.param(&w);
    let second = tape.param(&w);
    assert_eq!(first, second, "one parameter, one handle per step");
    let prod = tape.mul(first, second);
    let y = tape.sum(prod);
    let grads = tape.backward(y);
    assert_eq!(grads.param(&w).unwrap().data(), &[4.0, -2.0]);
}

#[test]
fn an_unused_param_has_no_gradient_like_pytorch_none() {
    let used = Param::new(Tensor::from_vec(vec![2], vec![1.0, 2.0]));
    let unused = Param::new(Tensor::from_vec(vec![2], vec![3.0, 4.0]));
    let mut tape = Tape::new();
    let u = tape.param(&used);
    tape.param(&unused);
    let y = tape.sum(u);
    let grads = tape.backward(y);
    assert!(grads.param(&used).is_some());
    assert!(grads.param(&unused).is_none());
    assert_eq!(grads.param_ids().collect::<Vec<_>>(), vec![used.id()]);
}

#[test]
fn constants_get_no_gradient_and_cost_no_record() {
    let mut tape = Tape::new();
    let c = tape.constant(input());
    let y = tape.relu(c);
    assert_eq!(tape.num_recorded_ops(), 0, "no input needs a gradient");
    let loss = tape.sum(y);
    let grads = tape.backward(loss);
    assert!(grads.get(c).is_none());
}

#[test]
#[should_panic(expected = "belongs to tape")]
fn a_handle_from_another_tape_is_rejected() {
    let mut first = Tape::new();
    let x = first.variable(input());
    let mut second = Tape::new();
    second.relu(x);
}

#[test]
#[should_panic(expected = "is from before the tape was reset")]
fn a_handle_from_before_a_reset_is_rejected() {
    let mut tape = Tape::new();
    let x = tape.variable(input());
    tape.reset();
    tape.variable(input());
    tape.relu(x);
}

#[test]
#[should_panic(expected = "backward: the loss must have one element, got shape [2, 3]")]
fn backward_of_a_non_scalar_panics_with_its_shape() {
    let mut tape = Tape::new();
    let x = tape.variable(input());
    tape.backward(x);
}

#[test]
fn no_grad_records_nothing_and_keeps_values() {
    let w = Param::new(Tensor::from_vec(vec![2, 3], vec![0.1; 6]));
    let mut tape = Tape::new();
    let z = tape.no_grad(|tape| {
        let x = tape.constant(input());
        let wv = tape.param(&w);
        let y = tape.linear(x, wv, None);
        tape.sigmoid(y)
    });
    assert_eq!(
        tape.num_recorded_ops(),
        0,
        "a parameter put on inside needs no gradient"
    );
    assert_eq!(tape.shape(z), &[2, 2]);

    let mut training = Tape::new();
    let wv = training.param(&w);
    let x = training.constant(input());
    let recorded = training.no_grad(|t| {
        let y = t.linear(x, wv, None);
        t.sigmoid(y)
    });
    assert_eq!(training.num_recorded_ops(), 0, "no_grad records nothing");
    assert!(training.is_recording(), "no_grad restores recording");
    assert_eq!(training.value(recorded).data(), tape.value(z).data());
}

/// One step of a small two-layer net; returns the gradients of both weights.
fn step(tape: &mut Tape, w1: &Param, w2: &Param, x: &Tensor, labels: &[usize]) -> Vec<Vec<f32>> {
    let xv = tape.constant_from_slice(x.shape(), x.data());
    let (a, b) = (tape.param(w1), tape.param(w2));
    let h = tape.linear(xv, a, None);
    let h = tape.tanh(h);
    let logits = tape.linear(h, b, None);
    let loss = tape.cross_entropy(logits, labels);
    let grads = tape.backward(loss);
    let out = vec![
        grads.param(w1).unwrap().data().to_vec(),
        grads.param(w2).unwrap().data().to_vec(),
    ];
    tape.recycle(grads);
    out
}

#[test]
fn a_reset_tape_gives_the_same_gradients_as_fresh_tapes_for_100_steps() {
    let w1 = Param::new(Tensor::from_vec(
        vec![4, 3],
        (0..12).map(|i| (i as f32 * 0.37).sin()).collect(),
    ));
    let w2 = Param::new(Tensor::from_vec(
        vec![2, 4],
        (0..8).map(|i| (i as f32 * 0.91).cos()).collect(),
    ));
    let mut reused = Tape::new();
    for s in 0..100 {
        let x = Tensor::from_vec(
            vec![5, 3],
            (0..15).map(|i| ((i + s) as f32 * 0.13).sin()).collect(),
        );
        let labels: Vec<usize> = (0..5).map(|i| (i + s) % 2).collect();
        reused.reset();
        let from_reused = step(&mut reused, &w1, &w2, &x, &labels);
        let from_fresh = step(&mut Tape::new(), &w1, &w2, &x, &labels);
        assert_eq!(from_reused, from_fresh, "step {s}");
    }
}

#[test]
fn gradients_reject_handles_of_another_step() {
    let mut tape = Tape::new();
    let x = tape.variable(input());
    let y = tape.sum(x);
    let grads = tape.backward(y);
    tape.reset();
    let stale: Var = x;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut other = Tape::new();
        let z = other.variable(input());
        grads.get(z).is_some()
    }));
    assert!(
        result.is_err(),
        "a handle of another tape must not read these gradients"
    );
    assert!(
        grads.get(stale).is_some(),
        "the store still answers for its own step"
    );
}
