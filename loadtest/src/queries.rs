//! The query mix: Zipf-popular (role, city, state, skill) tuples phrased like coordinators.
//!
//! Tuples are sampled from the same generated corpus the server loads, ranked by how
//! many workers share the (role, city, state): popular markets are asked about far
//! more often than rare ones, as in real staffing traffic. Each draw is phrased in one
//! of several coordinator styles ("forklift operator with OSHA-10 in Houston, TX",
//! "night shift CNA Chicago", "need 2 welders near Tulsa OK, AWS D1.1").
//!
//! # Notes
//! - Only tuples with at least [`MIN_TUPLE_WORKERS`] workers enter the mix when any do,
//!   so filtered scenarios (surge, replay) have candidates to choose from.
//! - The mix is deterministic for a given corpus; draws depend only on the caller's rng.

use std::collections::BTreeMap;

use rand::Rng;
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};

/// Zipf exponent of tuple popularity. 1.1 puts roughly a third of the draws on the top
/// 10 tuples out of a few thousand, close to the skew of real job-board searches.
pub const ZIPF_EXPONENT: f64 = 1.1;

/// A tuple needs this many workers to enter the mix (when at least one tuple does).
pub const MIN_TUPLE_WORKERS: usize = 3;

/// A certification on the wire: name and `YYYY-MM-DD` expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertDoc {
    /// Certification name, e.g. `OSHA-10`.
    pub name: String,
    /// Expiry date, `YYYY-MM-DD`.
    pub expires_on: String,
}

/// A worker profile as it crosses the HTTP API (`POST /v1/workers`, `GET /v1/workers/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerDoc {
    /// External id, e.g. `w-0000001`.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Staffing role, lower case.
    pub role: String,
    /// City.
    pub city: String,
    /// Two-letter state code.
    pub state: String,
    /// Free-form skills.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Certifications.
    #[serde(default)]
    pub certifications: Vec<CertDoc>,
    /// Years of experience.
    #[serde(default)]
    pub years_experience: u32,
    /// Hourly rate in US cents.
    #[serde(default)]
    pub hourly_rate_cents: u32,
    /// Preferred shift (`day`, `night`, `swing`, `weekend`).
    #[serde(default)]
    pub shift: String,
    /// First available day, `YYYY-MM-DD`.
    #[serde(default)]
    pub available_from: String,
    /// Reliability in thousandths.
    #[serde(default)]
    pub reliability_milli: u32,
    /// Phone, `NNN-NNN-NNNN`.
    #[serde(default)]
    pub phone: String,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// Last update, ms since the epoch (optional on writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

impl WorkerDoc {
    /// Search text describing this worker, in the shape the server embeds (role,
    /// location, shift, skills, certifications); used by the ingest freshness probe.
    pub fn probe_text(&self) -> String {
        let mut s = format!(
            "{} in {}, {}. {} shift. skills: {}",
            self.role,
            self.city,
            self.state,
            self.shift,
            self.skills.join(", ")
        );
        if !self.certifications.is_empty() {
            s.push_str(". certifications: ");
            let names: Vec<&str> = self.certifications.iter().map(|c| c.name.as_str()).collect();
            s.push_str(&names.join(", "));
        }
        s
    }

    /// First name, for salutations.
    pub fn first_name(&self) -> &str {
        self.name.split_whitespace().next().unwrap_or("there")
    }
}

/// Prefix of ids the ingester creates (`w-9xxxxxx`); base-corpus ids never use it.
pub const INGEST_ID_PREFIX: &str = "w-9";

/// Whether `id` was (or could have been) created by the ingester. Scenarios prefer
/// other ids, because the ingester may delete its own workers mid-scenario.
pub fn is_ingest_id(id: &str) -> bool {
    id.len() == 9 && id.starts_with(INGEST_ID_PREFIX)
}

/// One popular market: the tuple and a representative skill/cert/shift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuple {
    /// Role, lower case.
    pub role: String,
    /// City.
    pub city: String,
    /// State code.
    pub state: String,
    /// The most common skill among these workers.
    pub skill: String,
    /// The most common certification, if any has one.
    pub cert: Option<String>,
    /// The most common shift.
    pub shift: String,
    /// How many corpus workers share (role, city, state).
    pub workers: usize,
}

/// One drawn query: its tuple and its phrasing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuerySpec {
    /// The natural-language query text sent to `/v1/search`.
    pub text: String,
    /// Role of the tuple (used for filters).
    pub role: String,
    /// City of the tuple.
    pub city: String,
    /// State of the tuple.
    pub state: String,
}

/// Zipf-weighted tuples drawn from a corpus.
#[derive(Clone, Debug)]
pub struct QueryMix {
    tuples: Vec<Tuple>,
    zipf: Zipf<f64>,
}

fn most_common<'a>(counts: &BTreeMap<&'a str, usize>) -> Option<&'a str> {
    // Ties break towards the lexicographically smallest key, so the mix is deterministic.
    counts.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).map(|(k, _)| *k)
}

#[derive(Default)]
struct TupleAcc<'a> {
    workers: usize,
    skills: BTreeMap<&'a str, usize>,
    certs: BTreeMap<&'a str, usize>,
    shifts: BTreeMap<&'a str, usize>,
}

impl QueryMix {
    /// Builds the mix from corpus workers; `None` if `workers` is empty.
    pub fn from_workers(workers: &[WorkerDoc]) -> Option<Self> {
        let mut acc: BTreeMap<(&str, &str, &str), TupleAcc<'_>> = BTreeMap::new();
        for w in workers {
            let t = acc.entry((w.role.as_str(), w.city.as_str(), w.state.as_str())).or_default();
            t.workers += 1;
            for s in &w.skills {
                *t.skills.entry(s.as_str()).or_default() += 1;
            }
            for c in &w.certifications {
                *t.certs.entry(c.name.as_str()).or_default() += 1;
            }
            *t.shifts.entry(w.shift.as_str()).or_default() += 1;
        }
        let mut tuples: Vec<Tuple> = acc
            .into_iter()
            .map(|((role, city, state), t)| Tuple {
                role: role.to_owned(),
                city: city.to_owned(),
                state: state.to_owned(),
                skill: most_common(&t.skills).unwrap_or(role).to_owned(),
                cert: most_common(&t.certs).map(str::to_owned),
                shift: most_common(&t.shifts).unwrap_or("day").to_owned(),
                workers: t.workers,
            })
            .collect();
        if tuples.iter().any(|t| t.workers >= MIN_TUPLE_WORKERS) {
            tuples.retain(|t| t.workers >= MIN_TUPLE_WORKERS);
        }
        // Most popular first: Zipf rank 1 is the biggest market. Stable on ties.
        tuples.sort_by_key(|t| std::cmp::Reverse(t.workers));
        Self::from_tuples(tuples)
    }

    /// Builds the mix from explicit tuples, ranked in the given order.
    pub fn from_tuples(tuples: Vec<Tuple>) -> Option<Self> {
        if tuples.is_empty() {
            return None;
        }
        let zipf = Zipf::new(tuples.len() as f64, ZIPF_EXPONENT).ok()?;
        Some(Self { tuples, zipf })
    }

    /// The ranked tuples.
    pub fn tuples(&self) -> &[Tuple] {
        &self.tuples
    }

    /// Draws a tuple, Zipf by popularity rank.
    pub fn tuple<R: Rng + ?Sized>(&self, rng: &mut R) -> &Tuple {
        // Zipf yields ranks 1..=n as floats.
        let rank = self.zipf.sample(rng) as usize;
        let idx = rank.saturating_sub(1).min(self.tuples.len() - 1);
        &self.tuples[idx]
    }

    /// Draws a query: a tuple and one coordinator phrasing of it.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> QuerySpec {
        let t = self.tuple(rng);
        QuerySpec { text: phrase(t, rng), role: t.role.clone(), city: t.city.clone(), state: t.state.clone() }
    }
}

/// Naive English plural for role nouns ("welder" → "welders", "CNA" → "CNAs").
fn plural(role: &str) -> String {
    if role.ends_with('s') {
        role.to_owned()
    } else {
        format!("{role}s")
    }
}

/// Phrases a tuple in one of several coordinator styles.
fn phrase<R: Rng + ?Sized>(t: &Tuple, rng: &mut R) -> String {
    let Tuple { role, city, state, skill, cert, shift, .. } = t;
    let cert_or_skill = cert.as_deref().unwrap_or(skill);
    match rng.random_range(0..6u8) {
        0 => format!("{role} with {cert_or_skill} in {city}, {state}"),
        1 => format!("{shift} shift {role} {city}"),
        2 => {
            let n = rng.random_range(2..=5u8);
            format!("need {n} {} near {city} {state}, {cert_or_skill}", plural(role))
        }
        3 => format!("{role} {city} {state} {skill}"),
        4 => format!("experienced {role} who knows {skill}, {city} area"),
        _ => format!("looking for a {role} available {shift}s around {city}, {state}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn worker(id: usize, role: &str, city: &str) -> WorkerDoc {
        WorkerDoc {
            id: format!("w-{id:07}"),
            name: "Ana Ruiz".into(),
            role: role.into(),
            city: city.into(),
            state: "TX".into(),
            skills: vec!["pallet jack".into()],
            certifications: vec![CertDoc { name: "OSHA-10".into(), expires_on: "2030-01-01".into() }],
            years_experience: 3,
            hourly_rate_cents: 2000,
            shift: "night".into(),
            available_from: "2026-01-01".into(),
            reliability_milli: 900,
            phone: "555-010-0000".into(),
            email: "ana@example.com".into(),
            updated_at: None,
        }
    }

    #[test]
    fn popular_tuples_dominate_and_small_ones_are_dropped() {
        let mut ws = Vec::new();
        for i in 0..50 {
            ws.push(worker(i, "forklift operator", "Houston"));
        }
        for i in 50..60 {
            ws.push(worker(i, "welder", "Tulsa"));
        }
        ws.push(worker(99, "cna", "Chicago"));
        let mix = QueryMix::from_workers(&ws).expect("mix");
        assert_eq!(mix.tuples().len(), 2, "the 1-worker tuple is dropped");
        assert_eq!(mix.tuples()[0].role, "forklift operator");
        let mut rng = StdRng::seed_from_u64(1);
        let top = (0..2000).filter(|_| mix.draw(&mut rng).role == "forklift operator").count();
        assert!(top > 1000, "rank 1 should be drawn most: {top}");
        let texts: std::collections::HashSet<_> = (0..200).map(|_| mix.draw(&mut rng).text).collect();
        assert!(texts.len() > 5, "several phrasings: {texts:?}");
    }

    #[test]
    fn ingest_ids_are_recognised() {
        assert!(is_ingest_id("w-9000001"));
        assert!(!is_ingest_id("w-0000001"));
        assert!(!is_ingest_id("w-90000011"));
    }
}
