//! A named vector collection: the points, the index over them, and the background indexer.
//!
//! # Notes
//! A commit never waits for a search: it replaces the [overlay](crate::overlay) with a copy
//! that holds its batch, and the batch is searchable from then on. The indexed
//! points sit behind one `RwLock<State>`, held for reading for the duration of a search and
//! for writing only by the indexer thread: to merge the overlay (every
//! [`CollectionConfig::merge_interval`]) and for bookkeeping. Graph inserts and rebuilds —
//! the slow part — run on the indexer thread without the write lock. A merged update
//! overwrites the point's slot in place and a new id may take a dead slot at once: graphs
//! read vectors from storage, so such a node is searched exactly until the indexer relinks
//! it. A build logs the slots written while it runs and relinks them after its swap.
//!
//! Lock order: the state lock before the overlay's writer lock (searches load the overlay,
//! an `ArcSwap`, without one). A caller that holds a lock of its own across a [`Reader`]
//! (the engine's visibility gate) takes the reader first.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};

use crate::error::{Result, SinkError};
use crate::filter::SearchRequest;

use crate::index::flat::FlatGraph;
use crate::index::hnsw::{insert_all, new_graph};
use crate::index::{
    builder, AnyIndex, ExactIndex, HnswIndex, HnswParams, IndexKind, Points, Query, VectorIndex, VectorIndexRead,
};
use crate::overlay::{FreshPoint, Overlay};
use crate::payload::fold;
use crate::simd::{check_vector, dot, normalize};
use crate::types::{ExternalId, InternalId, ScoredPoint};

/// Collection settings.
#[derive(Clone, Debug)]
pub struct CollectionConfig {
    /// Vector dimension.
    pub dim: usize,
    /// Live points at which the collection switches from exact scan to HNSW.
    pub hnsw_threshold: usize,
    /// Rebuild the graph when dead slots exceed this fraction of live points.
    pub tombstone_rebuild_fraction: f64,
    /// Rebuild the graph when nodes relinked in place (their vector changed) since the
    /// build exceed this fraction of live points: a moved node keeps the links that pointed
    /// at its old place, and enough of those thin out the graph.
    pub relink_rebuild_fraction: f64,
    /// Graph parameters.
    pub hnsw: HnswParams,
    /// Largest k a search may ask for.
    pub max_k: usize,
    /// Points per graph insert batch on the indexer thread.
    pub insert_chunk: usize,
    /// A (re)build has hnsw_rs build the graph over at most this many live points; the rest
    /// are linked in by our own insert ([`FlatGraph::plan_insert`]), whose diverse-neighbour
    /// selection gives a better graph than hnsw_rs's at the same M and ef_construction
    /// (recall@10 0.948 against 0.905 at ef 128 on the 100k hashing set).
    pub hnsw_seed: usize,
    /// Threads that plan graph inserts in parallel on the indexer (linking stays serial).
    pub plan_threads: usize,
    /// How often the indexer merges committed writes from the overlay into the indexed
    /// points. Each merge takes the write lock, so it waits for the searches in flight and
    /// stalls the ones that arrive meanwhile; between merges every search scans the overlay
    /// exactly. Commits never wait for a merge. At 500 writes/s, 100 ms leaves about 50
    /// points between merges (more while a rebuild's insert chunk runs or a merge waits for
    /// the walks in flight). Runs at 20 to 1,000 ms, one per setting on earlier builds, did
    /// not settle which is best (`docs/BENCHMARKS.md`, session 13).
    pub merge_interval: Duration,
}

impl CollectionConfig {
    /// Defaults for dimension `dim`.
    pub fn new(dim: usize) -> Self {
        CollectionConfig {
            dim,
            hnsw_threshold: 5_000,
            tombstone_rebuild_fraction: 0.2,
            relink_rebuild_fraction: 1.0,
            hnsw: HnswParams::default(),
            max_k: 1_000,
            insert_chunk: 1_024,
            hnsw_seed: 10_000,
            plan_threads: std::thread::available_parallelism().map_or(2, |n| n.get()).min(8),
            merge_interval: Duration::from_millis(100),
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |reason: &str| Err(SinkError::InvalidConfig { reason: reason.to_owned() });
        if self.dim == 0 {
            return bad("dim must be positive");
        }
        if self.hnsw_threshold < 2 {
            return bad("hnsw_threshold must be at least 2");
        }
        if !(self.tombstone_rebuild_fraction > 0.0 && self.tombstone_rebuild_fraction <= 1.0) {
            return bad("tombstone_rebuild_fraction must be in (0, 1]");
        }
        if self.relink_rebuild_fraction.is_nan() || self.relink_rebuild_fraction <= 0.0 {
            return bad("relink_rebuild_fraction must be positive");
        }
        if self.hnsw.m < 2 || self.hnsw.m > 256 {
            return bad("hnsw m must be in 2..=256");
        }
        if self.max_k == 0
            || self.insert_chunk == 0
            || self.hnsw.ef_construction == 0
            || self.hnsw_seed == 0
            || self.plan_threads == 0
        {
            return bad("max_k, insert_chunk, ef_construction, hnsw_seed and plan_threads must be positive");
        }
        Ok(())
    }
}

/// An updated point whose new vector has at least this cosine similarity to its old one
/// keeps its graph links: they still lead to it (at most a 0.01 move in cosine distance).
/// Relinking costs a graph insert, and most updates change a worker's rate or name, not
/// the text its vector is embedded from.
pub const KEEP_LINKS_ABOVE: f32 = 0.99;

/// Keyword payload of a point: `(key, value)` pairs.
pub type Payload = Vec<(String, String)>;

/// One change to a collection: `vector: None` deletes.
#[derive(Clone, Debug)]
pub struct PointUpdate {
    /// The point.
    pub id: ExternalId,
    /// New vector and payload; `None` retracts the point.
    pub value: Option<(Vec<f32>, Payload)>,
}

impl PointUpdate {
    /// Insert or replace `id`.
    pub fn upsert(id: impl Into<ExternalId>, vector: Vec<f32>, payload: Vec<(String, String)>) -> Self {
        PointUpdate { id: id.into(), value: Some((vector, payload)) }
    }

    /// Delete `id` (a no-op if absent).
    pub fn delete(id: impl Into<ExternalId>) -> Self {
        PointUpdate { id: id.into(), value: None }
    }
}

/// A checked, normalised vector with its payload.
type PreparedPoint = (Vec<f32>, Payload);

/// A batch checked and normalised by [`VectorCollection::prepare`], waiting for
/// [`VectorCollection::commit`].
#[derive(Debug, Default)]
pub struct PreparedUpdates {
    /// Per point: its normalised vector and payload, or `None` to delete it.
    points: Vec<(ExternalId, Option<PreparedPoint>)>,
    rejected: Vec<(ExternalId, SinkError)>,
}

impl PreparedUpdates {
    /// Changes that will be applied.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether nothing will be applied.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The normalised vector each accepted upsert will store, with its id (deletes and
    /// refused points have none).
    pub fn vectors(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.points.iter().filter_map(|(id, p)| p.as_ref().map(|(v, _)| (id.as_str(), v.as_slice())))
    }
}

/// A point-in-time description of a collection.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CollectionStats {
    /// Collection name.
    pub name: String,
    /// Current strategy.
    pub kind: IndexKind,
    /// Live points.
    pub live: usize,
    /// Dead slots not yet reclaimed.
    pub tombstones: usize,
    /// Points in the graph (0 for exact).
    pub graph_len: usize,
    /// Live points searched exactly because the graph does not hold them yet.
    pub pending: usize,
    /// Committed writes (upserts and deletes) not yet merged into the index: searched
    /// exactly until the next merge.
    pub overlay: usize,
    /// Graph (re)builds completed.
    pub rebuilds: u64,
    /// Panics caught inside hnsw_rs.
    pub graph_panics: u64,
    /// Last version applied.
    pub applied_version: u64,
    /// Whether the index is what the size calls for and holds every live point.
    pub settled: bool,
    /// Bytes held by vectors.
    pub vector_bytes: usize,
}

struct State {
    points: Points,
    index: AnyIndex,
    /// While a graph is built: the slots written since its snapshot, which it may hold with
    /// an older vector (relinked after the swap).
    build_log: Option<Vec<InternalId>>,
}

/// A read lock on a collection's indexed points (see [`VectorCollection::reader`]): what
/// every read goes through. A search runs as [`Reader::walk`] then [`Walk::try_finish`] (or
/// [`Walk::finish`]), so a caller can take a lock of its own for the short second step only.
/// Drop it before any other call on the collection: a second read behind a waiting merge
/// would wait.
pub struct Reader<'a> {
    shared: &'a Shared,
    state: RwLockReadGuard<'a, State>,
}

/// Read access for scoring stored vectors at one moment (see [`Reader::scorer`]).
pub struct Scorer<'a> {
    state: &'a State,
    overlay: Arc<Overlay>,
}

impl Scorer<'_> {
    /// `q · v` for the newest (normalised) vector `v` of `id`; `None` if `id` is not live.
    pub fn dot_with(&self, id: &str, q: &[f32]) -> Option<f32> {
        if let Some(fresh) = self.overlay.dot_with(id, q) {
            return fresh;
        }
        let slot = self.state.points.tracker.internal(id)?;
        let v = self.state.points.storage.get(slot);
        (v.len() == q.len()).then(|| dot(q, v))
    }
}

/// The first half of a search, under its [`Reader`] (see [`Reader::walk`]).
pub struct Walk<'r, 'a, 'q> {
    reader: &'r Reader<'a>,
    req: &'q SearchRequest,
    /// The normalised query.
    vector: Vec<f32>,
    /// The filter's pairs as the overlay compares them.
    must: Vec<(String, String)>,
    exact: bool,
    /// The overlay the walk hid and scanned.
    before: Arc<Overlay>,
    /// Top k of the indexed points the overlay did not shadow.
    indexed: Vec<(InternalId, f32)>,
    /// Top k of the overlay's points.
    fresh: Vec<(ExternalId, f32)>,
}

impl<'a> Reader<'a> {
    /// The overlay as it is now (consistent with the indexed points while this lock is held:
    /// a merge changes both under the write lock).
    fn overlay(&self) -> Arc<Overlay> {
        self.shared.overlay.load_full()
    }

    /// A scorer over the collection as it is now.
    pub fn scorer(&self) -> Scorer<'_> {
        Scorer { state: &self.state, overlay: self.overlay() }
    }

    /// The long part of a search, which needs nothing but this read lock: top k of the
    /// indexed points (a graph walk), hiding the ids with an unmerged write, and top k of
    /// those writes (an exact scan of the overlay). The query vector is normalised here.
    pub fn walk<'r, 'q>(&'r self, req: &'q SearchRequest) -> Result<Walk<'r, 'a, 'q>> {
        let cfg = &self.shared.config;
        if req.k == 0 || req.k > cfg.max_k {
            return Err(SinkError::InvalidK { k: req.k, max: cfg.max_k });
        }
        self.walk_with(req, false)
    }

    fn walk_with<'r, 'q>(&'r self, req: &'q SearchRequest, exact: bool) -> Result<Walk<'r, 'a, 'q>> {
        let dim = self.shared.config.dim;
        if let Some(reason) = check_vector(&req.vector, dim) {
            if req.vector.len() != dim {
                return Err(SinkError::dimension("<query>", dim, req.vector.len()));
            }
            return Err(SinkError::invalid("<query>", reason));
        }
        let mut vector = req.vector.clone();
        normalize(&mut vector);
        let must = req.filter.must.iter().map(|(k, v)| (fold(k), fold(v))).collect();
        let walk = Walk {
            reader: self,
            req,
            vector,
            must,
            exact,
            before: Arc::default(),
            indexed: Vec::new(),
            fresh: Vec::new(),
        };
        Ok(walk.retry())
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: &str) -> bool {
        match self.overlay().get(id) {
            Some(p) => p.is_some(),
            None => self.state.points.tracker.internal(id).is_some(),
        }
    }

    /// The stored (normalised) vector of `id`.
    pub fn vector(&self, id: &str) -> Option<Vec<f32>> {
        if let Some(fresh) = self.overlay().get(id) {
            return fresh.map(|p| p.vector.clone());
        }
        let points = &self.state.points;
        points.tracker.internal(id).map(|s| points.storage.get(s).to_vec())
    }
}

impl<'r> Walk<'r, '_, '_> {
    /// Walk (again) against the overlay as it is now: after [`Walk::try_finish`] gave up.
    pub fn retry(mut self) -> Self {
        let overlay = self.reader.overlay();
        self.indexed = self.indexed_hits(&overlay);
        self.fresh = self.scan(&overlay);
        self.before = overlay;
        self
    }

    /// Top k of the indexed points that `overlay` does not shadow.
    fn indexed_hits(&self, overlay: &Overlay) -> Vec<(InternalId, f32)> {
        let (req, reader) = (self.req, self.reader);
        let points = &reader.state.points;
        let Some(must) = req.filter.resolve(&points.payloads) else {
            return Vec::new(); // a value no indexed point has: only the overlay can match
        };
        let hidden = overlay.hidden(|id| points.tracker.internal(id).map(|s| s.0));
        let q = Query {
            vector: &self.vector,
            k: req.k,
            ef: if self.exact { 0 } else { req.ef.unwrap_or(reader.shared.config.hnsw.ef_search) },
            must: &must,
            exclude: &req.exclude,
            predicate: req.predicate.as_ref(),
            hidden: (!hidden.is_clear()).then_some(hidden),
        };
        if self.exact {
            crate::index::exact::scan(points, &q, points.tracker.live_slots())
        } else {
            reader.state.index.search(points, &q)
        }
    }

    /// Top k of the overlay's live points that pass the request's filters, exactly.
    fn scan(&self, overlay: &Overlay) -> Vec<(ExternalId, f32)> {
        self.scan_since(overlay, 0, Vec::new())
    }

    /// [`Walk::scan`] of the entries written after sequence number `seq`, into `scored`.
    fn scan_since(&self, overlay: &Overlay, seq: u64, mut scored: Vec<(ExternalId, f32)>) -> Vec<(ExternalId, f32)> {
        let req = self.req;
        scored.extend(
            overlay
                .since(seq)
                .filter_map(|(id, e)| Some((id, e.point.as_ref()?)))
                .filter(|(id, p)| {
                    p.matches(&self.must)
                        && !req.exclude.contains(id.as_str())
                        && req.predicate.as_ref().is_none_or(|pred| pred(id.as_str()))
                })
                .map(|(id, p)| (id.clone(), dot(&self.vector, &p.vector))),
        );
        best_first(&mut scored, req.k);
        scored
    }

    /// The second half of a search: the walk's answer, as of the overlay now. Takes no lock
    /// (the overlay is loaded from an `ArcSwap`), so a caller can hold its own across it and
    /// read other state at the same moment; scans only what the overlay gained since the walk
    /// (normally a few points). Returns a scorer at that moment too. Gives the walk back,
    /// for [`Walk::retry`], when a write since it began replaced one of its indexed top k:
    /// the best point the walk left out may belong in the answer.
    #[allow(clippy::result_large_err)] // the walk itself, handed back to walk again: rare, and a move
    pub fn try_finish(mut self) -> std::result::Result<(Vec<ScoredPoint>, Scorer<'r>), Self> {
        let now = self.reader.overlay();
        let tracker = &self.reader.state.points.tracker;
        if !Arc::ptr_eq(&now, &self.before) {
            let stale = |slot: &InternalId| tracker.external(*slot).is_some_and(|id| now.contains(id.as_str()));
            if self.indexed.len() == self.req.k && self.indexed.iter().any(|(slot, _)| stale(slot)) {
                return Err(self);
            }
            self.indexed.retain(|(slot, _)| !stale(slot));
            // Normally only a few points were written since the walk: scan just those,
            // unless one of the walk's overlay hits was among them.
            let seen = self.before.last_seq();
            let rewritten = |id: &ExternalId| now.seq(id.as_str()) != self.before.seq(id.as_str());
            if self.fresh.iter().any(|(id, _)| rewritten(id)) {
                self.fresh = self.scan(&now);
            } else {
                let fresh = std::mem::take(&mut self.fresh);
                self.fresh = self.scan_since(&now, seen, fresh);
            }
        }
        let indexed = self.indexed.iter().filter_map(|&(slot, score)| Some((tracker.external(slot)?.clone(), score)));
        let mut top: Vec<(ExternalId, f32)> = indexed.chain(self.fresh.drain(..)).collect();
        best_first(&mut top, self.req.k);
        let hits = top.into_iter().map(|(id, score)| ScoredPoint { id, score }).collect();
        Ok((hits, Scorer { state: &self.reader.state, overlay: now }))
    }

    /// [`Walk::try_finish`], walking again as often as it gives up (under whatever lock the
    /// caller holds).
    pub fn finish(self) -> (Vec<ScoredPoint>, Scorer<'r>) {
        let mut walk = self;
        loop {
            match walk.try_finish() {
                Ok(done) => return done,
                Err(stale) => walk = stale.retry(),
            }
        }
    }
}

/// Sort `hits` best first (ties by id) and keep `k`.
fn best_first(hits: &mut Vec<(ExternalId, f32)>, k: usize) {
    let order = |a: &(ExternalId, f32), b: &(ExternalId, f32)| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0));
    if hits.len() > k && k > 0 {
        hits.select_nth_unstable_by(k - 1, order); // the best k first, in any order
    }
    hits.truncate(k);
    hits.sort_by(order);
}

struct Shared {
    name: String,
    config: CollectionConfig,
    state: RwLock<State>,
    /// Committed writes the indexer has not merged into `state` yet.
    /// Loaded without a lock by every search (twice); replaced whole by a commit or a merge.
    overlay: ArcSwap<Overlay>,
    /// Serialises the overlay's writers (commits and the end of a merge).
    overlay_writer: Mutex<()>,
    wake: Mutex<bool>,
    wake_cv: Condvar,
    shutdown: AtomicBool,
    rebuilds: AtomicU64,
    panics: AtomicU64,
    applied_version: AtomicU64,
    /// Forced rebuilds requested, and the last request a completed rebuild covered.
    rebuild_requested: AtomicU64,
    rebuild_done: AtomicU64,
}

/// A vector collection with one writer and many readers.
pub struct VectorCollection {
    shared: Arc<Shared>,
    indexer: Option<JoinHandle<()>>,
}

impl VectorCollection {
    /// An empty collection; starts its indexer thread.
    pub fn new(name: &str, config: CollectionConfig) -> Result<Self> {
        config.validate()?;
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            state: RwLock::new(State {
                points: Points::new(config.dim),
                index: AnyIndex::Exact(ExactIndex::default()),
                build_log: None,
            }),
            config,
            overlay: ArcSwap::default(),
            overlay_writer: Mutex::new(()),
            wake: Mutex::new(false),
            wake_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
            rebuilds: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            applied_version: AtomicU64::new(0),
            rebuild_requested: AtomicU64::new(0),
            rebuild_done: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let indexer = std::thread::Builder::new().name(format!("indexer-{name}")).spawn(move || indexer_loop(&s))?;
        Ok(VectorCollection { shared, indexer: Some(indexer) })
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The configuration.
    pub fn config(&self) -> &CollectionConfig {
        &self.shared.config
    }

    /// Apply a batch of changes stamped `version`. Every accepted change is searchable when
    /// this returns. Invalid vectors are refused individually and returned with the reason;
    /// the rest of the batch is applied. Same as [`VectorCollection::prepare`] then
    /// [`VectorCollection::commit`].
    pub fn apply(&self, updates: Vec<PointUpdate>, version: u64) -> Vec<(ExternalId, SinkError)> {
        self.commit(self.prepare(updates), version)
    }

    /// Check and normalise a batch without touching the collection (no lock is taken), so
    /// the expensive part of an update runs while searches go on.
    pub fn prepare(&self, updates: Vec<PointUpdate>) -> PreparedUpdates {
        let dim = self.shared.config.dim;
        let mut rejected = Vec::new();
        let mut points = Vec::with_capacity(updates.len());
        for u in updates {
            match u.value {
                Some((mut v, payload)) => match check_vector(&v, dim) {
                    Some("wrong dimension") => {
                        let e = SinkError::dimension(u.id.as_str(), dim, v.len());
                        rejected.push((u.id, e));
                    }
                    Some(reason) => {
                        let e = SinkError::invalid(u.id.as_str(), reason);
                        rejected.push((u.id, e));
                    }
                    None => {
                        normalize(&mut v);
                        points.push((u.id, Some((v, payload))));
                    }
                },
                None => points.push((u.id, None)),
            }
        }
        PreparedUpdates { points, rejected }
    }

    /// Apply a prepared batch stamped `version`: a search sees all of the batch or none of
    /// it, and every accepted change is searchable when this returns. Never waits for a
    /// search: the batch goes to the overlay (see the module notes). Returns the changes
    /// `prepare` refused.
    pub fn commit(&self, prepared: PreparedUpdates, version: u64) -> Vec<(ExternalId, SinkError)> {
        let PreparedUpdates { points, rejected } = prepared;
        if !points.is_empty() {
            let _writer = self.shared.overlay_writer.lock();
            let mut overlay = Overlay::clone(&self.shared.overlay.load());
            for (id, value) in points {
                overlay.put(id, value.map(|(v, payload)| FreshPoint::new(v, payload)));
            }
            self.shared.overlay.store(Arc::new(overlay));
        }
        self.shared.applied_version.fetch_max(version, Ordering::Release);
        self.shared.notify();
        rejected
    }

    /// Merge committed writes into the indexed points now, instead of at the indexer's next
    /// [`CollectionConfig::merge_interval`]. Waits for the searches in flight. Searches
    /// return the same answers before and after; this only changes where the writes live.
    pub fn merge(&self) {
        merge_overlay(&self.shared);
    }

    /// Ask the indexer to rebuild the index from the stored vectors (a fresh graph above the
    /// threshold, a fresh scan index with dead slots reclaimed below it), e.g. after heavy
    /// churn. Searches go on meanwhile. Returns a ticket for [`VectorCollection::rebuilt`].
    pub fn request_rebuild(&self) -> u64 {
        let ticket = self.shared.rebuild_requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.shared.notify();
        ticket
    }

    /// Whether the rebuild of `ticket` (from [`VectorCollection::request_rebuild`]) is done.
    pub fn rebuilt(&self, ticket: u64) -> bool {
        self.shared.rebuild_done.load(Ordering::Acquire) >= ticket
    }

    /// A read lock on the collection, for a search in two steps or several reads at one
    /// moment (see [`Reader`]).
    pub fn reader(&self) -> Reader<'_> {
        Reader { shared: &self.shared, state: self.shared.state.read() }
    }

    /// [`VectorCollection::reader`] if it is free at once; `None` while the indexer holds the
    /// collection (a merge, a rebuild's swap, a reclaim), for callers that must not wait.
    pub fn try_reader(&self) -> Option<Reader<'_>> {
        Some(Reader { shared: &self.shared, state: self.shared.state.try_read()? })
    }

    /// Top-k search. The query vector is normalised here.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<ScoredPoint>> {
        let reader = self.reader();
        let hits = reader.walk(req)?.finish().0;
        Ok(hits)
    }

    /// Exact top-k by scanning every live point, whatever the index: the oracle for tests and
    /// recall measurements.
    pub fn search_exact(&self, req: &SearchRequest) -> Result<Vec<ScoredPoint>> {
        let reader = self.reader();
        let hits = reader.walk_with(req, true)?.finish().0;
        Ok(hits)
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: &str) -> bool {
        self.reader().contains(id)
    }

    /// The stored (normalised) vector of `id`.
    pub fn vector(&self, id: &str) -> Option<Vec<f32>> {
        self.reader().vector(id)
    }

    /// Live external ids (unordered).
    pub fn ids(&self) -> HashSet<String> {
        let reader = self.reader();
        let overlay = reader.overlay();
        let tracker = &reader.state.points.tracker;
        let indexed = tracker.live_slots().into_iter().filter_map(|s| tracker.external(s));
        let mut ids: HashSet<String> =
            indexed.filter(|e| !overlay.contains(e.as_str())).map(|e| e.as_str().to_owned()).collect();
        ids.extend(overlay.iter().filter(|(_, e)| e.point.is_some()).map(|(id, _)| id.as_str().to_owned()));
        ids
    }

    /// Current statistics.
    pub fn stats(&self) -> CollectionStats {
        let reader = self.reader();
        let overlay = reader.overlay();
        let g = &reader.state;
        let mut live = g.points.tracker.live_count();
        for (id, e) in overlay.iter() {
            match (g.points.tracker.internal(id.as_str()).is_some(), e.point.is_some()) {
                (false, true) => live += 1,
                (true, false) => live -= 1,
                _ => {}
            }
        }
        let (graph_len, pending, panics) = match &g.index {
            AnyIndex::Exact(_) => (0, 0, 0),
            AnyIndex::Hnsw(h) => {
                let pending = h.pending().iter().filter(|s| g.points.tracker.is_live(**s)).count();
                (h.graph_len(), pending, h.panics())
            }
        };
        let kind = g.index.kind();
        let settled = builder::choose(live, self.shared.config.hnsw_threshold, kind) == kind
            && pending == 0
            && overlay.is_empty();
        CollectionStats {
            name: self.shared.name.clone(),
            kind,
            live,
            tombstones: g.points.tracker.tombstone_count(),
            graph_len,
            pending,
            overlay: overlay.len(),
            rebuilds: self.shared.rebuilds.load(Ordering::Relaxed),
            graph_panics: self.shared.panics.load(Ordering::Relaxed) + panics,
            applied_version: self.shared.applied_version.load(Ordering::Acquire),
            settled,
            vector_bytes: g.points.storage.memory_bytes(),
        }
    }

    /// Block until the index is settled (right kind, nothing pending) or `timeout` passes.
    /// Returns whether it settled.
    pub fn wait_settled(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stats().settled {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.shared.notify();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for VectorCollection {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.notify();
        if let Some(h) = self.indexer.take() {
            let _ = h.join();
        }
    }
}

impl Shared {
    fn notify(&self) {
        *self.wake.lock() = true;
        self.wake_cv.notify_one();
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

/// Pending points planned per read-lock round (per planning thread).
const PLAN_BATCH: usize = 16;

/// What the indexer should do next.
enum Job {
    Idle,
    ReclaimExact,
    Build,
    ToExact,
    InsertPending,
}

fn next_job(shared: &Shared) -> Job {
    let cfg = &shared.config;
    let g = shared.state.read();
    let live = g.points.tracker.live_count();
    let kind = g.index.kind();
    let target = builder::choose(live, cfg.hnsw_threshold, kind);
    let forced = shared.rebuild_requested.load(Ordering::Acquire) > shared.rebuild_done.load(Ordering::Acquire);
    match (&g.index, target) {
        (AnyIndex::Exact(_), IndexKind::Hnsw) => Job::Build,
        (AnyIndex::Exact(_), IndexKind::Exact) if forced => Job::ToExact,
        (AnyIndex::Exact(_), IndexKind::Exact) if g.points.tracker.tombstone_count() > 0 => Job::ReclaimExact,
        (AnyIndex::Exact(_), IndexKind::Exact) => Job::Idle,
        (AnyIndex::Hnsw(_), IndexKind::Exact) => Job::ToExact,
        (AnyIndex::Hnsw(h), IndexKind::Hnsw) => {
            let tomb = g.points.tracker.tombstone_count();
            if forced
                || h.is_broken()
                || (tomb >= 64 && tomb as f64 > cfg.tombstone_rebuild_fraction * live.max(1) as f64)
                || h.relinked() as f64 > cfg.relink_rebuild_fraction * live.max(64) as f64
            {
                return Job::Build;
            }
            if h.pending().is_empty() {
                Job::Idle
            } else {
                Job::InsertPending
            }
        }
    }
}

/// Merges the overlay into the indexed points, at most once per
/// [`CollectionConfig::merge_interval`].
struct Merges {
    last: Instant,
}

impl Merges {
    /// How long until the next merge is due; `None` while the overlay is empty.
    fn due_in(&self, shared: &Shared) -> Option<Duration> {
        if shared.overlay.load().is_empty() {
            return None;
        }
        Some(shared.config.merge_interval.saturating_sub(self.last.elapsed()))
    }

    /// Merge if one is due.
    fn run_if_due(&mut self, shared: &Shared) {
        if self.due_in(shared) == Some(Duration::ZERO) {
            merge_overlay(shared);
            self.last = Instant::now();
        }
    }
}

/// Move the overlay's writes into the indexed points under the write lock, and drop them
/// from the overlay in the same critical section (unless written again meanwhile), so a
/// reader sees each write exactly once. An existing point is overwritten in place; the
/// index relinks it unless its vector hardly moved (e.g. only the payload changed).
fn merge_overlay(shared: &Shared) {
    if shared.overlay.load().is_empty() {
        return;
    }
    let mut guard = shared.state.write();
    // Taken under the write lock: two merges never apply the same entries.
    let merged = shared.overlay.load_full();
    let State { points, index, build_log } = &mut *guard;
    // Deletes first, so new ids can take the slots they free.
    for (id, _) in merged.iter().filter(|(_, e)| e.point.is_none()) {
        points.tracker.delete(id);
    }
    let mut added: Vec<InternalId> = Vec::with_capacity(merged.len());
    for (id, p) in merged.iter().filter_map(|(id, e)| Some((id, e.point.as_ref()?))) {
        let (slot, replaced) = points.tracker.upsert(id.clone());
        let moved = !replaced || dot(points.storage.get(slot), &p.vector) < KEEP_LINKS_ABOVE;
        points.storage.set(slot, &p.vector);
        points.payloads.set(slot, &p.payload);
        if moved {
            added.push(slot);
        }
    }
    if let Some(log) = build_log {
        log.extend_from_slice(&added);
    }
    index.on_applied(points, &added);
    let _writer = shared.overlay_writer.lock();
    let live = shared.overlay.load_full();
    if Arc::ptr_eq(&live, &merged) {
        shared.overlay.store(Arc::new(merged.emptied())); // nothing written since
    } else {
        let mut rest = Overlay::clone(&live);
        rest.forget(&merged);
        shared.overlay.store(Arc::new(rest));
    }
}

fn indexer_loop(shared: &Shared) {
    let mut merges = Merges { last: Instant::now() };
    while !shared.stopping() {
        merges.run_if_due(shared);
        match next_job(shared) {
            Job::Idle => {
                let wait = merges.due_in(shared).unwrap_or(Duration::from_millis(200));
                let mut woken = shared.wake.lock();
                if !*woken && !wait.is_zero() {
                    shared.wake_cv.wait_for(&mut woken, wait);
                }
                *woken = false;
            }
            Job::ReclaimExact => {
                let mut g = shared.state.write();
                let State { points, .. } = &mut *g;
                points.tracker.reclaim(|_| false);
                let tracker = &points.tracker;
                points.payloads.rebuild_postings(|s| tracker.is_live(s));
            }
            Job::ToExact => {
                merge_overlay(shared); // a forced rebuild covers every write committed before it
                let requested = shared.rebuild_requested.load(Ordering::Acquire);
                let mut g = shared.state.write();
                let State { points, index, .. } = &mut *g;
                points.tracker.reclaim(|_| false);
                let tracker = &points.tracker;
                points.payloads.rebuild_postings(|s| tracker.is_live(s));
                *index = AnyIndex::Exact(ExactIndex::build(points));
                shared.rebuild_done.fetch_max(requested, Ordering::AcqRel);
                tracing::info!(collection = %shared.name, live = points.tracker.live_count(), "exact index (re)built");
            }
            Job::Build => {
                build_and_swap(shared, &mut merges);
                // Stop logging writes if the build gave up before its swap.
                shared.state.write().build_log = None;
            }
            Job::InsertPending => {
                // Plan under the read lock (searches go on), link under a short write lock.
                // Only this thread changes the graph, so the plan is still valid then.
                let planned = {
                    let g = shared.state.read();
                    match &g.index {
                        AnyIndex::Hnsw(h) => Some(h.plan_pending(&g.points, PLAN_BATCH, shared.config.plan_threads)),
                        AnyIndex::Exact(_) => None,
                    }
                };
                if let Some((plans, seen)) = planned {
                    let mut g = shared.state.write();
                    let State { points, index, .. } = &mut *g;
                    if let AnyIndex::Hnsw(h) = index {
                        h.commit_pending(points, plans, &seen);
                    }
                }
            }
        }
    }
}

/// Build a graph over a snapshot of (at most [`CollectionConfig::hnsw_seed`] of) the live
/// slots, then swap it in. Live points the graph does not hold (beyond the seed, or written
/// during the build) become pending in the new index and are linked in by `InsertPending`.
fn build_and_swap(shared: &Shared, merges: &mut Merges) {
    let cfg = &shared.config;
    let started = Instant::now();
    // A forced rebuild requested after this point needs another build: its writes may be
    // missing from this snapshot's graph.
    let requested = shared.rebuild_requested.load(Ordering::Acquire);
    merge_overlay(shared); // a forced rebuild covers every write committed before it
    let slots = {
        let mut g = shared.state.write();
        g.build_log = Some(Vec::new());
        g.points.tracker.live_slots()
    };
    let (seed, rest) = slots.split_at(slots.len().min(cfg.hnsw_seed.max(cfg.hnsw_threshold)));
    let graph = Arc::new(new_graph(&cfg.hnsw, seed.len() + seed.len() / 4));
    for chunk in seed.chunks(cfg.insert_chunk) {
        if shared.stopping() {
            return;
        }
        merges.run_if_due(shared);
        let batch: Vec<(Vec<f32>, InternalId)> = {
            let g = shared.state.read();
            // A slot written since the snapshot is in the build log and relinked after the
            // swap, whatever vector the graph got here.
            chunk.iter().map(|&s| (g.points.storage.get(s).to_vec(), s)).collect()
        };
        if !insert_all(&graph, &batch) {
            shared.panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(collection = %shared.name, "hnsw_rs panicked during a build; will retry");
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
    }
    let mut flat = FlatGraph::from_hnsw(&graph, cfg.hnsw.m);
    drop(graph); // hnsw_rs's own copy of every vector goes with it
                 // The rest of the snapshot is linked into the private graph in small rounds, each under
                 // a read lock that writers can get between.
    let round = PLAN_BATCH * cfg.plan_threads;
    for chunk in rest.chunks(round) {
        if shared.stopping() {
            return;
        }
        merges.run_if_due(shared);
        let g = shared.state.read();
        let live: Vec<InternalId> = chunk.iter().copied().filter(|&s| g.points.tracker.is_live(s)).collect();
        let linked = catch_unwind(AssertUnwindSafe(|| {
            let plans = flat.plan_inserts(&live, &g.points.storage, cfg.hnsw.ef_construction, cfg.plan_threads);
            for p in plans {
                flat.commit_insert(p, &g.points.storage);
            }
        }));
        if linked.is_err() {
            shared.panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(collection = %shared.name, "a graph insert panicked during a build; will retry");
            return;
        }
    }
    let mut g = shared.state.write();
    let State { points, index, build_log } = &mut *g;
    let live = points.tracker.live_count();
    if builder::choose(live, cfg.hnsw_threshold, IndexKind::Hnsw) == IndexKind::Exact {
        return; // shrank meanwhile; the next job switches to exact
    }
    let changed = build_log.take().unwrap_or_default();
    let new = HnswIndex::from_graph(flat, cfg.hnsw, points, &changed);
    points.tracker.reclaim(|s| new.contains(s));
    let tracker = &points.tracker;
    points.payloads.rebuild_postings(|s| tracker.is_live(s));
    *index = AnyIndex::Hnsw(Box::new(new));
    shared.rebuilds.fetch_add(1, Ordering::Relaxed);
    shared.rebuild_done.fetch_max(requested, Ordering::AcqRel);
    tracing::info!(collection = %shared.name, points = slots.len(), secs = started.elapsed().as_secs_f64(), "hnsw graph built");
}
