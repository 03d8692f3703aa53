//! Fill scenarios that write: surge_fill_validate and playbook_record_replay.

use rand::Rng;

use crate::dates::iso_date;
use crate::failure::FailureReason;
use crate::queries::{is_ingest_id, QuerySpec};
use crate::scenarios::steps::{self, only_conflicts, prefer_base, vanished_by_ingest, Ctx, RecordOutcome};
use crate::scenarios::Counters;
use crate::wire::{
    DateWindow, FillJob, Filters, RecordRequest, SearchHit, SearchRequest, ValidateFillRequest, Violation,
};

/// Results requested by the filtered scenarios.
pub const FILL_K: usize = 10;

/// Workers per surge fill.
pub const FILL_COUNT: u32 = 2;

/// Tries of a surge fill that meets booking conflicts. A search, then booking its picks, is
/// not atomic: another coordinator may book one of them in between, and the validator rightly
/// refuses the second booking; a coordinator's tool tries the next candidates. At the goal's
/// load (1,500 scenarios/s, about 65k surge fills in 5 minutes) about 20 fills a run
/// conflicted once, and one run in sixty had a fill conflict twice.
pub const SURGE_ATTEMPTS: usize = 3;

fn filtered(q: &QuerySpec) -> SearchRequest {
    let mut req = SearchRequest::plain(q.text.clone(), FILL_K);
    req.filters =
        Filters { city: Some(q.city.clone()), state: Some(q.state.clone()), role: Some(q.role.clone()), shift: None };
    req
}

/// A window starting within the next 365 days, 1–3 days long (inclusive ends).
fn random_window<R: Rng + ?Sized>(rng: &mut R, today: i64) -> DateWindow {
    let start = today + rng.random_range(0..365i64);
    let len = rng.random_range(1..=3i64);
    DateWindow { start: iso_date(start), end: iso_date(start + len - 1) }
}

/// Filtered search with availability → validate a 2-worker fill → record it.
///
/// A booking conflict (`overlapping_placement`, from the validator or the record
/// endpoint) means a concurrent scenario booked a worker first: retry from the search with
/// the conflicting ids excluded, up to [`SURGE_ATTEMPTS`] tries in all; a conflict on the
/// last fails the scenario. So does an `unknown_worker` for a worker the run's own
/// ingester created and then deleted (see [`vanished_by_ingest`]): it is retried the same
/// way, and counted.
pub async fn surge_fill_validate(ctx: &mut Ctx<'_>) -> Result<(), FailureReason> {
    let q = ctx.env.mix.draw(&mut ctx.rng);
    let window = random_window(&mut ctx.rng, ctx.env.today);
    let mut req = filtered(&q);
    req.available = Some(window.clone());
    for attempt in 1..=SURGE_ATTEMPTS {
        let last_try = attempt == SURGE_ATTEMPTS;
        let found = steps::search(ctx, &req).await?;
        let picks: Vec<String> =
            prefer_base(&found.results).into_iter().take(FILL_COUNT as usize).map(|h| h.id.to_string()).collect();
        if picks.len() < FILL_COUNT as usize {
            match market_booked(ctx, &req, &found.results, &q, &window).await? {
                MarketCheck::Booked => {
                    Counters::bump(&ctx.env.counters.market_booked);
                    return Ok(());
                }
                MarketCheck::ChangedByIngest(_) if !last_try => {
                    Counters::bump(&ctx.env.counters.market_changed_by_ingest);
                    continue;
                }
                MarketCheck::ChangedByIngest(detail) => {
                    return Err(ctx.fail_with(FailureReason::NoResults, format!("again after a retry: {detail}")))
                }
                MarketCheck::Wrong(detail) => return Err(ctx.fail_with(FailureReason::NoResults, detail)),
            }
        }
        let verdict = steps::validate_fill(
            ctx,
            &ValidateFillRequest {
                job: FillJob {
                    role: q.role.clone(),
                    city: q.city.clone(),
                    state: q.state.clone(),
                    count: FILL_COUNT,
                    dates: Some(window.clone()),
                },
                worker_ids: picks.clone(),
            },
        )
        .await?;
        if !verdict.ok {
            if !last_try && only_conflicts(&verdict.violations) {
                ctx.fail(FailureReason::RecordConflict);
                Counters::bump(&ctx.env.counters.surge_retries);
                req.exclude_ids.extend(picks);
                continue;
            }
            if !last_try && vanished_by_ingest(&verdict.violations, &picks) {
                Counters::bump(&ctx.env.counters.fill_changed_by_ingest);
                req.exclude_ids.extend(picks);
                continue;
            }
            return Err(ctx.fail(FailureReason::ValidatorRejected));
        }
        let record = RecordRequest {
            query: q.text.clone(),
            role: q.role.clone(),
            city: q.city.clone(),
            state: q.state.clone(),
            worker_ids: picks.clone(),
            dates: Some(window.clone()),
        };
        match steps::record_playbook(ctx, &record).await? {
            RecordOutcome::Accepted(_) => return Ok(()),
            RecordOutcome::Rejected(violations) if !last_try && only_conflicts(&violations) => {
                Counters::bump(&ctx.env.counters.surge_retries);
                req.exclude_ids.extend(picks);
            }
            RecordOutcome::Rejected(violations) if !last_try && vanished_by_ingest(&violations, &picks) => {
                Counters::bump(&ctx.env.counters.fill_changed_by_ingest);
                req.exclude_ids.extend(picks);
            }
            // A second booking conflict fails as one, not as a rejection for another reason.
            RecordOutcome::Rejected(violations) if only_conflicts(&violations) => {
                return Err(ctx.fail(FailureReason::RecordConflict))
            }
            RecordOutcome::Rejected(_) => return Err(ctx.fail(FailureReason::RecordRejected)),
        }
    }
    Err(ctx.fail(FailureReason::RecordRejected))
}

/// Most workers a market may have for [`market_booked`] to check all of them (the server's
/// largest k).
const MARKET_CHECK_K: usize = 1_000;

/// Left-out workers the fill validator checks per request (its largest count).
const MARKET_CHECK_BATCH: usize = 100;

/// Ids a failure detail lists before it says how many more there are.
const DETAIL_IDS: usize = 5;

/// What [`market_booked`] found.
#[derive(Debug, PartialEq, Eq)]
enum MarketCheck {
    /// Every worker the search left out is booked for the window: the search was right.
    Booked,
    /// The only disagreement is the run's own ingester-created workers, free (created after
    /// the search, which may not have seen them) or gone (deleted since the market was
    /// listed): a race, not an answer to judge. Says what was seen.
    ChangedByIngest(String),
    /// The search left out a worker the validator finds free, or the market could not be
    /// checked: what was seen.
    Wrong(String),
}

/// Whether an available-filtered search that found fewer than [`FILL_COUNT`] workers was
/// right: the same search without the window and without exclusions (fewer than
/// [`MARKET_CHECK_K`] results, so the whole market is seen) must list at least
/// [`FILL_COUNT`] workers (every market in the mix has more), and the fill validator must
/// report each one the first search left out as booked for the window: it is asked about
/// them [`MARKET_CHECK_BATCH`] at a time, as one fill, and must answer one booking conflict
/// per worker (each names its worker) and nothing else. Popular markets do fill up over a
/// long run (an hour at 1,000 scenarios/s books the biggest ones for most of the year); a
/// base-corpus worker left out but free, or a market that vanished, is the server's error.
/// The ingester creates and deletes its own workers meanwhile (see
/// [`MarketCheck::ChangedByIngest`]).
async fn market_booked(
    ctx: &mut Ctx<'_>,
    req: &SearchRequest,
    found: &[SearchHit],
    q: &QuerySpec,
    window: &DateWindow,
) -> Result<MarketCheck, FailureReason> {
    let mut all = req.clone();
    all.available = None;
    all.exclude_ids.clear();
    all.k = MARKET_CHECK_K;
    let market = steps::search(ctx, &all).await?;
    let n = market.results.len();
    if n >= MARKET_CHECK_K || n < FILL_COUNT as usize {
        // Too big to check whole (fewer than two free is not plausible), or too small to
        // be a market of the mix.
        return Ok(MarketCheck::Wrong(format!("{} free of a market of {n}, which cannot be checked", found.len())));
    }
    let left_out = left_out(&market.results, found, &req.exclude_ids);
    let mut raced = Disagreement::default();
    for batch in left_out.chunks(MARKET_CHECK_BATCH) {
        let job = FillJob {
            role: q.role.clone(),
            city: q.city.clone(),
            state: q.state.clone(),
            count: batch.len() as u32,
            dates: Some(window.clone()),
        };
        let verdict = steps::validate_fill(ctx, &ValidateFillRequest { job, worker_ids: batch.to_vec() }).await?;
        let d = Disagreement::of(batch, &verdict.violations);
        if !d.is_race() {
            let found: Vec<&str> = found.iter().map(|h| h.id.as_str()).collect();
            return Ok(MarketCheck::Wrong(format!(
                "{} found free in a market of {n} (version {}) for days {}..{}: {}; found {}",
                found.len(),
                market.version,
                window.start,
                window.end,
                d.describe(),
                list(&found)
            )));
        }
        raced.merge(d);
    }
    Ok(if raced.is_empty() { MarketCheck::Booked } else { MarketCheck::ChangedByIngest(raced.describe()) })
}

/// The market's workers the available-filtered search left out: neither found nor
/// excluded by the request. A retry excludes both picks of a refused fill, and one of them
/// may well be free (its partner was the one refused), so an excluded worker is not the
/// server's answer to judge.
fn left_out(market: &[SearchHit], found: &[SearchHit], excluded: &[String]) -> Vec<String> {
    market
        .iter()
        .filter(|h| !found.iter().any(|f| f.id == h.id) && !excluded.iter().any(|x| *x == h.id))
        .map(|h| h.id.to_string())
        .collect()
}

/// The workers of a full-market batch the fill validator did not call booked.
#[derive(Debug, Default, PartialEq, Eq)]
struct Disagreement {
    /// Free: no violation names them.
    free: Vec<String>,
    /// Unknown or deleted.
    gone: Vec<String>,
    /// Any other violation, as `code (worker)`.
    other: Vec<String>,
}

impl Disagreement {
    /// Sorts `violations` of the fill of `batch` (every worker expected booked).
    fn of(batch: &[String], violations: &[Violation]) -> Self {
        let mut d = Disagreement::default();
        let mut booked = std::collections::HashSet::new();
        for v in violations {
            match (v.code.as_str(), v.worker_id.as_deref()) {
                (steps::OVERLAPPING_PLACEMENT, Some(id)) => {
                    booked.insert(id);
                }
                (steps::UNKNOWN_WORKER, Some(id)) => d.gone.push(id.to_owned()),
                (code, id) => d.other.push(format!("{code} ({})", id.unwrap_or("no worker named"))),
            }
        }
        d.free = batch.iter().filter(|id| !booked.contains(id.as_str()) && !d.gone.contains(id)).cloned().collect();
        d
    }

    fn is_empty(&self) -> bool {
        self.free.is_empty() && self.gone.is_empty() && self.other.is_empty()
    }

    /// Whether only the run's own ingester-created workers disagree (see
    /// [`MarketCheck::ChangedByIngest`]).
    fn is_race(&self) -> bool {
        self.other.is_empty() && self.free.iter().chain(&self.gone).all(|id| is_ingest_id(id))
    }

    fn merge(&mut self, other: Disagreement) {
        self.free.extend(other.free);
        self.gone.extend(other.gone);
        self.other.extend(other.other);
    }

    fn describe(&self) -> String {
        let ids = |v: &[String]| list(&v.iter().map(String::as_str).collect::<Vec<_>>());
        let mut parts = Vec::new();
        for (what, v) in [("free", &self.free), ("gone", &self.gone), ("other violations", &self.other)] {
            if !v.is_empty() {
                parts.push(format!("{what} {}", ids(v)));
            }
        }
        parts.join("; ")
    }
}

/// `[a, b, c]`, or the first [`DETAIL_IDS`] and how many more.
fn list(ids: &[&str]) -> String {
    let shown = ids.iter().take(DETAIL_IDS).copied().collect::<Vec<_>>().join(", ");
    match ids.len().saturating_sub(DETAIL_IDS) {
        0 => format!("[{shown}]"),
        more => format!("[{shown}, +{more} more]"),
    }
}

/// Results the replay scenario looks at first: a coordinator's page.
const REPLAY_PAGE: usize = 50;

/// Results it looks at when the page has no worker a record can visibly lift.
const REPLAY_DEPTH: usize = 200;

/// Largest score gap to the unboosted worker above that the replay picks: one record for
/// the identical request gives the server's full boost (0.25 by default).
pub const REPLAY_MAX_GAP: f64 = 0.2;

/// Ranks of the base-corpus workers in `cold` without a boost.
fn unboosted(cold: &[SearchHit]) -> Vec<usize> {
    (0..cold.len()).filter(|&r| !is_ingest_id(&cold[r].id) && cold[r].playbook_boost <= 0.0).collect()
}

/// The replay's pick in `cold`: the lowest-ranked unboosted worker with another unboosted
/// worker less than [`REPLAY_MAX_GAP`] above it, whose new boost must lift it over that one.
/// Ingester-created workers may vanish, so they are skipped. Under heavy recording most of
/// a popular request's list carries boosts, and the unboosted worker just above can be far
/// ahead.
fn replay_pick(cold: &[SearchHit]) -> Option<usize> {
    unboosted(cold).windows(2).rev().find(|w| cold[w[0]].score - cold[w[1]].score < REPLAY_MAX_GAP).map(|w| w[1])
}

/// The pick when [`replay_pick`] finds none: the lowest unboosted worker with another
/// unboosted one above it, else the lowest base-corpus worker below the first. `cold`
/// holds at least two hits.
fn replay_fallback(cold: &[SearchHit]) -> usize {
    debug_assert!(cold.len() >= 2, "the caller fails a replay with fewer than two hits");
    unboosted(cold)
        .get(1..)
        .and_then(|f| f.last().copied())
        .or_else(|| (1..cold.len()).rev().find(|&r| !is_ingest_id(&cold[r].id)))
        .unwrap_or(cold.len() - 1)
}

/// Filtered search → record the lowest-ranked worker r>0 → replay at the record's
/// version → that worker must rank above r (or first).
///
/// Both searches use the playbook: the first ranking already includes boosts that
/// other iterations recorded for similar queries, so the replay measures only this
/// record's effect (with the playbook off at first, earlier boosts of other workers
/// would surface in the replay and could push this worker down).
///
/// The first search asks for a page of [`REPLAY_PAGE`]; only when a full page has no pick
/// for [`replay_pick`] (no two unboosted workers less than [`REPLAY_MAX_GAP`] apart, as when
/// most are boosted already for a popular request late in a run) does it look
/// [`REPLAY_DEPTH`] deep, counted as `replay_deepened`. The replay asks for as many results
/// as the search the pick came from.
pub async fn playbook_record_replay(ctx: &mut Ctx<'_>) -> Result<(), FailureReason> {
    let q = ctx.env.mix.draw(&mut ctx.rng);
    let mut req = filtered(&q);
    req.use_playbook = true;
    req.k = req.k.max(REPLAY_PAGE);
    let mut cold = steps::search(ctx, &req).await?;
    let mut pick = replay_pick(&cold.results);
    if pick.is_none() && cold.results.len() >= req.k && REPLAY_DEPTH > req.k {
        Counters::bump(&ctx.env.counters.replay_deepened);
        req.k = REPLAY_DEPTH;
        cold = steps::search(ctx, &req).await?;
        pick = replay_pick(&cold.results);
    }
    if cold.results.len() < 2 {
        return Err(ctx.fail(FailureReason::NoResults));
    }
    let rank = pick.unwrap_or_else(|| replay_fallback(&cold.results));
    let id = cold.results[rank].id.to_string();
    let record = RecordRequest {
        query: q.text.clone(),
        role: q.role.clone(),
        city: q.city.clone(),
        state: q.state.clone(),
        worker_ids: vec![id.clone()],
        dates: None,
    };
    let version = match steps::record_playbook(ctx, &record).await? {
        RecordOutcome::Accepted(resp) => resp.version,
        RecordOutcome::Rejected(_) => return Err(ctx.fail(FailureReason::RecordRejected)),
    };
    req.min_version = Some(version);
    let warm = steps::search(ctx, &req).await?;
    let rewritten =
        warm.results.iter().find(|h| h.id == id).is_some_and(|h| h.similarity != cold.results[rank].similarity);
    if rewritten {
        // Ingest rewrote this worker between the searches, so its rank moved for another
        // reason too; the record must still have raised its boost.
        Counters::bump(&ctx.env.counters.replay_changed_by_ingest);
        let before = cold.results[rank].playbook_boost;
        let boosted = warm.results.iter().find(|h| h.id == id).is_some_and(|h| h.playbook_boost > before);
        return if boosted { Ok(()) } else { Err(ctx.fail(FailureReason::NotBoosted)) };
    }
    if rose(&cold.results, &warm.results, &id, rank) {
        Ok(())
    } else {
        Err(ctx.fail(FailureReason::NotBoosted))
    }
}

/// Whether worker `id` (at `rank` in `cold`) rose in `warm` as its record should make it.
///
/// It must have gained a boost (or kept one it had), and it must now rank above every worker that ranked above it
/// before, is unchanged since (same similarity and boost) and was within reach: less than
/// its score's rise ahead of it. Under load other users record fills for similar requests
/// at the same moment and ingest rewrites profiles, so workers that changed are no
/// yardstick; if none in reach is left, the grown boost is what can be checked.
pub fn rose(cold: &[SearchHit], warm: &[SearchHit], id: &str, rank: usize) -> bool {
    let Some(pos) = warm.iter().position(|h| h.id == id) else { return false };
    let Some(before) = cold.get(rank).filter(|h| h.id == id) else { return false };
    let now = &warm[pos];
    // An unboosted worker must gain a boost. One picked with a boost already (when no
    // unboosted worker was left to pick) may be at the server's cap, but must not lose it.
    let boosted = if before.playbook_boost <= 0.0 {
        now.playbook_boost > 0.0
    } else {
        now.playbook_boost >= before.playbook_boost
    };
    if !boosted {
        return false;
    }
    let lift = now.score - before.score;
    let unchanged = |h: &SearchHit| {
        warm.iter().position(|w| w.id == h.id && w.similarity == h.similarity && w.playbook_boost == h.playbook_boost)
    };
    cold[..rank].iter().filter(|h| h.score - before.score < lift - 1e-9).filter_map(unchanged).all(|at| at > pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(id: &str, similarity: f64, boost: f64) -> SearchHit {
        SearchHit { id: id.into(), similarity, playbook_boost: boost, score: similarity + boost, ..Default::default() }
    }

    fn v(code: &str, id: Option<&str>) -> Violation {
        Violation { code: code.into(), message: String::new(), worker_id: id.map(str::to_owned) }
    }

    #[test]
    fn a_full_market_check_tells_booked_from_races_and_wrong_answers() {
        use crate::scenarios::steps::{OVERLAPPING_PLACEMENT as BOOKED, UNKNOWN_WORKER as GONE};
        let batch: Vec<String> = ["w-0000001", "w-0000002", "w-9000001"].map(String::from).to_vec();
        let booked = |ids: &[&str]| ids.iter().map(|id| v(BOOKED, Some(id))).collect::<Vec<_>>();
        // All booked: nothing to say.
        let d = Disagreement::of(&batch, &booked(&["w-0000001", "w-0000002", "w-9000001"]));
        assert!(d.is_empty() && d.is_race());
        // An ingester-created worker free or gone: a race.
        let d = Disagreement::of(&batch, &booked(&["w-0000001", "w-0000002"]));
        assert_eq!(d.free, ["w-9000001"]);
        assert!(d.is_race());
        let mut vs = booked(&["w-0000001", "w-0000002"]);
        vs.push(v(GONE, Some("w-9000001")));
        let d = Disagreement::of(&batch, &vs);
        assert_eq!((d.free.len(), d.gone.as_slice()), (0, ["w-9000001".to_owned()].as_slice()));
        assert!(d.is_race());
        // A base-corpus worker free or gone: the search was wrong (the run never deletes them).
        let d = Disagreement::of(&batch, &booked(&["w-0000001", "w-9000001"]));
        assert_eq!(d.free, ["w-0000002"]);
        assert!(!d.is_race());
        assert_eq!(d.describe(), "free [w-0000002]");
        let mut vs = booked(&["w-0000001", "w-9000001"]);
        vs.push(v(GONE, Some("w-0000002")));
        assert!(!Disagreement::of(&batch, &vs).is_race());
        // Any other violation is wrong, even beside conflicts for everyone; so is a conflict
        // that names no worker (nothing says who is booked).
        let mut vs = booked(&["w-0000001", "w-0000002", "w-9000001"]);
        vs.push(v("city_mismatch", Some("w-0000001")));
        let d = Disagreement::of(&batch, &vs);
        assert!(!d.is_race());
        assert_eq!(d.describe(), "other violations [city_mismatch (w-0000001)]");
        let d = Disagreement::of(&batch, &[v(BOOKED, None), v(BOOKED, None), v(BOOKED, None)]);
        assert!(!d.is_race());
        // Long lists are cut.
        let many: Vec<&str> = vec!["a"; 8];
        assert_eq!(list(&many), "[a, a, a, a, a, +3 more]");
    }

    #[test]
    fn workers_the_retry_excluded_are_not_left_out_by_the_server() {
        let market = vec![h("a", 0.9, 0.0), h("b", 0.8, 0.0), h("c", 0.7, 0.0), h("d", 0.6, 0.0)];
        // The retry excluded a refused fill's picks b and c; the search found a.
        let out = left_out(&market, &[h("a", 0.9, 0.0)], &["b".to_owned(), "c".to_owned()]);
        assert_eq!(out, ["d"]);
        assert_eq!(left_out(&market, &[], &[]), ["a", "b", "c", "d"]);
    }

    #[test]
    fn the_replay_picks_the_lowest_close_unboosted_pair_and_falls_back() {
        // Unboosted at 0, 2, 3 (2 and 3 are 0.05 apart; 0 and 2 are 0.3 apart): pick 3.
        let page = vec![h("a", 0.9, 0.0), h("b", 0.7, 0.2), h("c", 0.6, 0.0), h("d", 0.55, 0.0), h("e", 0.5, 0.1)];
        assert_eq!(replay_pick(&page), Some(3));
        // Ingester-created workers are never picked, nor count as the one above.
        let page = vec![h("w-0000001", 0.9, 0.0), h("w-9000001", 0.88, 0.0), h("w-0000002", 0.5, 0.0)];
        assert_eq!(replay_pick(&page), None, "the only close pair has an ingested worker");
        // No close pair: the lowest unboosted worker with one above it.
        assert_eq!(replay_fallback(&page), 2);
        // Everyone boosted: the lowest base worker below the first.
        let page = vec![h("a", 0.9, 0.3), h("b", 0.8, 0.3), h("w-9000002", 0.7, 0.1)];
        assert_eq!(replay_pick(&page), None);
        assert_eq!(replay_fallback(&page), 1);
    }

    #[test]
    fn rising_is_counted_against_unchanged_workers_in_reach() {
        let cold = vec![h("a", 0.9, 0.0), h("b", 0.8, 0.0), h("me", 0.75, 0.0)];
        // +0.1 passes b (0.05 ahead), not a (0.15 ahead): rose.
        assert!(rose(&cold, &[h("a", 0.9, 0.0), h("me", 0.75, 0.1), h("b", 0.8, 0.0)], "me", 2));
        // No boost: did not rise.
        assert!(!rose(&cold, &[h("a", 0.9, 0.0), h("b", 0.8, 0.0), h("me", 0.75, 0.0)], "me", 2));
        // Boosted but still below b, which it should pass: ranked wrongly.
        assert!(!rose(&cold, &[h("a", 0.9, 0.0), h("b", 0.8, 0.0), h("me", 0.75, 0.1)], "me", 2));
        // Gone from the list: did not rise.
        assert!(!rose(&cold, &[h("a", 0.9, 0.0), h("b", 0.8, 0.0)], "me", 2));
        // Another user's record lifted b out of reach meanwhile: the grown boost is checked.
        assert!(rose(&cold, &[h("b", 0.8, 0.25), h("a", 0.9, 0.0), h("me", 0.75, 0.1)], "me", 2));
        // Leading the list with a grown boost: rose.
        let cold2 = vec![h("a", 0.8, 0.0), h("me", 0.75, 0.0)];
        assert!(rose(&cold2, &[h("me", 0.75, 0.25), h("a", 0.8, 0.0)], "me", 1));
    }

    #[test]
    fn a_worker_rewritten_by_ingest_is_not_a_yardstick() {
        // b was the only worker above me; ingest rewrote it and it rose out of reach. My
        // boost rose, so the record worked.
        let cold = vec![h("b", 0.8, 0.0), h("me", 0.75, 0.0)];
        assert!(rose(&cold, &[h("b", 0.95, 0.0), h("me", 0.75, 0.15)], "me", 1));
        assert!(!rose(&cold, &[h("b", 0.95, 0.0), h("me", 0.75, 0.0)], "me", 1));
        // An unchanged b in reach still counts: not passing it is not rising.
        assert!(!rose(&cold, &[h("b", 0.8, 0.0), h("me", 0.75, 0.15)], "me", 1));
    }
}
