//! A read-optimised HNSW graph: neighbour lists in one contiguous array, vectors read from
//! [`VectorStorage`](crate::vector_storage::VectorStorage), a reusable visited set.
//!
//! hnsw_rs builds the bulk graph (in parallel); [`FlatGraph::from_hnsw`] copies its links
//! out and the hnsw_rs structure (with its own copy of every vector) is dropped. Queries walk
//! this copy: profiling hnsw_rs showed most of its query time in locks, `Arc`s, hashing and
//! allocation rather than distance arithmetic, and its copy of the vectors doubled memory.
//! Points written after the build are linked in here with the same HNSW insert procedure
//! (greedy descent, beam search with `ef_construction`, diverse neighbour selection, reverse
//! links pruned the same way), planned in small parallel rounds on the indexer thread.
//!
//! # Notes
//! Node ids are storage slots. A slot that dies stays in the graph (and is skipped by the
//! search filter) until it is reused or the next rebuild. A node whose slot gets a new
//! vector is relinked by planning it again: its own links are replaced and it joins its new
//! neighbours' lists; links to it from its old neighbourhood stay until they are pruned.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::index::hnsw::Graph;
use crate::index::topk::TopK;
use crate::simd::dot;
use crate::types::InternalId;
use crate::vector_storage::VectorStorage;

const NONE: u32 = u32::MAX;
const NOT_IN_GRAPH: u8 = u8::MAX;

/// A scored node, ordered by score (higher is closer).
#[derive(Clone, Copy, PartialEq)]
struct Cand(f32, u32);
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
    }
}

thread_local! {
    /// Visited marks: `marks[slot] == epoch` means visited in the current search.
    static VISITED: RefCell<(u32, Vec<u32>)> = const { RefCell::new((0, Vec::new())) };
}

/// The flattened graph.
#[derive(Debug, Default)]
pub struct FlatGraph {
    m: usize,
    m0: usize,
    level_mult: f64,
    /// Level of each slot, `NOT_IN_GRAPH` if absent.
    levels: Vec<u8>,
    /// Layer-0 neighbours, `m0` per slot, padded with `NONE`.
    layer0: Vec<u32>,
    /// Neighbours on layers ≥ 1, for the few nodes that have them: `upper[slot][l - 1]`.
    upper: HashMap<u32, Vec<Vec<u32>>>,
    entry: Option<u32>,
    max_level: u8,
    len: usize,
}

impl FlatGraph {
    /// An empty graph with `m` links per node (`2m` on layer 0).
    pub fn new(m: usize) -> Self {
        FlatGraph { m, m0: 2 * m, level_mult: 1.0 / (m as f64).ln(), ..Default::default() }
    }

    /// Copy hnsw_rs's links out. Node ids in `graph` are storage slots.
    pub fn from_hnsw(graph: &Graph, m: usize) -> Self {
        let mut g = FlatGraph::new(m);
        if graph.get_nb_point() == 0 {
            return g;
        }
        let mut best_level = 0u8;
        for point in graph.get_point_indexation() {
            let slot = point.get_origin_id() as u32;
            let level = point.get_point_id().0;
            let neigh = point.get_neighborhood_id();
            g.ensure(slot);
            g.levels[slot as usize] = level;
            g.len += 1;
            for (l, list) in neigh.iter().enumerate().take(level as usize + 1) {
                let ids: Vec<u32> = list.iter().map(|n| n.d_id as u32).collect();
                g.set_links(slot, l, &ids);
            }
            if g.entry.is_none() || level > best_level {
                best_level = level;
                g.entry = Some(slot);
            }
        }
        g.max_level = best_level;
        g
    }

    fn ensure(&mut self, slot: u32) {
        let need = slot as usize + 1;
        if self.levels.len() < need {
            self.levels.resize(need, NOT_IN_GRAPH);
            self.layer0.resize(need * self.m0, NONE);
        }
    }

    /// Nodes in the graph.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `slot` is a node.
    pub fn contains(&self, slot: InternalId) -> bool {
        self.levels.get(slot.idx()).is_some_and(|l| *l != NOT_IN_GRAPH)
    }

    /// Bytes held by the links.
    pub fn memory_bytes(&self) -> usize {
        self.layer0.capacity() * 4
            + self.levels.capacity()
            + self.upper.values().map(|v| v.iter().map(|l| l.capacity() * 4 + 24).sum::<usize>()).sum::<usize>()
    }

    fn links(&self, slot: u32, level: usize) -> &[u32] {
        if level == 0 {
            let s = slot as usize * self.m0;
            let row = &self.layer0[s..s + self.m0];
            let n = row.iter().position(|x| *x == NONE).unwrap_or(self.m0);
            &row[..n]
        } else {
            self.upper.get(&slot).and_then(|ls| ls.get(level - 1)).map(|v| v.as_slice()).unwrap_or(&[])
        }
    }

    fn set_links(&mut self, slot: u32, level: usize, ids: &[u32]) {
        if level == 0 {
            let s = slot as usize * self.m0;
            let row = &mut self.layer0[s..s + self.m0];
            row.fill(NONE);
            for (d, id) in row.iter_mut().zip(ids.iter().take(self.m0)) {
                *d = *id;
            }
        } else {
            let ls = self.upper.entry(slot).or_default();
            if ls.len() < level {
                ls.resize(level, Vec::new());
            }
            ls[level - 1] = ids.iter().take(self.m).copied().collect();
        }
    }

    fn greedy(&self, q: &[f32], store: &VectorStorage, ep: u32, from: u8, down_to: u8) -> u32 {
        self.greedy_by(&|n| dot(q, store.get(InternalId(n))), ep, from, down_to)
    }

    /// Greedy descent from `from` down to `down_to`, scoring nodes with `score`.
    fn greedy_by(&self, score: &dyn Fn(u32) -> f32, mut ep: u32, from: u8, down_to: u8) -> u32 {
        let mut best = score(ep);
        for level in (down_to as usize..=from as usize).rev() {
            loop {
                let mut moved = false;
                for &n in self.links(ep, level) {
                    let s = score(n);
                    if s > best {
                        best = s;
                        ep = n;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        ep
    }

    /// Run `f(epoch, marks)` with this thread's visited set, cleared in O(1) by bumping the
    /// epoch (a full clear only when the epoch wraps).
    fn with_visited<R>(&self, f: impl FnOnce(u32, &mut [u32]) -> R) -> R {
        VISITED.with(|v| {
            let (epoch, marks) = &mut *v.borrow_mut();
            *epoch = epoch.wrapping_add(1);
            if *epoch == 0 {
                marks.fill(0);
                *epoch = 1;
            }
            if marks.len() < self.levels.len() {
                marks.resize(self.levels.len(), 0);
            }
            f(*epoch, marks)
        })
    }

    /// Beam search on `level` from `ep` with exact scores, for building (as faiss and
    /// hnswlib build): returns up to `ef` closest nodes (any node, accepted or not), best
    /// first. Queries walk the 8-bit rows instead; building with them was not measurably
    /// faster, and whether it lowers graph quality is within build-to-build variance.
    fn search_layer(&self, q: &[f32], store: &VectorStorage, ep: u32, ef: usize, level: usize) -> Vec<Cand> {
        self.with_visited(|e, marks| {
            let mut cands = BinaryHeap::new();
            let mut best: BinaryHeap<std::cmp::Reverse<Cand>> = BinaryHeap::new();
            let mut fresh: Vec<u32> = Vec::with_capacity(self.m0);
            let s = dot(q, store.get(InternalId(ep)));
            marks[ep as usize] = e;
            cands.push(Cand(s, ep));
            best.push(std::cmp::Reverse(Cand(s, ep)));
            while let Some(Cand(s, node)) = cands.pop() {
                let worst = best.peek().map(|r| r.0 .0).unwrap_or(f32::NEG_INFINITY);
                if best.len() >= ef && s < worst {
                    break;
                }
                fresh.clear();
                for &n in self.links(node, level) {
                    let m = &mut marks[n as usize];
                    if *m != e {
                        *m = e;
                        store.prefetch_codes(InternalId(n));
                        fresh.push(n);
                    }
                }
                for &n in &fresh {
                    let sn = dot(q, store.get(InternalId(n)));
                    let worst = best.peek().map(|r| r.0 .0).unwrap_or(f32::NEG_INFINITY);
                    if best.len() < ef || sn > worst {
                        cands.push(Cand(sn, n));
                        best.push(std::cmp::Reverse(Cand(sn, n)));
                        if best.len() > ef {
                            best.pop();
                        }
                    }
                }
            }
            let mut out: Vec<Cand> = best.into_iter().map(|r| r.0).collect();
            out.sort_by(|a, b| b.cmp(a));
            out
        })
    }

    /// Top-`k` nodes accepted by `accept`, best first. The beam keeps `ef` accepted
    /// candidates while the walk passes through rejected ones (dead or filtered).
    ///
    /// The walk scores nodes with the 8-bit rows ([`VectorStorage::approx_dot`]), loading
    /// each hop's unvisited neighbours ahead of scoring them; the `ef` accepted candidates
    /// are then re-scored with the `f32` rows, so returned scores are exact.
    pub fn search(
        &self,
        q: &[f32],
        store: &VectorStorage,
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<(InternalId, f32)> {
        let Some(entry) = self.entry else { return Vec::new() };
        let approx = |n: u32| store.approx_dot(q, InternalId(n));
        let ep = self.greedy_by(&approx, entry, self.max_level, 1);
        let ef = ef.max(k);
        self.with_visited(|e, marks| {
            let mut cands = BinaryHeap::new();
            // `found` holds accepted nodes only; the walk stops when the best unexplored
            // candidate is worse than the ef-th accepted node.
            let mut found: BinaryHeap<std::cmp::Reverse<Cand>> = BinaryHeap::new();
            let mut fresh: Vec<u32> = Vec::with_capacity(self.m0);
            let s = approx(ep);
            marks[ep as usize] = e;
            cands.push(Cand(s, ep));
            if accept(ep) {
                found.push(std::cmp::Reverse(Cand(s, ep)));
            }
            while let Some(Cand(s, node)) = cands.pop() {
                if found.len() >= ef && s < found.peek().map(|r| r.0 .0).unwrap_or(f32::NEG_INFINITY) {
                    break;
                }
                fresh.clear();
                for &n in self.links(node, 0) {
                    let m = &mut marks[n as usize];
                    if *m != e {
                        *m = e;
                        store.prefetch_codes(InternalId(n));
                        fresh.push(n);
                    }
                }
                for &n in &fresh {
                    let sn = approx(n);
                    let worst = found.peek().map(|r| r.0 .0).unwrap_or(f32::NEG_INFINITY);
                    if found.len() < ef || sn > worst {
                        cands.push(Cand(sn, n));
                        if accept(n) {
                            found.push(std::cmp::Reverse(Cand(sn, n)));
                            if found.len() > ef {
                                found.pop();
                            }
                        }
                    }
                }
            }
            let mut top = TopK::new(k);
            for std::cmp::Reverse(Cand(_, n)) in found {
                top.push(InternalId(n), dot(q, store.get(InternalId(n))));
            }
            top.into_sorted()
        })
    }

    /// The level of a new node, drawn from HNSW's exponential distribution by hashing the
    /// slot (splitmix64): deterministic, and no RNG state to share between threads.
    fn level_of(&self, slot: u32) -> u8 {
        let mut z = (slot as u64).wrapping_add(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^= z >> 31;
        let r = (z >> 11) as f64 / (1u64 << 53) as f64;
        ((-(r.max(1e-12)).ln() * self.level_mult) as usize).min(15) as u8
    }

    /// Plan the links of a new node: for each of its levels, the closest nodes found with
    /// `ef_construction`. Read-only, so it can run while searches go on.
    pub fn plan_insert(&self, slot: InternalId, store: &VectorStorage, ef_construction: usize) -> InsertPlan {
        let level = self.level_of(slot.0);
        let q = store.get(slot);
        let mut layers = Vec::new();
        if let Some(entry) = self.entry {
            let mut ep = entry;
            if self.max_level > level {
                ep = self.greedy(q, store, ep, self.max_level, level + 1);
            }
            for l in (0..=level.min(self.max_level) as usize).rev() {
                let found = self.search_layer(q, store, ep, ef_construction, l);
                ep = found.first().map(|c| c.1).unwrap_or(ep);
                let cap = if l == 0 { self.m0 } else { self.m };
                let cands: Vec<Cand> = found.into_iter().filter(|c| c.1 != slot.0).collect();
                layers.push((l, select_diverse(&cands, cap, store)));
            }
        }
        // The neighbours' new lists are worked out here, beside searches, not under the
        // write lock of the commit; the commit checks each list is still the one planned on.
        let mut reverse = Vec::new();
        for (l, ids) in &layers {
            for &n in ids {
                let base = self.links(n, *l);
                if let Some(new) = self.with_link(n, *l, slot.0, base, store) {
                    reverse.push(ReverseLink { level: *l, node: n, base: base.to_vec(), new });
                }
            }
        }
        InsertPlan { slot: slot.0, level, layers, reverse }
    }

    /// `base` (the links of `node` on `level`) with `slot` added, pruned to the closest
    /// diverse ones when over capacity; `None` if it already holds `slot`.
    fn with_link(&self, node: u32, level: usize, slot: u32, base: &[u32], store: &VectorStorage) -> Option<Vec<u32>> {
        if base.contains(&slot) {
            return None;
        }
        let cap = if level == 0 { self.m0 } else { self.m };
        let mut list = base.to_vec();
        list.push(slot);
        if list.len() > cap {
            let v = store.get(InternalId(node));
            let mut scored: Vec<Cand> = list.iter().map(|&x| Cand(dot(v, store.get(InternalId(x))), x)).collect();
            scored.sort_by(|a, b| b.cmp(a));
            list = select_diverse(&scored, cap, store);
        }
        Some(list)
    }

    /// [`FlatGraph::plan_insert`] for each of `slots`, split over `threads` threads. Points
    /// planned together do not see each other, so callers keep batches small next to the
    /// graph.
    pub fn plan_inserts(
        &self,
        slots: &[InternalId],
        store: &VectorStorage,
        ef_construction: usize,
        threads: usize,
    ) -> Vec<InsertPlan> {
        let plan = |c: &[InternalId]| -> Vec<InsertPlan> {
            c.iter().map(|&s| self.plan_insert(s, store, ef_construction)).collect()
        };
        if threads <= 1 || slots.len() < 2 * threads {
            return plan(slots);
        }
        let per = slots.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = slots.chunks(per).map(|c| scope.spawn(move || plan(c))).collect();
            // A planner's panic is re-raised here, for the caller's `catch_unwind`.
            handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    }

    /// Apply a plan: set the node's links and its neighbours' planned lists (worked out
    /// again for a list another plan of the batch changed since).
    pub fn commit_insert(&mut self, plan: InsertPlan, store: &VectorStorage) {
        let InsertPlan { slot, level, layers, reverse } = plan;
        self.ensure(slot);
        if self.levels[slot as usize] == NOT_IN_GRAPH {
            self.len += 1;
        }
        self.levels[slot as usize] = level;
        for (l, ids) in layers {
            self.set_links(slot, l, &ids);
        }
        for ReverseLink { level: l, node, base, new } in reverse {
            let current = self.links(node, l);
            if current == base.as_slice() {
                self.set_links(node, l, &new);
            } else if let Some(list) = self.with_link(node, l, slot, current, store) {
                // Another plan of the same batch changed this list since: redo it.
                self.set_links(node, l, &list);
            }
        }
        if self.entry.is_none() || level > self.max_level {
            self.entry = Some(slot);
            self.max_level = level;
        }
    }
}

/// HNSW's neighbour-selection heuristic, as faiss and hnswlib apply it: walk candidates
/// best first and keep one only if it is closer to the base than to every neighbour kept so
/// far, up to `cap`. Candidates that fail the test are dropped, not used to fill the list up:
/// plain closest-M selection leaves new nodes in tight clusters unreachable (the
/// neighbours' lists fill with each other), and filling up with the rejected ones
/// (the paper's `keepPrunedConnections`, which neither faiss nor hnswlib does) measured
/// slower to build, slower to search and lower in recall on the hashing corpus (see
/// `docs/BENCHMARKS.md`).
fn select_diverse(sorted: &[Cand], cap: usize, store: &VectorStorage) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(cap);
    for c in sorted {
        if kept.len() >= cap {
            break;
        }
        let v = store.get(InternalId(c.1));
        if kept.iter().all(|&k| dot(v, store.get(InternalId(k))) < c.0) {
            kept.push(c.1);
        }
    }
    kept
}

/// The links a new node will get, and its neighbours' lists with it added (see
/// [`FlatGraph::plan_insert`]).
#[derive(Debug)]
pub struct InsertPlan {
    slot: u32,
    level: u8,
    layers: Vec<(usize, Vec<u32>)>,
    reverse: Vec<ReverseLink>,
}

/// A neighbour's list on one level as planned on (`base`) and with the new node (`new`).
#[derive(Debug)]
struct ReverseLink {
    level: usize,
    node: u32,
    base: Vec<u32>,
    new: Vec<u32>,
}

impl InsertPlan {
    /// The node the plan links.
    pub fn slot(&self) -> InternalId {
        InternalId(self.slot)
    }
}
