//! Timestamps: parsing the ISO-8601 strings clients send, and formatting the UTC strings the
//! collector stores (fixed width, millisecond precision, so they sort as text).
//!
//! Owns: the accepted timestamp syntax and the stored format. Must never: read the clock
//! (callers pass `now` in), panic on any input string.

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, UtcOffset};

/// Parses an ISO-8601 / RFC 3339 timestamp with an explicit offset (`Z` or `±hh:mm`).
/// Timestamps without an offset are ambiguous and rejected.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    if s.len() > 64 {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .ok()
}

/// `2024-05-01T12:00:00.123Z`.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Segment's skew correction: `timestamp + (receivedAt - sentAt)`; the timestamp unchanged when
/// the client sent no (valid) `sentAt`. Saturates instead of overflowing on absurd inputs.
pub fn corrected(timestamp: OffsetDateTime, sent_at: Option<OffsetDateTime>, received_at: OffsetDateTime) -> OffsetDateTime {
    match sent_at {
        Some(sent) => timestamp.checked_add(received_at - sent).unwrap_or(timestamp),
        None => timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = parse("2024-05-01T12:00:00.123Z").unwrap();
        assert_eq!(format(t), "2024-05-01T12:00:00.123Z");
        let t = parse("2024-05-01T14:00:00+02:00").unwrap();
        assert_eq!(format(t), "2024-05-01T12:00:00.000Z");
        assert!(parse("2024-05-01T12:00:00").is_none());
        assert!(parse("yesterday").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn corrects_skew() {
        let ts = parse("2024-05-01T12:00:00Z").unwrap();
        let sent = parse("2024-05-01T12:00:10Z").unwrap(); // client clock 10 s behind...
        let recv = parse("2024-05-01T12:00:20Z").unwrap(); // ...the server's
        assert_eq!(format(corrected(ts, Some(sent), recv)), "2024-05-01T12:00:10.000Z");
        assert_eq!(corrected(ts, None, recv), ts);
    }
}
