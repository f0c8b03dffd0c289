//! Percentiles, as numpy computes them by default.

/// The `p`-th percentile (0 to 100) of `values`, interpolating linearly between the two
/// nearest ranks (numpy's default); `values` need not be sorted. NaN if empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_numpy() {
        let v = [4.0, 1.0, 3.0, 2.0];
        // numpy.percentile([1, 2, 3, 4], [0, 15, 50, 85, 100]) = [1, 1.45, 2.5, 3.55, 4]
        for (p, want) in [
            (0.0, 1.0),
            (15.0, 1.45),
            (50.0, 2.5),
            (85.0, 3.55),
            (100.0, 4.0),
        ] {
            assert!((percentile(&v, p) - want).abs() < 1e-12, "p{p}");
        }
        assert!(percentile(&[], 50.0).is_nan());
    }
}
