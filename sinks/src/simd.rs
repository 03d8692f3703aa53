//! Dot products and vector checks used on the query path.
//!
//! Written as 32 independent lanes over `chunks_exact(32)` so the compiler vectorises it
//! (four 8-wide accumulators) without `unsafe` or nightly features. `multiversion` compiles it a second
//! time for AVX2+FMA and picks the version at run time: the default x86-64 target only has
//! 4-wide SSE2, and most of a graph search is dot products.

use multiversion::multiversion;

/// Dot product of two equal-length slices.
#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    // 32 lanes = four independent 8-wide accumulators: with one, every add waits for the
    // previous one's result. Written as one flat loop, which LLVM turns into four `ymm`
    // multiply-adds per step; `fold` (kept out of the loop's sight) sums the lanes.
    let mut acc = [0.0f32; 32];
    let ca = a.chunks_exact(32);
    let cb = b.chunks_exact(32);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..32 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = fold(acc);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Sum of the 32 lanes, pairwise. `black_box` keeps LLVM from vectorising the loop that
/// fills `acc` around this pairing (which made it interleave 4-wide lanes with shuffles and
/// stack spills, several times slower).
#[inline(always)]
fn fold(acc: [f32; 32]) -> f32 {
    let acc = std::hint::black_box(acc);
    let mut v = [0.0f32; 8];
    for i in 0..8 {
        v[i] = (acc[i] + acc[i + 8]) + (acc[i + 16] + acc[i + 24]);
    }
    ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]))
}

/// Dot product of an `f32` vector with an `i8` one (unscaled).
#[multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn dot_i8(a: &[f32], b: &[i8]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 32];
    let ca = a.chunks_exact(32);
    let cb = b.chunks_exact(32);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..32 {
            acc[i] += x[i] * y[i] as f32;
        }
    }
    let mut s = fold(acc);
    for (x, y) in ra.iter().zip(rb) {
        s += x * *y as f32;
    }
    s
}

/// Ask the CPU to start loading `row` (its first cache lines) into cache; a no-op off x86-64.
///
/// The workspace denies `unsafe`; this is its one exception: `_mm_prefetch` is an
/// intrinsic without a safe wrapper in std, and a prefetch is a hint that cannot fault.
#[inline]
#[allow(unsafe_code)]
pub fn prefetch<T>(row: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = row.as_ptr() as *const i8;
        let bytes = std::mem::size_of_val(row);
        let mut off = 0;
        // Up to four lines: the hardware prefetcher follows the rest of a sequential row.
        while off < bytes && off < 256 {
            // SAFETY: SSE is part of the x86-64 baseline, and a prefetch never faults (the
            // address stays inside `row` anyway).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
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
    fn dot_i8_matches_naive() {
        for len in [0usize, 1, 7, 31, 32, 33, 100, 768] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<i8> = (0..len).map(|i| ((i * 37 % 255) as i32 - 127) as i8).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * *y as f32).sum();
            assert!((dot_i8(&a, &b) - naive).abs() < 1e-2 * (1.0 + naive.abs()), "len {len}");
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
