//! Numbers as the report writes them: a mean with its 95 % interval, an effect with its
//! interval and how it was computed.

use crate::stats::{Effect, Method, Summary};

/// A fraction as a percentage with two decimals (`0.9812` → `98.12 %`).
pub fn pct(fraction: f64) -> String {
    format!("{:.2} %", fraction * 100.0)
}

/// A summary of fractions as percentages: the mean and its 95 % interval
/// (`98.12 % [97.90, 98.30]`), the mean alone for one value. The interval is cut at 0 and
/// 100 %, where a mean of fractions cannot be (a t-interval over few values can pass them).
pub fn pct_summary(s: Summary) -> String {
    if s.has_interval() {
        let (lo, hi) = (s.lo.max(0.0), s.hi.min(1.0));
        format!("{} [{:.2}, {:.2}]", pct(s.mean), lo * 100.0, hi * 100.0)
    } else {
        pct(s.mean)
    }
}

/// A summary of plain numbers with `decimals` decimals and its interval.
pub fn num_summary(s: Summary, decimals: usize) -> String {
    if s.has_interval() {
        format!("{:.d$} [{:.d$}, {:.d$}]", s.mean, s.lo, s.hi, d = decimals)
    } else {
        format!("{:.d$}", s.mean, d = decimals)
    }
}

/// What an effect is measured in, for its wording.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// A difference of fractions, written in percentage points.
    Points,
    /// A ratio (`1.08x`).
    Ratio,
    /// A plain number with this many decimals and a unit name after it.
    Plain(usize, &'static str),
}

/// The estimate alone, signed where it is a difference (`+0.67 points`, `1.08x`).
pub fn estimate(e: &Effect, unit: Unit) -> String {
    value(e.estimate, unit, true)
}

fn value(v: f64, unit: Unit, with_name: bool) -> String {
    match unit {
        Unit::Points if with_name => format!("{:+.2} points", v * 100.0),
        Unit::Points => format!("{:+.2}", v * 100.0),
        Unit::Ratio => format!("{v:.2}x"),
        Unit::Plain(d, name) if with_name && !name.is_empty() => format!("{v:+.d$} {name}"),
        Unit::Plain(d, _) => format!("{v:+.d$}"),
    }
}

/// An effect with its interval and method: `+0.67 points [+0.21, +1.13] (paired t, n = 5)`;
/// an exact value alone.
pub fn effect(e: &Effect, unit: Unit) -> String {
    if e.method == Method::Exact {
        return format!("{} (exact)", estimate(e, unit));
    }
    if e.n < 2 {
        return format!("{} (one unit, no interval)", estimate(e, unit));
    }
    format!(
        "{} [{}, {}] ({}, n = {})",
        estimate(e, unit),
        value(e.lo, unit, false),
        value(e.hi, unit, false),
        e.method.name(),
        e.n
    )
}

/// A number of seeds in words: `1 seed`, `5 seeds`.
pub fn seeds(n: usize) -> String {
    if n == 1 {
        "1 seed".to_string()
    } else {
        format!("{n} seeds")
    }
}

/// `text` with its first letter in upper case.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A list in words: `a`, `a and b`, `a, b and c`; `none` if empty.
pub fn list(items: &[String]) -> String {
    match items {
        [] => "none".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The Markdown that embeds an SVG written next to the report.
pub fn image(file: &str, alt: &str) -> String {
    format!("![{alt}]({file})\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::paired_difference;

    #[test]
    fn cells_carry_the_interval() {
        let s = Summary::of([0.97, 0.98, 0.99]).unwrap();
        assert!(
            pct_summary(s).starts_with("98.00 % ["),
            "{}",
            pct_summary(s)
        );
        let one = Summary::of([0.5]).unwrap();
        assert_eq!(pct_summary(one), "50.00 %");
        let e = paired_difference(&[Some(0.02), Some(0.03)], &[Some(0.0), Some(0.0)]).unwrap();
        let text = effect(&e, Unit::Points);
        assert!(
            text.starts_with("+2.50 points [") && text.ends_with("(paired t, n = 2)"),
            "{text}"
        );
        assert_eq!(
            effect(&Effect::exact(1.5, 1.0), Unit::Ratio),
            "1.50x (exact)"
        );
    }
}
