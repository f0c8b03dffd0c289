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

impl Verdict {
    /// The verdict of `effect` for a claim that expects its interval on side `claimed`.
    pub fn of(effect: &Effect, claimed: Side) -> Verdict {
        match effect.side() {
            Side::Includes => Verdict::NotShown,
            side if side == claimed => Verdict::BorneOut,
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

impl Claim {
    /// A claim judged by one effect: `what` names the effect (`BN minus no BN, final test
    /// accuracy`), `claimed` the side of the null value the claim expects it on.
    pub fn judged(text: &str, what: &str, e: &Effect, unit: Unit, claimed: Side) -> Claim {
        Claim {
            text: text.to_string(),
            verdict: Verdict::of(e, claimed),
            evidence: format!("{what}: {}", effect(e, unit)),
        }
    }

    /// A claim with no effect measured (every run of a side failed, say).
    pub fn unmeasured(text: &str, why: &str) -> Claim {
        Claim {
            text: text.to_string(),
            verdict: Verdict::NotShown,
            evidence: why.to_string(),
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
        assert_eq!(Verdict::of(&up, Side::Above), Verdict::BorneOut);
        assert_eq!(Verdict::of(&up, Side::Below), Verdict::Contradicted);
        assert_eq!(Verdict::of(&flat, Side::Above), Verdict::NotShown);
    }
}
