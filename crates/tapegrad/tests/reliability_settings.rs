//! Resuming compares the saved run's settings with the new run's setting by setting:
//! numbers by value, some keys allowed to grow or not compared at all, unset keys standing
//! for their defaults, and an error that names each differing setting with both values.

use tapegrad::checkpoint::{Checkpoint, CheckpointError, Progress};
use tapegrad::layers::{Mlp, ModuleExt, Sequential};
use tapegrad::prelude::*;
use tapegrad::settings::{compare_settings, SettingDifference, SettingsError, SettingsRules};

fn model(seed: u64) -> Sequential {
    Mlp::new(&[4, 8, 3]).seed(seed).build()
}

fn sgd() -> Sgd {
    Sgd::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    })
    .unwrap()
}

/// Saves a training checkpoint of `model(1)` made with `saved` settings to `path`.
fn save_with_settings(path: &std::path::Path, saved: &str) {
    let progress = Progress {
        epochs_done: 1,
        steps_done: 10,
        schedule: None,
        rng: None,
        settings: saved.into(),
    };
    Checkpoint::of_model(&model(1))
        .with_optimizer(&model(1), &sgd())
        .with_progress(progress)
        .save(path)
        .unwrap();
}

/// A training checkpoint saved with `saved` settings, resumed with `requested` under
/// `rules`; returns the result and whether the model was left untouched.
fn resume(
    saved: &str,
    requested: &str,
    rules: &SettingsRules,
) -> Result<Progress, CheckpointError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    save_with_settings(&path, saved);
    let mut other = model(2);
    let before = other.named_params()[0].1.value().data().to_vec();
    let result =
        Checkpoint::load(&path)
            .unwrap()
            .resume_with(&mut other, &mut sgd(), requested, rules);
    let after = other.named_params()[0].1.value().data().to_vec();
    if result.is_err() {
        assert_eq!(before, after, "a refused resume changed the model");
    } else {
        assert_eq!(after, model(1).named_params()[0].1.value().data().to_vec());
    }
    result
}

/// The flags the CLI sends and how it will declare them.
fn cli_rules() -> SettingsRules {
    SettingsRules::new()
        .may_grow(["epochs"])
        .ignore(["save", "export", "resume", "json", "threads", "data"])
        .default_value("lr", serde_json::json!(0.1))
}

#[test]
fn numbers_spelled_differently_are_the_same_setting() {
    let saved = r#"{"lr":0.1,"epochs":3,"hidden":[128,64],"bn":true}"#;
    let requested = r#"{"lr":1e-1,"epochs":3.0,"hidden":[128.0,6.4e1],"bn":true}"#;
    // Through the plain `resume`, which has no exceptions at all.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    save_with_settings(&path, saved);
    let progress = Checkpoint::load(&path)
        .unwrap()
        .resume(&mut model(2), &mut sgd(), requested)
        .unwrap();
    assert_eq!(progress.epochs_done, 1);
}

#[test]
fn more_epochs_resume_and_fewer_are_refused_by_name() {
    let saved = r#"{"epochs":1,"seed":0}"#;
    let progress = resume(saved, r#"{"epochs":2,"seed":0}"#, &cli_rules()).unwrap();
    assert_eq!(progress.steps_done, 10);

    let err = resume(r#"{"epochs":3,"seed":0}"#, saved, &cli_rules()).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("cannot resume: 1 setting differs from the saved run's: `epochs` was 3, now 1 (it may grow, not shrink)"),
        "{err}");
    // Without the rule, growing is a difference too.
    assert!(resume(saved, r#"{"epochs":2,"seed":0}"#, &SettingsRules::new()).is_err());
}

#[test]
fn an_explicit_value_equal_to_the_default_is_the_same_setting() {
    let saved = r#"{"lr":null,"seed":0}"#;
    resume(saved, r#"{"lr":0.1,"seed":0}"#, &cli_rules()).unwrap();
    resume(r#"{"seed":0}"#, r#"{"lr":1e-1,"seed":0}"#, &cli_rules()).unwrap();
    let err = resume(saved, r#"{"lr":0.2,"seed":0}"#, &cli_rules()).unwrap_err();
    assert!(err.to_string().ends_with("`lr` was 0.1, now 0.2"), "{err}");
}

#[test]
fn output_paths_and_threads_do_not_matter() {
    resume(
        r#"{"save":"a.ckpt","export":null,"threads":1,"json":false,"seed":0}"#,
        r#"{"save":"b.ckpt","resume":"a.ckpt","threads":2,"json":true,"seed":0}"#,
        &cli_rules(),
    )
    .unwrap();
}

#[test]
fn the_error_names_every_differing_setting_with_both_values() {
    let err = resume(
        r#"{"lr":0.1,"optimizer":"sgd","hidden":[128],"bn":false,"seed":1}"#,
        r#"{"lr":0.01,"optimizer":"adam","hidden":[128],"dropout":0.2,"seed":1}"#,
        &cli_rules(),
    )
    .unwrap_err();
    let CheckpointError::SettingsMismatch {
        source: SettingsError::Differ { differences },
        ..
    } = &err
    else {
        panic!("{err}");
    };
    let keys: Vec<&str> = differences.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["bn", "dropout", "lr", "optimizer"]);
    assert_eq!(
        differences[1],
        SettingDifference {
            key: "dropout".into(),
            saved: None,
            requested: Some("0.2".into()),
            shrank: false,
        }
    );
    assert!(err.to_string().ends_with(
        "cannot resume: 4 settings differ from the saved run's: `bn` was false, now not set; \
         `dropout` was not set, now 0.2; `lr` was 0.1, now 0.01; `optimizer` was \"sgd\", now \"adam\""
    ), "{err}");
}

#[test]
fn free_text_settings_are_compared_exactly() {
    assert!(compare_settings("run A", "run A", &SettingsRules::new()).is_ok());
    let err = compare_settings("run A", "run B", &SettingsRules::new()).unwrap_err();
    assert!(matches!(err, SettingsError::Text { .. }), "{err}");
    // One side JSON, the other not: a difference, not a panic.
    assert!(compare_settings("{}", "[1]", &SettingsRules::new()).is_err());
}

#[test]
fn big_integers_are_compared_exactly_and_nested_values_by_value() {
    let rules = SettingsRules::new();
    // 2^53 and 2^53 + 1 are one f64.
    assert!(compare_settings(
        r#"{"seed":9007199254740992}"#,
        r#"{"seed":9007199254740993}"#,
        &rules
    )
    .is_err());
    assert!(compare_settings(
        r#"{"schedule":{"kind":"step","gamma":0.5,"every":[1,2]}}"#,
        r#"{"schedule":{"every":[1.0,2e0],"gamma":5e-1,"kind":"step"}}"#,
        &rules
    )
    .is_ok());
}
