//! A proportion with its 95 % interval: the share of runs that diverged.

/// The Wilson score interval of `k` successes in `n` trials (95 %, z = 1.959964):
/// `(estimate, lo, hi)`. Unlike the normal approximation it stays inside [0, 1] and is not
/// empty at 0 of n, which a divergence rate often is. `None` for `n = 0`.
pub fn wilson(k: usize, n: usize) -> Option<(f64, f64, f64)> {
    if n == 0 {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some((p, (centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand, 0 of 10: centre = (z²/20) / (1 + z²/10) = 0.192073 / 1.384146 = 0.138767 and
    /// half = z·sqrt(z²/400)/1.384146 = 0.138767: the interval is [0, 0.277533].
    #[test]
    fn none_of_ten_is_not_an_empty_interval() {
        let (p, lo, hi) = wilson(0, 10).unwrap();
        assert_eq!((p, lo), (0.0, 0.0));
        assert!((hi - 0.277533).abs() < 1e-5, "{hi}");
    }

    #[test]
    fn half_is_symmetric_and_n_zero_is_nothing() {
        let (p, lo, hi) = wilson(5, 10).unwrap();
        assert_eq!(p, 0.5);
        assert!((lo + hi - 1.0).abs() < 1e-12 && lo > 0.2 && hi < 0.8);
        assert_eq!(wilson(0, 0), None);
    }
}
