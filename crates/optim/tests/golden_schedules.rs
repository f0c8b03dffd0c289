//! Every case of `golden/schedules.json` against PyTorch's schedulers, epoch by epoch.

use serde_json::Value;
use tapegrad_optim::{Schedule, ScheduleKind};
use tapegrad_testutil::{load, tol};

fn usize_of(spec: &Value, key: &str) -> usize {
    spec[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is an integer")) as usize
}

fn f64_of(spec: &Value, key: &str) -> f64 {
    spec[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is a number"))
}

/// The shape a golden `spec` (or one of its `parts`) describes.
fn kind_of(spec: &Value) -> ScheduleKind {
    match spec["kind"].as_str().expect("spec kind") {
        "step" => ScheduleKind::Step {
            step_size: usize_of(spec, "step_size"),
            gamma: f64_of(spec, "gamma"),
        },
        "multistep" => ScheduleKind::MultiStep {
            milestones: spec["milestones"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_u64().unwrap() as usize)
                .collect(),
            gamma: f64_of(spec, "gamma"),
        },
        "exponential" => ScheduleKind::Exponential {
            gamma: f64_of(spec, "gamma"),
        },
        "cosine" => ScheduleKind::Cosine {
            t_max: usize_of(spec, "t_max"),
            eta_min: f64_of(spec, "eta_min"),
        },
        "linear_warmup" => ScheduleKind::Linear {
            start_factor: f64_of(spec, "start_factor"),
            end_factor: f64_of(spec, "end_factor"),
            total_iters: usize_of(spec, "total_iters"),
        },
        "sequential" => ScheduleKind::Sequential {
            parts: spec["parts"]
                .as_array()
                .unwrap()
                .iter()
                .map(kind_of)
                .collect(),
            milestones: spec["milestones"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_u64().unwrap() as usize)
                .collect(),
        },
        other => panic!("unknown schedule kind {other}"),
    }
}

#[test]
fn every_schedule_case_matches_pytorch_epoch_by_epoch() {
    let golden = load("schedules.json");
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(
        cases.len(),
        6,
        "StepLR, MultiStepLR, ExponentialLR, cosine, LinearLR, SequentialLR"
    );
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let spec = &case["spec"];
        let schedule = Schedule::new(f64_of(spec, "base_lr"), kind_of(spec)).unwrap();
        let expected = case["lr_per_epoch"].as_array().unwrap();
        assert_eq!(expected.len() as u64, golden["epochs"].as_u64().unwrap());
        for (epoch, want) in expected.iter().enumerate() {
            let want = want.as_f64().unwrap();
            let got = schedule.lr_at(epoch);
            assert!(
                (got - want).abs() <= tol::SCHEDULE_RTOL * want.abs(),
                "{name}: epoch {epoch} lr is {got} but PyTorch gives {want}"
            );
        }
    }
}

#[test]
fn cosine_climbs_back_after_t_max_like_pytorch() {
    let schedule = Schedule::new(
        1.0,
        ScheduleKind::Cosine {
            t_max: 10,
            eta_min: 0.0,
        },
    )
    .unwrap();
    assert_eq!(schedule.lr_at(10), 0.0);
    assert!((schedule.lr_at(11) - schedule.lr_at(9)).abs() < 1e-15);
    assert!((schedule.lr_at(20) - 1.0).abs() < 1e-15);
}

#[test]
fn repeated_multistep_milestones_decay_twice_like_pytorch() {
    let kind = ScheduleKind::MultiStep {
        milestones: vec![3, 3],
        gamma: 0.5,
    };
    let schedule = Schedule::new(1.0, kind).unwrap();
    assert_eq!(schedule.lr_at(2), 1.0);
    assert_eq!(schedule.lr_at(3), 0.25);
}

#[test]
fn constant_lr_is_expressible() {
    // PyTorch's ConstantLR(factor=0.5, total_iters=3).
    let kind = ScheduleKind::Sequential {
        parts: vec![
            ScheduleKind::Linear {
                start_factor: 0.5,
                end_factor: 0.5,
                total_iters: 3,
            },
            ScheduleKind::Constant,
        ],
        milestones: vec![3],
    };
    let schedule = Schedule::new(0.2, kind).unwrap();
    let lrs: Vec<f64> = (0..5).map(|e| schedule.lr_at(e)).collect();
    assert_eq!(lrs, [0.1, 0.1, 0.1, 0.2, 0.2]);
}

#[test]
fn invalid_schedules_are_rejected() {
    let bad = [
        (
            0.1,
            ScheduleKind::Step {
                step_size: 0,
                gamma: 0.5,
            },
            "step_size",
        ),
        (0.1, ScheduleKind::Exponential { gamma: -0.5 }, "gamma"),
        (
            0.1,
            ScheduleKind::Cosine {
                t_max: 0,
                eta_min: 0.0,
            },
            "t_max",
        ),
        (-0.1, ScheduleKind::Constant, "base_lr"),
        (f64::NAN, ScheduleKind::Constant, "base_lr"),
        (
            0.1,
            ScheduleKind::Linear {
                start_factor: 0.0,
                end_factor: 1.0,
                total_iters: 5,
            },
            "start_factor",
        ),
        (
            0.1,
            ScheduleKind::Linear {
                start_factor: 0.5,
                end_factor: 1.5,
                total_iters: 5,
            },
            "end_factor",
        ),
        (
            0.1,
            ScheduleKind::Linear {
                start_factor: 0.5,
                end_factor: 1.0,
                total_iters: 0,
            },
            "total_iters",
        ),
        (
            0.1,
            ScheduleKind::Sequential {
                parts: vec![ScheduleKind::Constant],
                milestones: vec![3],
            },
            "one milestone fewer",
        ),
        (
            0.1,
            ScheduleKind::Sequential {
                parts: vec![ScheduleKind::Constant; 3],
                milestones: vec![5, 5],
            },
            "strictly increasing",
        ),
        (
            0.1,
            ScheduleKind::Sequential {
                parts: vec![
                    ScheduleKind::Constant,
                    ScheduleKind::Cosine {
                        t_max: 0,
                        eta_min: 0.0,
                    },
                ],
                milestones: vec![5],
            },
            "t_max",
        ),
    ];
    for (base_lr, kind, needle) in bad {
        let err = Schedule::new(base_lr, kind.clone())
            .expect_err(&format!("{kind:?} must be rejected"))
            .to_string();
        assert!(err.contains(needle), "`{err}` should mention {needle}");
        // An unchecked schedule still never panics.
        let _ = Schedule { base_lr, kind }.lr_at(7);
    }
}

#[test]
fn schedules_round_trip_through_serde() {
    let schedule = Schedule::new(
        0.1,
        ScheduleKind::Sequential {
            parts: vec![
                ScheduleKind::Linear {
                    start_factor: 0.1,
                    end_factor: 1.0,
                    total_iters: 4,
                },
                ScheduleKind::Cosine {
                    t_max: 26,
                    eta_min: 0.0,
                },
            ],
            milestones: vec![4],
        },
    )
    .unwrap();
    let json = serde_json::to_string(&schedule).unwrap();
    assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), schedule);
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&schedule, config).unwrap();
    let (back, _): (Schedule, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, schedule);
}
