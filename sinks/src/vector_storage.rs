//! Vectors by internal slot, in one contiguous buffer: the source of truth the graph is
//! built from, and what exact scans read.

use crate::types::InternalId;

/// Fixed-dimension rows addressed by [`InternalId`].
#[derive(Debug)]
pub struct VectorStorage {
    dim: usize,
    data: Vec<f32>,
}

impl VectorStorage {
    /// Empty storage of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        VectorStorage { dim, data: Vec::new() }
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Write `v` (already checked to have `dim` entries) to `slot`, growing as needed.
    pub fn set(&mut self, slot: InternalId, v: &[f32]) {
        let start = slot.idx() * self.dim;
        let need = start + self.dim;
        if self.data.len() < need {
            if self.data.capacity() < need {
                // Grow by an eighth, not Vec's doubling: at 100k × 768 a doubling step
                // reserves ~150 MB that is never used.
                let want = need.max(self.data.capacity() + self.data.capacity() / 8);
                self.data.reserve_exact(want - self.data.len());
            }
            self.data.resize(need, 0.0);
        }
        self.data[start..start + self.dim].copy_from_slice(v);
    }

    /// The row at `slot`. Panics if the slot was never written (a bug, not an input error).
    #[inline]
    pub fn get(&self, slot: InternalId) -> &[f32] {
        let start = slot.idx() * self.dim;
        &self.data[start..start + self.dim]
    }

    /// Bytes held by the rows.
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() * std::mem::size_of::<f32>()
    }
}
