//! Vectors by internal slot, in fixed-size chunks: the source of truth the graph is built
//! from, and what exact scans read.
//!
//! Beside each row sits an 8-bit copy (one scale per row, symmetric): graph walks score
//! with it and re-rank their final candidates with the `f32` rows. A walk at 100k × 768 is
//! bound by memory traffic to randomly placed rows, and the 8-bit row is a quarter of it.

use crate::simd::{dot_i8, prefetch};
use crate::types::InternalId;

/// Rows per chunk (3 MB of `f32` at 768 dims).
const CHUNK_ROWS: usize = 1024;

/// Fixed-dimension rows addressed by [`InternalId`], in fixed-size chunks: growing never
/// moves a row. (One contiguous buffer had to be reallocated and copied, 370 MB at
/// 100k × 768, under the collection's write lock, stalling every search for that long.)
#[derive(Debug)]
pub struct VectorStorage {
    dim: usize,
    chunks: Vec<Chunk>,
}

/// `CHUNK_ROWS` rows: `f32` values, 8-bit codes and one scale per row.
#[derive(Debug)]
struct Chunk {
    data: Box<[f32]>,
    codes: Box<[i8]>,
    scales: Box<[f32]>,
}

impl VectorStorage {
    /// Empty storage of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        VectorStorage { dim, chunks: Vec::new() }
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The chunk of `slot` and the row's start in it.
    #[inline]
    fn locate(&self, slot: InternalId) -> (usize, usize) {
        (slot.idx() / CHUNK_ROWS, (slot.idx() % CHUNK_ROWS) * self.dim)
    }

    /// Write `v` (already checked to have `dim` entries) to `slot`, growing as needed.
    pub fn set(&mut self, slot: InternalId, v: &[f32]) {
        let (c, start) = self.locate(slot);
        while self.chunks.len() <= c {
            let rows = CHUNK_ROWS * self.dim;
            self.chunks.push(Chunk {
                data: vec![0.0; rows].into_boxed_slice(),
                codes: vec![0; rows].into_boxed_slice(),
                scales: vec![0.0; CHUNK_ROWS].into_boxed_slice(),
            });
        }
        let dim = self.dim;
        let chunk = &mut self.chunks[c];
        chunk.data[start..start + dim].copy_from_slice(v);
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        for (code, x) in chunk.codes[start..start + dim].iter_mut().zip(v) {
            *code = (x / scale).round().clamp(-127.0, 127.0) as i8;
        }
        chunk.scales[slot.idx() % CHUNK_ROWS] = scale;
    }

    /// `q · row(slot)` from the 8-bit copy (relative error around 1%); for walking a graph,
    /// not for final scores.
    #[inline]
    pub fn approx_dot(&self, q: &[f32], slot: InternalId) -> f32 {
        let (c, start) = self.locate(slot);
        let chunk = &self.chunks[c];
        chunk.scales[slot.idx() % CHUNK_ROWS] * dot_i8(q, &chunk.codes[start..start + self.dim])
    }

    /// Hint the CPU to start loading the 8-bit row of `slot`.
    #[inline]
    pub fn prefetch_codes(&self, slot: InternalId) {
        let (c, start) = self.locate(slot);
        if let Some(row) = self.chunks.get(c).and_then(|ch| ch.codes.get(start..start + self.dim)) {
            prefetch(row);
        }
    }

    /// The row at `slot`. Panics if the slot was never written (a bug, not an input error).
    #[inline]
    pub fn get(&self, slot: InternalId) -> &[f32] {
        let (c, start) = self.locate(slot);
        &self.chunks[c].data[start..start + self.dim]
    }

    /// Bytes held by the rows.
    pub fn memory_bytes(&self) -> usize {
        self.chunks.len() * CHUNK_ROWS * (self.dim * 5 + 4)
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
        // Rows past the first chunk, written out of order, and rewritten in place.
        store.set(InternalId(3 * CHUNK_ROWS as u32 + 5), &rows[1]);
        store.set(InternalId(CHUNK_ROWS as u32), &rows[2]);
        store.set(InternalId(7), &rows[3]);
        assert_eq!(store.get(InternalId(3 * CHUNK_ROWS as u32 + 5)), rows[1].as_slice());
        assert_eq!(store.get(InternalId(CHUNK_ROWS as u32)), rows[2].as_slice());
        assert_eq!(store.get(InternalId(7)), rows[3].as_slice());
        let exact = dot(q, &rows[1]);
        assert!((store.approx_dot(q, InternalId(3 * CHUNK_ROWS as u32 + 5)) - exact).abs() < 0.01);
        assert_eq!(store.memory_bytes(), 4 * CHUNK_ROWS * (dim * 5 + 4));
    }
}
