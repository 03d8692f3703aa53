//! Dot products and vector checks used on the query path.
//!
//! Written as eight independent accumulators over `chunks_exact(8)` so the compiler
//! vectorises it without `unsafe` or nightly features. `multiversion` compiles it a second
//! time for AVX2+FMA and picks the version at run time: the default x86-64 target only has
//! 4-wide SSE2, and most of a graph search is dot products.

use multiversion::multiversion;

/// Dot product of two equal-length slices.
#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Squared L2 norm.
#[inline]
pub fn norm_sq(a: &[f32]) -> f32 {
    dot(a, a)
}

/// Why a vector can't be indexed, or `None` if it can. Every vector is checked before it
/// reaches hnsw_rs, whose `DistDot` asserts on unnormalised input.
pub fn check_vector(v: &[f32], dim: usize) -> Option<&'static str> {
    if v.len() != dim {
        return Some("wrong dimension");
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Some("contains NaN or infinity");
    }
    if norm_sq(v) <= f32::EPSILON {
        return Some("zero norm");
    }
    None
}

/// Scale `v` to unit length, then shrink it by one part in 10^6 so rounding can never push
/// a dot product of two stored vectors above 1 (hnsw_rs's `DistDot` asserts on that).
pub fn normalize(v: &mut [f32]) {
    let n = norm_sq(v).sqrt();
    if n > 0.0 {
        let s = (1.0 - 1e-6) / n;
        v.iter_mut().for_each(|x| *x *= s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        for len in [0usize, 1, 7, 8, 9, 31, 768] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-3, "len {len}");
        }
    }

    #[test]
    fn checks_reject_bad_vectors() {
        assert_eq!(check_vector(&[1.0, 0.0], 3), Some("wrong dimension"));
        assert_eq!(check_vector(&[f32::NAN, 0.0], 2), Some("contains NaN or infinity"));
        assert_eq!(check_vector(&[0.0, 0.0], 2), Some("zero norm"));
        assert_eq!(check_vector(&[0.6, 0.8], 2), None);
    }

    #[test]
    fn normalize_stays_below_one() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!(dot(&v, &v) < 1.0);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-5);
    }
}
