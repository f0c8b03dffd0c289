//! Where a curve first reaches a level, between the two points around it.

/// Where the values `ys` (in order) first reach `target`, rising to it (`rising`) or falling
/// to it: `(i, t)` with `i` the first point at or past the target and `t` in `[0, 1]` the
/// fraction of the way from point `i - 1` to point `i` at which a straight line between them
/// meets it (`(0, 1.0)` if the first point is already past). `None` if no point reaches it.
pub fn first_reach(ys: &[f64], target: f64, rising: bool) -> Option<(usize, f64)> {
    let past = |y: f64| if rising { y >= target } else { y <= target };
    let i = ys.iter().position(|&y| past(y))?;
    if i == 0 {
        return Some((0, 1.0));
    }
    let (y0, y1) = (ys[i - 1], ys[i]);
    Some((i, (target - y0) / (y1 - y0)))
}

/// The value a fraction `t` of the way from `a` to `b`.
pub fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + t * (b - a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crossing_is_found_between_its_two_points() {
        let (i, t) = first_reach(&[0.1, 0.5, 0.9], 0.7, true).unwrap();
        assert!(i == 2 && (t - 0.5).abs() < 1e-12, "{i} {t}");
        assert_eq!(first_reach(&[2.0, 1.0, 0.0], 0.25, false), Some((2, 0.75)));
        assert_eq!(first_reach(&[0.8, 0.9], 0.5, true), Some((0, 1.0)));
        assert_eq!(first_reach(&[0.1, 0.2], 0.5, true), None);
        assert_eq!(lerp(10.0, 20.0, 0.25), 12.5);
    }
}
