//! The fill validator: a proposed fill (job + worker ids) must be well formed, propose
//! exactly `count` distinct live workers, each matching the job's role, city and state,
//! and none already placed on overlapping dates.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Violation;
use crate::record::WorkerRecord;

/// Largest number of workers one fill job may ask for; bigger requests are split by the
/// coordinator, and the cap bounds the work one validation can do.
pub const MAX_FILL_COUNT: u32 = 100;

/// Inclusive range of days since 1970-01-01.
///
/// A range with `end < start` is empty: it overlaps nothing (and is an `invalid_job`
/// when it is a job's dates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DateRange {
    /// First day, inclusive.
    pub start: i32,
    /// Last day, inclusive.
    pub end: i32,
}

impl DateRange {
    /// The range `start..=end`.
    pub fn new(start: i32, end: i32) -> Self {
        Self { start, end }
    }

    /// True when `end < start`.
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// True when the two ranges share at least one day (touching ends count: a
    /// placement ending on day 10 overlaps a job starting on day 10).
    pub fn overlaps(&self, other: &DateRange) -> bool {
        self.start.max(other.start) <= self.end.min(other.end)
    }
}

/// A staffing request: `count` workers of `role` in `city`, `state`, optionally for a
/// date range.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FillJob {
    /// Role, compared case-insensitively with the worker's (e.g. `forklift operator`).
    pub role: String,
    /// City, compared case-insensitively.
    pub city: String,
    /// State code, compared case-insensitively.
    pub state: String,
    /// Workers wanted, 1..=[`MAX_FILL_COUNT`].
    pub count: u32,
    /// Days the job runs, if known; enables the overlapping-placement check.
    pub dates: Option<DateRange>,
}

/// Checks a proposed fill.
///
/// `workers`: each proposed id with its live record (None = unknown or deleted).
/// `placed`: existing placements of a worker (date ranges of fills already recorded for
/// it); called at most once per distinct known worker, and only when the job has valid
/// dates.
///
/// Returns every violation, in a stable order: job problems, then fill-level problems,
/// then per-worker problems in order of first appearance. Each worker problem is
/// reported once per distinct id even if the id is proposed several times.
pub fn validate_fill(
    job: &FillJob,
    workers: &[(String, Option<&WorkerRecord>)],
    placed: &dyn Fn(&str) -> Vec<DateRange>,
) -> Vec<Violation> {
    let mut out = Vec::new();

    let role = normalise(&job.role);
    let city = normalise(&job.city);
    let state = normalise(&job.state);
    for (field, value) in [("role", &role), ("city", &city), ("state", &state)] {
        if value.is_empty() {
            out.push(Violation::invalid_job(format_args!("{field} is empty")));
        }
    }
    let count_ok = (1..=MAX_FILL_COUNT).contains(&job.count);
    if job.count == 0 {
        out.push(Violation::invalid_job("count is 0"));
    } else if !count_ok {
        out.push(Violation::invalid_job(format_args!("count {} exceeds the maximum of {MAX_FILL_COUNT}", job.count)));
    }
    let dates = match job.dates {
        Some(d) if d.is_empty() => {
            out.push(Violation::invalid_job(format_args!(
                "dates end (day {}) before they start (day {})",
                d.end, d.start
            )));
            None
        }
        other => other,
    };

    if workers.is_empty() {
        out.push(Violation::empty_fill());
    } else if count_ok && workers.len() != job.count as usize {
        // An invalid count already has its own violation; comparing against it is noise.
        out.push(Violation::count_mismatch(job.count, workers.len()));
    }

    // Distinct ids in first-appearance order, with how often each was proposed.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(workers.len());
    let mut distinct: Vec<(&str, Option<&WorkerRecord>, usize)> = Vec::with_capacity(workers.len());
    for (id, record) in workers {
        match index.get(id.as_str()) {
            Some(&i) => distinct[i].2 += 1,
            None => {
                index.insert(id, distinct.len());
                distinct.push((id, *record, 1));
            }
        }
    }
    for &(id, _, times) in &distinct {
        if times > 1 {
            out.push(Violation::duplicate_worker(id, times));
        }
    }

    for &(id, record, _) in &distinct {
        let Some(worker) = record else {
            out.push(Violation::unknown_worker(id));
            continue;
        };
        let fields = [
            ("role", &role, &worker.role, &job.role),
            ("city", &city, &worker.city, &job.city),
            ("state", &state, &worker.state, &job.state),
        ];
        for (field, wanted, actual, shown) in fields {
            // An empty job field is reported once as invalid_job, not per worker.
            if !wanted.is_empty() && normalise(actual) != *wanted {
                out.push(Violation::field_mismatch(field, id, actual, shown.trim()));
            }
        }
        if let Some(job_dates) = dates {
            if let Some(existing) = placed(id).into_iter().find(|p| p.overlaps(&job_dates)) {
                out.push(Violation::overlapping_placement(id, existing, job_dates));
            }
        }
    }
    out
}

/// Trimmed, lower-cased, inner whitespace collapsed: `" Forklift  Operator "` equals
/// `"forklift operator"`.
pub(crate) fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validators::codes;

    fn worker(id: &str, role: &str, city: &str, state: &str) -> WorkerRecord {
        WorkerRecord::sample(id, role, city, state)
    }

    fn job(count: u32, dates: Option<DateRange>) -> FillJob {
        FillJob { role: "forklift operator".into(), city: "Houston".into(), state: "TX".into(), count, dates }
    }

    fn none(_: &str) -> Vec<DateRange> {
        Vec::new()
    }

    fn codes_of(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|v| v.code.as_str()).collect()
    }

    #[test]
    fn valid_fill_passes() {
        let a = worker("w-1", "forklift operator", "Houston", "TX");
        let b = worker("w-2", " Forklift  OPERATOR ", "houston", "tx");
        let ws = vec![("w-1".to_owned(), Some(&a)), ("w-2".to_owned(), Some(&b))];
        assert!(validate_fill(&job(2, None), &ws, &none).is_empty());
        // With dates and non-overlapping placements.
        let placed = |_: &str| vec![DateRange::new(0, 9), DateRange::new(21, 30)];
        let v = validate_fill(&job(2, Some(DateRange::new(10, 20))), &ws, &placed);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn invalid_job() {
        let a = worker("w-1", "forklift operator", "Houston", "TX");
        let ws = vec![("w-1".to_owned(), Some(&a))];
        let mut j = job(1, None);
        j.role = "  ".into();
        j.city = String::new();
        j.state = String::new();
        let v = validate_fill(&j, &ws, &none);
        assert_eq!(codes_of(&v), ["invalid_job"; 3]);
        assert!(v[0].message.contains("role") && v[1].message.contains("city"));
        assert!(v[2].message.contains("state"));

        let v = validate_fill(&job(0, None), &ws, &none);
        assert_eq!(codes_of(&v), ["invalid_job"]);
        let v = validate_fill(&job(101, None), &ws, &none);
        assert_eq!(codes_of(&v), ["invalid_job"]);
        assert!(v[0].message.contains("101"));
        let v = validate_fill(&job(1, Some(DateRange::new(10, 9))), &ws, &|_| {
            panic!("placements must not be looked up for invalid dates")
        });
        assert_eq!(codes_of(&v), ["invalid_job"]);
        // Boundaries are fine.
        assert!(validate_fill(&job(1, Some(DateRange::new(10, 10))), &ws, &none).is_empty());
        let many: Vec<WorkerRecord> =
            (0..100).map(|i| worker(&format!("w-{i}"), "forklift operator", "Houston", "TX")).collect();
        let ws100: Vec<(String, Option<&WorkerRecord>)> = many.iter().map(|w| (w.id.0.clone(), Some(w))).collect();
        assert!(validate_fill(&job(100, None), &ws100, &none).is_empty());
    }

    #[test]
    fn empty_fill() {
        let v = validate_fill(&job(2, None), &[], &none);
        assert_eq!(v, vec![Violation::empty_fill()]);
    }

    #[test]
    fn count_mismatch() {
        let a = worker("w-1", "forklift operator", "Houston", "TX");
        let b = worker("w-2", "forklift operator", "Houston", "TX");
        let one = vec![("w-1".to_owned(), Some(&a))];
        let two = vec![("w-1".to_owned(), Some(&a)), ("w-2".to_owned(), Some(&b))];
        assert_eq!(validate_fill(&job(2, None), &one, &none), vec![Violation::count_mismatch(2, 1)]);
        assert_eq!(codes_of(&validate_fill(&job(1, None), &two, &none)), ["count_mismatch"]);
        assert!(validate_fill(&job(2, None), &two, &none).is_empty());
    }

    #[test]
    fn duplicate_worker() {
        let a = worker("w-1", "forklift operator", "Houston", "TX");
        let ws = vec![("w-1".to_owned(), Some(&a)), ("w-1".to_owned(), Some(&a)), ("w-1".to_owned(), Some(&a))];
        let v = validate_fill(&job(3, None), &ws, &none);
        assert_eq!(v, vec![Violation::duplicate_worker("w-1", 3)]);
        assert!(v[0].message.contains("w-1"));
    }

    #[test]
    fn unknown_worker() {
        let a = worker("w-1", "forklift operator", "Houston", "TX");
        let ws = vec![("w-1".to_owned(), Some(&a)), ("ghost".to_owned(), None)];
        let v = validate_fill(&job(2, None), &ws, &none);
        assert_eq!(v, vec![Violation::unknown_worker("ghost")]);
        assert!(v[0].message.contains("ghost"));
    }

    #[test]
    fn field_mismatches() {
        let ok = worker("w-1", "forklift operator", "Houston", "TX");
        let role = worker("w-2", "welder", "Houston", "TX");
        let city = worker("w-3", "forklift operator", "Dallas", "TX");
        let state = worker("w-4", "forklift operator", "Houston", "OK");
        let ws = vec![
            ("w-1".to_owned(), Some(&ok)),
            ("w-2".to_owned(), Some(&role)),
            ("w-3".to_owned(), Some(&city)),
            ("w-4".to_owned(), Some(&state)),
        ];
        let v = validate_fill(&job(4, None), &ws, &none);
        assert_eq!(codes_of(&v), [codes::ROLE_MISMATCH, codes::CITY_MISMATCH, codes::STATE_MISMATCH]);
        assert!(v[0].message.contains("w-2") && v[0].message.contains("role"));
        assert!(v[0].message.contains("welder") && v[0].message.contains("forklift operator"));
        assert!(v[1].message.contains("w-3") && v[1].message.contains("Dallas"));
        assert!(v[2].message.contains("w-4") && v[2].message.contains("state"));
        // All three at once on one worker.
        let all = worker("w-5", "cook", "Austin", "CA");
        let v = validate_fill(&job(1, None), &[("w-5".to_owned(), Some(&all))], &none);
        assert_eq!(codes_of(&v), ["role_mismatch", "city_mismatch", "state_mismatch"]);
    }

    #[test]
    fn overlapping_placement() {
        let a = worker("w-1", "forklift operator", "Houston", "TX");
        let b = worker("w-2", "forklift operator", "Houston", "TX");
        let ws = vec![("w-1".to_owned(), Some(&a)), ("w-2".to_owned(), Some(&b))];
        let placed = |id: &str| match id {
            "w-1" => vec![DateRange::new(0, 5), DateRange::new(18, 25)],
            _ => vec![DateRange::new(21, 30)],
        };
        let j = job(2, Some(DateRange::new(10, 20)));
        let v = validate_fill(&j, &ws, &placed);
        assert_eq!(v, vec![Violation::overlapping_placement("w-1", DateRange::new(18, 25), DateRange::new(10, 20))]);
        assert!(v[0].message.contains("w-1"));
        // Without job dates, placements are not consulted.
        let v = validate_fill(&job(2, None), &ws, &|_| panic!("not called without dates"));
        assert!(v.is_empty());
    }

    #[test]
    fn date_range_overlaps() {
        let r = DateRange::new(10, 20);
        assert!(r.overlaps(&DateRange::new(20, 30)), "touching end");
        assert!(r.overlaps(&DateRange::new(0, 10)), "touching start");
        assert!(r.overlaps(&DateRange::new(12, 15)), "inside");
        assert!(r.overlaps(&DateRange::new(0, 30)), "around");
        assert!(!r.overlaps(&DateRange::new(21, 30)));
        assert!(!r.overlaps(&DateRange::new(0, 9)));
        assert!(!r.overlaps(&DateRange::new(15, 12)), "empty overlaps nothing");
        assert!(DateRange::new(15, 12).is_empty() && !r.is_empty());
        assert!(DateRange::new(-5, -1).overlaps(&DateRange::new(-1, 3)));
    }

    #[test]
    fn everything_wrong_in_stable_order() {
        let a = worker("w-1", "welder", "Houston", "TX");
        let ws = vec![("w-1".to_owned(), Some(&a)), ("ghost".to_owned(), None), ("w-1".to_owned(), Some(&a))];
        let placed = |_: &str| vec![DateRange::new(0, 100)];
        let v = validate_fill(&job(2, Some(DateRange::new(10, 20))), &ws, &placed);
        assert_eq!(
            codes_of(&v),
            ["count_mismatch", "duplicate_worker", "role_mismatch", "overlapping_placement", "unknown_worker"]
        );
    }

    #[test]
    fn job_types_are_orderable_and_hashable() {
        use std::collections::{BTreeSet, HashSet};
        let a = job(1, Some(DateRange::new(1, 2)));
        let b = job(2, None);
        let set: BTreeSet<FillJob> = [b.clone(), a.clone()].into();
        assert_eq!(set.len(), 2);
        let hs: HashSet<FillJob> = [a.clone(), a].into();
        assert_eq!(hs.len(), 1);
    }
}
