//! Vectors by internal slot, in one contiguous buffer: the source of truth the graph is
//! built from, and what exact scans read.
//!
//! Beside each row sits an 8-bit copy (one scale per row, symmetric): graph walks score
//! with it and re-rank their final candidates with the `f32` rows. A walk at 100k × 768 is
//! bound by memory traffic to randomly placed rows, and the 8-bit row is a quarter of it.

use crate::simd::{dot_i8, prefetch};
use crate::types::InternalId;

/// Fixed-dimension rows addressed by [`InternalId`].
#[derive(Debug)]
pub struct VectorStorage {
    dim: usize,
    data: Vec<f32>,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// Grow `v` to at least `need` elements (filled with `fill`) by an eighth at a time, not
/// Vec's doubling: at 100k × 768 a doubling step reserves ~150 MB that is never used.
fn grow<T: Copy>(v: &mut Vec<T>, need: usize, fill: T) {
    if v.len() < need {
        if v.capacity() < need {
            let want = need.max(v.capacity() + v.capacity() / 8);
            v.reserve_exact(want - v.len());
        }
        v.resize(need, fill);
    }
}

impl VectorStorage {
    /// Empty storage of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        VectorStorage { dim, data: Vec::new(), codes: Vec::new(), scales: Vec::new() }
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Write `v` (already checked to have `dim` entries) to `slot`, growing as needed.
    pub fn set(&mut self, slot: InternalId, v: &[f32]) {
        let start = slot.idx() * self.dim;
        let need = start + self.dim;
        grow(&mut self.data, need, 0.0);
        grow(&mut self.codes, need, 0);
        grow(&mut self.scales, slot.idx() + 1, 0.0);
        self.data[start..start + self.dim].copy_from_slice(v);
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        for (c, x) in self.codes[start..start + self.dim].iter_mut().zip(v) {
            *c = (x / scale).round().clamp(-127.0, 127.0) as i8;
        }
        self.scales[slot.idx()] = scale;
    }

    /// `q · row(slot)` from the 8-bit copy (relative error around 1%); for walking a graph,
    /// not for final scores.
    #[inline]
    pub fn approx_dot(&self, q: &[f32], slot: InternalId) -> f32 {
        let start = slot.idx() * self.dim;
        self.scales[slot.idx()] * dot_i8(q, &self.codes[start..start + self.dim])
    }

    /// Hint the CPU to start loading the 8-bit row of `slot`.
    #[inline]
    pub fn prefetch_codes(&self, slot: InternalId) {
        let start = slot.idx() * self.dim;
        if let Some(row) = self.codes.get(start..start + self.dim) {
            prefetch(row);
        }
    }

    /// The row at `slot`. Panics if the slot was never written (a bug, not an input error).
    #[inline]
    pub fn get(&self, slot: InternalId) -> &[f32] {
        let start = slot.idx() * self.dim;
        &self.data[start..start + self.dim]
    }

    /// Bytes held by the rows.
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() * std::mem::size_of::<f32>() + self.codes.capacity() + self.scales.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{dot, normalize};

    #[test]
    fn approx_dot_tracks_the_exact_dot() {
        let dim = 768;
        let mut store = VectorStorage::new(dim);
        let mut rows = Vec::new();
        for s in 0..50u32 {
            let mut v: Vec<f32> = (0..dim).map(|i| ((i as f32 + 1.0) * (s as f32 + 0.3)).sin()).collect();
            normalize(&mut v);
            store.set(InternalId(s), &v);
            rows.push(v);
        }
        let q = &rows[7];
        for (s, v) in rows.iter().enumerate() {
            let exact = dot(q, v);
            let approx = store.approx_dot(q, InternalId(s as u32));
            assert!((exact - approx).abs() < 0.01, "slot {s}: exact {exact} approx {approx}");
            assert_eq!(store.get(InternalId(s as u32)), v.as_slice());
        }
    }
}
