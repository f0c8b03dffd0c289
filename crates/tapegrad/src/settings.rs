//! Comparing a saved run's settings with a resumed run's, setting by setting.
//!
//! A CLI saves its arguments as a JSON object in [`crate::checkpoint::Progress::settings`];
//! resuming with different ones would silently mix two runs, so
//! [`crate::checkpoint::Checkpoint::resume_with`] refuses, but only for a real difference:
//! numbers are compared by value (`0.1` and `1e-1`, `3` and `3.0` are equal), keys the
//! caller declares may grow (`epochs`) or do not matter (output paths) are let through, a
//! key left unset can stand for its default, and the error names every differing setting
//! with both values.
//!
//! ```
//! use tapegrad::settings::{compare_settings, SettingsRules};
//!
//! let rules = SettingsRules::new()
//!     .may_grow(["epochs"])
//!     .ignore(["save", "threads"])
//!     .default_value("lr", serde_json::json!(0.1));
//! let saved = r#"{"epochs": 1, "lr": null, "save": "a.ckpt", "seed": 3}"#;
//! let more = r#"{"epochs": 2, "lr": 1e-1, "save": "b.ckpt", "seed": 3.0}"#;
//! assert!(compare_settings(saved, more, &rules).is_ok());
//!
//! let other = r#"{"epochs": 1, "lr": 0.2, "seed": 4}"#;
//! let err = compare_settings(saved, other, &rules).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "2 settings differ from the saved run's: `lr` was 0.1, now 0.2; `seed` was 3, now 4"
//! );
//! ```

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// Which settings may differ between a saved run and the run resuming it, and the values
/// that unset settings stand for.
#[derive(Clone, Debug, Default)]
pub struct SettingsRules {
    may_grow: BTreeSet<String>,
    ignored: BTreeSet<String>,
    defaults: Map<String, Value>,
}

impl SettingsRules {
    /// No exceptions: every setting must be equal (numbers by value).
    pub fn new() -> Self {
        Self::default()
    }

    /// Numeric settings that may be larger now than when saved (`epochs`: a run saved after
    /// one epoch of one may continue to two); smaller is still a difference.
    pub fn may_grow<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.may_grow.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Settings never compared: where output goes (`save`, `export`, `resume`, `json`), how
    /// many threads compute it, anything that does not change the numbers.
    pub fn ignore<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.ignored.extend(keys.into_iter().map(Into::into));
        self
    }

    /// The value a setting has when it is absent or `null` on either side, so that an
    /// explicit `--lr 0.1` equals a run that left the learning rate at its default 0.1.
    pub fn default_value(mut self, key: impl Into<String>, value: Value) -> Self {
        self.defaults.insert(key.into(), value);
        self
    }
}

/// A resumed run's settings are not the saved run's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// Both are JSON objects and these settings differ, in key order.
    #[error("{}", Differences(.differences))]
    Differ {
        /// Every differing setting.
        differences: Vec<SettingDifference>,
    },
    /// At least one side is not a JSON object, and the two texts differ.
    #[error("the saved run's settings `{saved}` are not this run's `{requested}`")]
    Text {
        /// The saved run's settings text.
        saved: String,
        /// This run's settings text.
        requested: String,
    },
}

/// One setting that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingDifference {
    /// The setting's key.
    pub key: String,
    /// Its value in the saved run as JSON text, `None` when it was not set.
    pub saved: Option<String>,
    /// Its value in this run as JSON text, `None` when it is not set.
    pub requested: Option<String>,
    /// Whether the key may only grow and shrank.
    pub shrank: bool,
}

impl fmt::Display for SettingDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "not set".into());
        write!(
            f,
            "`{}` was {}, now {}",
            self.key,
            show(&self.saved),
            show(&self.requested)
        )?;
        if self.shrank {
            write!(f, " (it may grow, not shrink)")?;
        }
        Ok(())
    }
}

struct Differences<'a>(&'a [SettingDifference]);

impl fmt::Display for Differences<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => write!(f, "1 setting differs from the saved run's: ")?,
            n => write!(f, "{n} settings differ from the saved run's: ")?,
        }
        for (i, difference) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{difference}")?;
        }
        Ok(())
    }
}

/// Compares a saved run's settings with this run's under `rules`.
///
/// When both are JSON objects they are compared key by key (see [`SettingsRules`]); values
/// are equal when they are the same JSON with numbers compared by value, at any depth.
/// Otherwise (free text) the two strings must be identical.
pub fn compare_settings(
    saved: &str,
    requested: &str,
    rules: &SettingsRules,
) -> Result<(), SettingsError> {
    let object = |text: &str| match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let (Some(old), Some(new)) = (object(saved), object(requested)) else {
        return if saved == requested {
            Ok(())
        } else {
            Err(SettingsError::Text {
                saved: saved.to_string(),
                requested: requested.to_string(),
            })
        };
    };
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut differences = Vec::new();
    for key in keys {
        if rules.ignored.contains(key) {
            continue;
        }
        let value = |map: &Map<String, Value>| match map.get(key) {
            None | Some(Value::Null) => rules.defaults.get(key).cloned(),
            Some(v) => Some(v.clone()),
        };
        let (before, after) = (value(&old), value(&new));
        if same(before.as_ref(), after.as_ref()) {
            continue;
        }
        let grows = rules.may_grow.contains(key);
        if grows {
            if let (Some(b), Some(a)) = (number(before.as_ref()), number(after.as_ref())) {
                if a >= b {
                    continue;
                }
            }
        }
        differences.push(SettingDifference {
            key: key.clone(),
            saved: before.map(|v| v.to_string()),
            requested: after.map(|v| v.to_string()),
            shrank: grows,
        });
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(SettingsError::Differ { differences })
    }
}

fn number(value: Option<&Value>) -> Option<f64> {
    value.and_then(Value::as_f64)
}

/// JSON equality with numbers compared by value: integers exactly (beyond 2^53 an `f64`
/// would merge neighbours), anything else as `f64`.
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_value(a, b),
        _ => false,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}
