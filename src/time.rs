//! ISO-8601 timestamps from epoch milliseconds (`2026-11-23T02:04:05.123Z`).
//!
//! Owns: date formatting and parsing for the wire. Must never: read the clock (time comes
//! through the `Clock` port).

/// Formats epoch milliseconds as an ISO-8601 UTC timestamp with milliseconds.
pub fn iso8601(ms: f64) -> String {
    let mut out = String::with_capacity(24);
    push_iso8601(&mut out, ms);
    out
}

/// Appends the ISO-8601 form of `ms` to `out`. Out-of-range inputs are clamped to
/// 1970..=9999 so the output is always well-formed.
pub fn push_iso8601(out: &mut String, ms: f64) {
    let ms = if ms.is_finite() { ms.clamp(0.0, 253_402_300_799_999.0) } else { 0.0 } as i64;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    push_digits(out, y, 4);
    out.push('-');
    push_digits(out, m, 2);
    out.push('-');
    push_digits(out, d, 2);
    out.push('T');
    push_digits(out, h, 2);
    out.push(':');
    push_digits(out, mi, 2);
    out.push(':');
    push_digits(out, s, 2);
    out.push('.');
    push_digits(out, milli, 3);
    out.push('Z');
}

fn push_digits(out: &mut String, v: i64, width: u32) {
    let mut div = 10i64.pow(width - 1);
    while div > 0 {
        out.push((b'0' + (v / div % 10) as u8) as char);
        div /= 10;
    }
}

/// Howard Hinnant's days → civil date algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_399_445_123.0), "2026-11-23T02:04:05.123Z");
        assert_eq!(iso8601(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(f64::NAN), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(-5.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1e20), "9999-12-31T23:59:59.999Z");
    }
}
