//! Id spaces and scored results.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The id a caller knows a point by (e.g. a worker id `w-0000001`). Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExternalId(pub Arc<str>);

impl ExternalId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ExternalId {
    fn from(s: &str) -> Self {
        ExternalId(Arc::from(s))
    }
}

impl From<String> for ExternalId {
    fn from(s: String) -> Self {
        ExternalId(Arc::from(s))
    }
}

impl std::borrow::Borrow<str> for ExternalId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A dense slot number inside one collection's storage. Never leaves the crate's API
/// except for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InternalId(pub u32);

impl InternalId {
    /// The slot as an index.
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

/// One search hit: the point and its similarity (dot product of unit vectors, i.e. cosine).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredPoint {
    /// The point's external id.
    pub id: ExternalId,
    /// Cosine similarity in [-1, 1]; higher is closer.
    pub score: f32,
}
