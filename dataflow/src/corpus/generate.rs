//! Deterministic generation of a skewed staffing worker corpus and of the fixed
//! validator pool used by the seed load test.
//!
//! Everything is a pure function of the seed: no clock, no global state, integer
//! arithmetic only (so the output is identical on every platform). Generation is
//! sequential, so `generate_workers(k, seed)` is a prefix of `generate_workers(n, seed)`
//! for `k <= n`.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use super::vocab::{
    find_metro, find_role, Metro, Role, EMAIL_DOMAINS, FIRST_NAMES, GENERAL_SKILLS, LAST_NAMES, METROS, ROLES, SHIFTS,
};
use crate::record::{Certification, WorkerId, WorkerRecord};

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1..=12, `day` 1..=31).
pub const fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// The fixed reference date of the corpus, 2026-11-01, in days since the epoch.
/// `available_from` lies within ±60 days of it; certification expiry dates are spread
/// around it (some already expired).
pub const REFERENCE_DAY: i32 = days_from_civil(2026, 11, 1);

/// Base of `updated_at`: 2026-10-01T00:00:00Z in milliseconds since the epoch. Worker
/// number `i` (1-based) gets `BASE_UPDATED_AT_MS + i * 1000 + jitter` with jitter in
/// `0..1000`, so `updated_at` increases with the id.
pub const BASE_UPDATED_AT_MS: i64 = days_from_civil(2026, 10, 1) as i64 * 86_400_000;

/// Number of workers in the validator pool.
pub const VALIDATOR_POOL_SIZE: usize = 200;

/// Seed of the validator pool (the pool does not depend on the corpus seed).
const VALIDATOR_SEED: u64 = 0x7e57_0200_0035_0001;

/// The 35 (city, state, role) combinations of the validator pool.
static VALIDATOR_COMBOS: [(&str, &str, &str); 35] = [
    ("Chicago", "IL", "forklift operator"),
    ("Chicago", "IL", "warehouse associate"),
    ("Chicago", "IL", "cna"),
    ("Houston", "TX", "welder"),
    ("Houston", "TX", "cdl-a truck driver"),
    ("Houston", "TX", "forklift operator"),
    ("Dallas", "TX", "warehouse associate"),
    ("Dallas", "TX", "picker/packer"),
    ("Dallas", "TX", "electrician"),
    ("Los Angeles", "CA", "line cook"),
    ("Los Angeles", "CA", "security guard"),
    ("Los Angeles", "CA", "warehouse associate"),
    ("New York", "NY", "cna"),
    ("New York", "NY", "security guard"),
    ("New York", "NY", "line cook"),
    ("Atlanta", "GA", "delivery driver"),
    ("Atlanta", "GA", "material handler"),
    ("Phoenix", "AZ", "hvac technician"),
    ("Phoenix", "AZ", "general laborer"),
    ("Miami", "FL", "housekeeper"),
    ("Miami", "FL", "server"),
    ("Philadelphia", "PA", "phlebotomist"),
    ("Philadelphia", "PA", "medical assistant"),
    ("Seattle", "WA", "machine operator"),
    ("Denver", "CO", "carpenter"),
    ("Detroit", "MI", "assembler"),
    ("Detroit", "MI", "quality inspector"),
    ("Columbus", "OH", "picker/packer"),
    ("Indianapolis", "IN", "shipping and receiving clerk"),
    ("Memphis", "TN", "forklift operator"),
    ("Nashville", "TN", "lpn"),
    ("Riverside", "CA", "picker/packer"),
    ("Las Vegas", "NV", "dishwasher"),
    ("Orlando", "FL", "janitor"),
    ("Charlotte", "NC", "customer service representative"),
];

/// Number of certifications a worker holds (index) and its relative weight.
static CERT_COUNT_WEIGHTS: [u32; 4] = [30, 35, 25, 10];

/// Integer weighted sampler over cumulative weights (no floating point).
struct Weighted {
    cumulative: Vec<u32>,
}

impl Weighted {
    fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0u32;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total = total.saturating_add(w);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// Index of the drawn entry (0 if all weights are zero or there are no entries).
    fn pick(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        if total == 0 {
            return 0;
        }
        let x = rng.random_range(0..total);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

/// Samplers shared by all workers of one generation run.
struct Samplers {
    roles: Weighted,
    metros: Weighted,
    shifts: Weighted,
    cert_counts: Weighted,
}

impl Samplers {
    fn new() -> Self {
        Self {
            roles: Weighted::new(ROLES.iter().map(|r| r.weight)),
            metros: Weighted::new(METROS.iter().map(|m| m.weight)),
            shifts: Weighted::new(SHIFTS.iter().map(|s| s.1)),
            cert_counts: Weighted::new(CERT_COUNT_WEIGHTS),
        }
    }
}

fn pick_from<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    if list.is_empty() {
        return "";
    }
    list[rng.random_range(0..list.len())]
}

/// Lower-case ASCII letters of a name part, for email local parts (`O'Brien` → `obrien`).
fn email_slug(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// One worker: everything except role, metro and id is drawn from `rng`.
fn make_worker(
    rng: &mut StdRng,
    samplers: &Samplers,
    id: String,
    ordinal: u64,
    role: &Role,
    metro: &Metro,
) -> WorkerRecord {
    let first = pick_from(rng, FIRST_NAMES);
    let last = pick_from(rng, LAST_NAMES);
    let name = format!("{first} {last}");

    // Skills: 3..=6 distinct role skills, sometimes one general skill on top.
    let n_skills = rng.random_range(3..=6usize).min(role.skills.len());
    let mut skills: Vec<String> =
        sample(rng, role.skills.len(), n_skills).into_iter().map(|i| role.skills[i].to_string()).collect();
    if rng.random_ratio(1, 6) {
        let general = pick_from(rng, GENERAL_SKILLS);
        if !skills.iter().any(|s| s == general) {
            skills.push(general.to_string());
        }
    }

    // Certifications: 0..=3 distinct role certifications; roughly a quarter expired.
    let n_certs = samplers.cert_counts.pick(rng).min(role.certifications.len());
    let certifications: Vec<Certification> = sample(rng, role.certifications.len(), n_certs)
        .into_iter()
        .map(|i| Certification {
            name: role.certifications[i].to_string(),
            expires_on: REFERENCE_DAY + rng.random_range(-365..=1095),
        })
        .collect();

    // Experience skewed low: minimum of three uniform draws (mode 0, mean ~7.5).
    let years_experience = (0..3).map(|_| rng.random_range(0..=30u32)).min().unwrap_or(0);

    // Pay: role range, up to 60% of the spread for experience (capped at 20 years),
    // up to 40% at random, then the metro's pay level; rounded to a quarter.
    let (low, high) = role.pay_cents;
    let spread = u64::from(high.saturating_sub(low));
    let experience_part = spread * u64::from(years_experience.min(20)) * 6 / 200;
    let random_part = rng.random_range(0..=spread * 4 / 10);
    let base = u64::from(low) + experience_part + random_part;
    let local = base * u64::from(metro.cost_permille) / 1000;
    let rounded = (local + 12) / 25 * 25;
    let hourly_rate_cents = u32::try_from(rounded).unwrap_or(u32::MAX);

    let shift = SHIFTS.get(samplers.shifts.pick(rng)).map_or("day", |s| s.0).to_string();
    let available_from = REFERENCE_DAY + rng.random_range(-60..=60);

    // Reliability skewed high: maximum of two uniform draws in 500..=1000.
    let reliability_milli = rng.random_range(500..=1000u32).max(rng.random_range(500..=1000u32));

    // Fictional numbers: the 555-0100..555-0199 block is reserved for fiction.
    let phone = format!("{:03}-555-{:04}", metro.area_code, rng.random_range(100..=199u32));

    let mut local_part = format!("{}.{}", email_slug(first), email_slug(last));
    if rng.random_bool(0.5) {
        local_part.push_str(&rng.random_range(1..=99u32).to_string());
    }
    let email = format!("{local_part}@{}", pick_from(rng, EMAIL_DOMAINS));

    let offset = i64::try_from(ordinal).unwrap_or(i64::MAX / 2_000).saturating_mul(1_000);
    let updated_at = BASE_UPDATED_AT_MS.saturating_add(offset).saturating_add(rng.random_range(0..1_000i64));

    WorkerRecord {
        id: WorkerId(id),
        name,
        role: role.name.to_string(),
        city: metro.city.to_string(),
        state: metro.state.to_string(),
        skills,
        certifications,
        years_experience,
        hourly_rate_cents,
        shift,
        available_from,
        reliability_milli,
        phone,
        email,
        updated_at,
    }
}

/// Generates `n` workers `w-0000001` … (7-digit, 1-based ids), deterministically from
/// `seed`.
///
/// Roles and metros are drawn by their popularity weights (see
/// [`vocab`](super::vocab)), so a few roles and metros dominate. The first `k` workers
/// of a run do not depend on `n`.
pub fn generate_workers(n: usize, seed: u64) -> Vec<WorkerRecord> {
    let mut rng = StdRng::seed_from_u64(seed);
    let samplers = Samplers::new();
    let mut out = Vec::with_capacity(n);
    for i in 1..=n {
        let role = ROLES.get(samplers.roles.pick(&mut rng));
        let metro = METROS.get(samplers.metros.pick(&mut rng));
        let (Some(role), Some(metro)) = (role, metro) else {
            // Unreachable with the static vocabulary (non-empty, positive weights).
            break;
        };
        out.push(make_worker(&mut rng, &samplers, format!("w-{i:07}"), i as u64, role, metro));
    }
    out
}

/// The 35 distinct `(city, state, role)` combinations of the validator pool, in pool
/// order: worker `test-w-{k+1:03}` belongs to combination `k % 35`.
pub fn validator_pool_combos() -> Vec<(String, String, String)> {
    VALIDATOR_COMBOS.iter().map(|(c, s, r)| (c.to_string(), s.to_string(), r.to_string())).collect()
}

/// The fixed validator pool: exactly 200 workers `test-w-001` … `test-w-200` spread
/// round-robin over the 35 combinations of [`validator_pool_combos`] (the first 25
/// combinations get 6 workers, the other 10 get 5). Independent of any corpus seed.
pub fn generate_validator_pool() -> Vec<WorkerRecord> {
    let mut rng = StdRng::seed_from_u64(VALIDATOR_SEED);
    let samplers = Samplers::new();
    let mut out = Vec::with_capacity(VALIDATOR_POOL_SIZE);
    for k in 0..VALIDATOR_POOL_SIZE {
        let (city, state, role_name) = VALIDATOR_COMBOS[k % VALIDATOR_COMBOS.len()];
        let (Some(role), Some(metro)) = (find_role(role_name), find_metro(city, state)) else {
            // Unreachable: every combination names a vocabulary role and metro (tested).
            continue;
        };
        out.push(make_worker(&mut rng, &samplers, format!("test-w-{:03}", k + 1), k as u64 + 1, role, metro));
    }
    out
}

/// The full corpus: `generate_workers(n, seed)` followed by the validator pool.
pub fn generate_corpus(n: usize, seed: u64) -> Vec<WorkerRecord> {
    let mut out = generate_workers(n, seed);
    out.extend(generate_validator_pool());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(REFERENCE_DAY, 20_758);
        assert_eq!(BASE_UPDATED_AT_MS, 1_790_812_800_000);
    }

    #[test]
    fn weighted_pick_respects_bounds_and_zero_weights() {
        let w = Weighted::new([0, 5, 0, 5]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            seen.insert(w.pick(&mut rng));
        }
        assert_eq!(seen, HashSet::from([1, 3]));
        assert_eq!(Weighted::new([]).pick(&mut rng), 0);
    }

    #[test]
    fn validator_combos_are_distinct_and_in_vocabulary() {
        let set: HashSet<_> = VALIDATOR_COMBOS.iter().collect();
        assert_eq!(set.len(), 35);
        for (city, state, role) in VALIDATOR_COMBOS {
            assert!(find_metro(city, state).is_some(), "{city}, {state}");
            assert!(find_role(role).is_some(), "{role}");
        }
    }

    #[test]
    fn worker_fields_are_plausible() {
        let workers = generate_workers(3000, 11);
        assert_eq!(workers.len(), 3000);
        let mut expired = 0;
        let mut certs = 0;
        for w in &workers {
            let role = find_role(&w.role).expect("role from vocabulary");
            let metro = find_metro(&w.city, &w.state).expect("metro from vocabulary");
            assert!((3..=7).contains(&w.skills.len()), "{:?}", w.skills);
            let distinct: HashSet<_> = w.skills.iter().collect();
            assert_eq!(distinct.len(), w.skills.len());
            for s in &w.skills {
                assert!(role.skills.contains(&s.as_str()) || GENERAL_SKILLS.contains(&s.as_str()));
            }
            assert!(w.certifications.len() <= 3);
            for c in &w.certifications {
                assert!(role.certifications.contains(&c.name.as_str()));
                certs += 1;
                if c.expires_on < REFERENCE_DAY {
                    expired += 1;
                }
            }
            assert!(w.years_experience <= 30);
            let lo = role.pay_cents.0 as u64 * metro.cost_permille as u64 / 1000;
            let hi = role.pay_cents.1 as u64 * metro.cost_permille as u64 / 1000;
            let rate = w.hourly_rate_cents as u64;
            assert!(rate + 25 >= lo && rate <= hi + 25, "{} {rate}", w.role);
            assert_eq!(rate % 25, 0);
            assert!(["day", "night", "swing", "weekend"].contains(&w.shift.as_str()));
            assert!((w.available_from - REFERENCE_DAY).abs() <= 60);
            assert!((500..=1000).contains(&w.reliability_milli));
            let b = w.phone.as_bytes();
            assert_eq!(b.len(), 12, "{}", w.phone);
            assert!(w.phone[..3] == metro.area_code.to_string());
            assert_eq!(&w.phone[3..8], "-555-");
            assert!(b.iter().enumerate().all(|(i, c)| if i == 3 || i == 7 { *c == b'-' } else { c.is_ascii_digit() }));
            let (local, domain) = w.email.split_once('@').expect("email has @");
            assert!(!local.is_empty() && EMAIL_DOMAINS.contains(&domain), "{}", w.email);
            assert_eq!(w.email, w.email.to_lowercase());
            assert!(w.updated_at > BASE_UPDATED_AT_MS);
        }
        assert!(certs > 1000, "{certs} certifications");
        assert!(expired * 10 > certs, "too few expired: {expired}/{certs}");
        assert!(expired * 2 < certs, "too many expired: {expired}/{certs}");

        // Skews: experience low, reliability high.
        let mean_years = workers.iter().map(|w| w.years_experience as u64).sum::<u64>() / workers.len() as u64;
        assert!((4..=11).contains(&mean_years), "mean years {mean_years}");
        let mean_rel = workers.iter().map(|w| w.reliability_milli as u64).sum::<u64>() / workers.len() as u64;
        assert!(mean_rel > 780, "mean reliability {mean_rel}");
        let mut shifts: HashMap<&str, usize> = HashMap::new();
        for w in &workers {
            *shifts.entry(w.shift.as_str()).or_default() += 1;
        }
        assert_eq!(shifts.len(), 4);
        assert!(shifts["day"] > shifts["weekend"] * 2);
    }

    #[test]
    fn prefix_stable_and_updated_at_increasing() {
        let long = generate_workers(500, 3);
        let short = generate_workers(100, 3);
        assert_eq!(&long[..100], &short[..]);
        assert!(long.windows(2).all(|p| p[0].updated_at < p[1].updated_at));
        assert!(generate_workers(0, 3).is_empty());
    }

    #[test]
    fn pool_round_robin_assignment() {
        let pool = generate_validator_pool();
        let combos = validator_pool_combos();
        for (k, w) in pool.iter().enumerate() {
            let (c, s, r) = &combos[k % 35];
            assert_eq!((&w.city, &w.state, &w.role), (c, s, r));
        }
    }
}
