//! Human duration parsing (`30s`, `5m`, `1h`, `1m30s`, `2.5ms`) and latency formatting.

use std::time::Duration;

/// Parses a humantime-like duration: one or more `<number><unit>` pairs, with units
/// `us`, `ms`, `s`, `m`, `h` and optional decimals (`1.5s`, `1m30s`).
///
/// A bare number is rejected on purpose: `--duration 60` is ambiguous between seconds
/// and milliseconds, and guessing wrong silently changes a run by 1000×.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0.0_f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("`{text}`: expected a number at `{rest}`"));
        }
        let number: f64 =
            rest[..num_len].parse().map_err(|_| format!("`{text}`: bad number `{}`", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = match unit {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("`{text}`: missing unit (use us, ms, s, m or h, e.g. `30s`)")),
            other => return Err(format!("`{text}`: unknown unit `{other}` (use us, ms, s, m or h)")),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("`{text}`: duration out of range"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a latency in microseconds the way the seed report does: `850µs`, `2.22ms`,
/// `452ms`, `1.53s`.
pub fn format_latency_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 100_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{}ms", us / 1_000)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("20us"), Ok(Duration::from_micros(20)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_duration("60").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1..2s").is_err());
    }

    #[test]
    fn formats_like_the_seed() {
        assert_eq!(format_latency_us(850), "850µs");
        assert_eq!(format_latency_us(2_220), "2.22ms");
        assert_eq!(format_latency_us(452_000), "452ms");
        assert_eq!(format_latency_us(1_530_000), "1.53s");
    }
}
