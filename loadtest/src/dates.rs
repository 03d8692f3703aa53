//! Civil-date helpers: days since 1970-01-01 ↔ `YYYY-MM-DD`, and run timestamps.
//!
//! The wire format uses ISO dates while the corpus stores days since the epoch; the
//! conversion is `dataflow::dates` (Howard Hinnant's algorithms), shared with the server.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DD` for a day count since the epoch (the engine's own calendar code).
pub fn iso_date(days: i64) -> String {
    dataflow::dates::format_date(days as i32)
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
    let (y, m, d) = dataflow::dates::civil_from_days(secs.div_euclid(86_400) as i32);
    let sod = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", sod / 3600, (sod / 60) % 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(11_017), "2000-03-01");
        assert_eq!(iso_date(-1), "1969-12-31");
    }

    #[test]
    fn timestamp_shape() {
        assert_eq!(run_timestamp(0), "19700101T000000Z");
        assert_eq!(run_timestamp(86_400_000 + 3_723_000), "19700102T010203Z");
    }
}
