//! Civil-date helpers: days since 1970-01-01 ↔ `YYYY-MM-DD`, and run timestamps.
//!
//! The wire format uses ISO dates while the corpus stores days since the epoch; the
//! conversion is Howard Hinnant's `civil_from_days`/`days_from_civil`, which is exact
//! for the proleptic Gregorian calendar and needs no date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// `(year, month 1..=12, day 1..=31)` for a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day count since 1970-01-01 for a civil date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` for a day count since the epoch.
pub fn iso_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` into days since the epoch; `None` if malformed.
pub fn parse_iso_date(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Today (UTC) as days since the epoch.
pub fn today() -> i64 {
    now_unix_ms().div_euclid(86_400_000)
}

/// A compact UTC timestamp for run ids and directory names: `20261123T233500Z`.
pub fn run_timestamp(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", sod / 3600, (sod / 60) % 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(parse_iso_date("2000-03-01"), Some(11_017));
        assert_eq!(iso_date(11_017), "2000-03-01");
        assert_eq!(iso_date(-1), "1969-12-31");
        // Years 1..=4000: the wire format has no negative years.
        for days in (-700_000..800_000).step_by(997) {
            assert_eq!(parse_iso_date(&iso_date(days)), Some(days));
        }
        assert_eq!(parse_iso_date("2026-13-01"), None);
        assert_eq!(parse_iso_date("nope"), None);
    }

    #[test]
    fn timestamp_shape() {
        assert_eq!(run_timestamp(0), "19700101T000000Z");
        assert_eq!(run_timestamp(86_400_000 + 3_723_000), "19700102T010203Z");
    }
}
