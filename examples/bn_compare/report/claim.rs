//! A claim of the usual account of BatchNorm, its verdict, and the effect it rests on.

use crate::report::cells::{effect, Unit};
use crate::stats::{Effect, Side};
use std::fmt;

/// What the numbers say of a claim, worded no stronger than the interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The interval lies wholly on the claimed side.
    BorneOut,
    /// The interval includes "no effect".
    NotShown,
    /// The interval lies wholly on the other side.
    Contradicted,
}

/// Where a claim expects its effect's interval, against "no effect".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Above (a gain, a ratio over 1).
    Above,
    /// Below.
    Below,
    /// On either side: the claim is that there is a difference.
    Either,
}

impl Verdict {
    /// The verdict of `effect` for a claim that expects its interval where `claimed` says.
    pub fn of(effect: &Effect, claimed: Expect) -> Verdict {
        match (effect.side(), claimed) {
            (Side::Includes, _) => Verdict::NotShown,
            (_, Expect::Either) | (Side::Above, Expect::Above) | (Side::Below, Expect::Below) => {
                Verdict::BorneOut
            }
            _ => Verdict::Contradicted,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::BorneOut => "borne out",
            Verdict::NotShown => "not shown",
            Verdict::Contradicted => "**contradicted**",
        })
    }
}

/// One claim as the report's summary and closing note list it.
pub struct Claim {
    /// The claim, in the words of the usual account.
    pub text: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// The measured effect it rests on, with its interval, in words.
    pub evidence: String,
}

/// How a claim is judged: the effect it rests on, named and measured in a unit, and where
/// the claim expects its interval.
pub struct Judge<'a> {
    /// The effect in words (`final test accuracy, with minus without BatchNorm`).
    pub what: &'a str,
    /// Its unit.
    pub unit: Unit,
    /// Where the claim expects it.
    pub claimed: Expect,
    /// Why there is no effect, when there is none (every run of a side failed, say).
    pub missing: &'a str,
}

impl<'a> Judge<'a> {
    /// An effect the claim expects above "no effect" (a gain, a ratio over 1).
    pub fn above(what: &'a str, unit: Unit, missing: &'a str) -> Judge<'a> {
        Judge {
            what,
            unit,
            claimed: Expect::Above,
            missing,
        }
    }
}

impl Claim {
    /// The claim `text` judged by `e` as `judge` says: not shown if there is no effect.
    pub fn judged(text: &str, e: Option<&Effect>, judge: Judge<'_>) -> Claim {
        let (verdict, evidence) = match e {
            Some(e) => (
                Verdict::of(e, judge.claimed),
                format!("{}: {}", judge.what, effect(e, judge.unit)),
            ),
            None => (Verdict::NotShown, judge.missing.to_string()),
        };
        Claim {
            text: text.to_string(),
            verdict,
            evidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::paired_difference;

    #[test]
    fn the_verdict_follows_the_interval() {
        let up = paired_difference(&[Some(2.0), Some(2.1), Some(1.9)], &[Some(1.0); 3]).unwrap();
        let flat = paired_difference(&[Some(2.0), Some(0.1), Some(-1.9)], &[Some(0.0); 3]).unwrap();
        assert_eq!(Verdict::of(&up, Expect::Above), Verdict::BorneOut);
        assert_eq!(Verdict::of(&up, Expect::Below), Verdict::Contradicted);
        assert_eq!(Verdict::of(&up, Expect::Either), Verdict::BorneOut);
        assert_eq!(Verdict::of(&flat, Expect::Above), Verdict::NotShown);
        assert_eq!(Verdict::of(&flat, Expect::Either), Verdict::NotShown);
    }
}
