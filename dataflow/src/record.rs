//! The worker record: the unit of data that flows through the dataflow.
//!
//! Every field is `Ord` (money in cents, scores in thousandths, dates as days since the
//! Unix epoch) so records can live in differential collections, and serde so they can
//! cross timely workers and processes.

use serde::{Deserialize, Serialize};

/// External worker id, e.g. `w-0000001` or `test-w-001`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkerId(pub String);

impl WorkerId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A certification held by a worker, with its expiry date.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Certification {
    /// Certification name, e.g. `OSHA-10`, `CDL-A`, `ServSafe`.
    pub name: String,
    /// Expiry as days since 1970-01-01.
    pub expires_on: i32,
}

/// One worker profile as stored in the corpus and carried through the dataflow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// External id (primary key).
    pub id: WorkerId,
    /// Full name.
    pub name: String,
    /// Staffing role, lower case (e.g. `forklift operator`).
    pub role: String,
    /// City name (e.g. `Houston`).
    pub city: String,
    /// Two-letter state code (e.g. `TX`).
    pub state: String,
    /// Free-form skills.
    pub skills: Vec<String>,
    /// Certifications with expiry dates.
    pub certifications: Vec<Certification>,
    /// Years of experience.
    pub years_experience: u32,
    /// Hourly rate in US cents.
    pub hourly_rate_cents: u32,
    /// Preferred shift: `day`, `night`, `swing` or `weekend`.
    pub shift: String,
    /// First day available, days since 1970-01-01.
    pub available_from: i32,
    /// Reliability score in thousandths (0..=1000).
    pub reliability_milli: u32,
    /// Phone number, `NNN-NNN-NNNN`.
    pub phone: String,
    /// Email address.
    pub email: String,
    /// Last update, milliseconds since the Unix epoch. The newest `updated_at` wins.
    pub updated_at: i64,
}

impl WorkerRecord {
    /// A day-shift worker for unit tests: `id` in `role` at `city`, `state`.
    #[cfg(test)]
    pub(crate) fn sample(id: &str, role: &str, city: &str, state: &str) -> WorkerRecord {
        WorkerRecord {
            id: WorkerId(id.into()),
            name: format!("Worker {id}"),
            role: role.into(),
            city: city.into(),
            state: state.into(),
            skills: vec![],
            certifications: vec![],
            years_experience: 3,
            hourly_rate_cents: 2000,
            shift: "day".into(),
            available_from: 0,
            reliability_milli: 900,
            phone: "555-123-4567".into(),
            email: format!("{id}@example.com"),
            updated_at: 0,
        }
    }

    /// The text that is embedded for this worker: role, location, skills and certifications.
    pub fn embedding_text(&self) -> String {
        let mut s = String::with_capacity(160);
        s.push_str(&self.role);
        s.push_str(" in ");
        s.push_str(&self.city);
        s.push_str(", ");
        s.push_str(&self.state);
        s.push_str(". ");
        s.push_str(&self.shift);
        s.push_str(" shift. skills: ");
        s.push_str(&self.skills.join(", "));
        if !self.certifications.is_empty() {
            s.push_str(". certifications: ");
            for (i, c) in self.certifications.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&c.name);
            }
        }
        s
    }
}
