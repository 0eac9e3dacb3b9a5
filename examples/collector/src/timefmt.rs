//! Timestamps: parsing the ISO-8601 strings clients send, and formatting the UTC strings the
//! collector stores (fixed width, millisecond precision, so they sort as text).
//!
//! Every time the collector keeps lies in [`MIN`]..=[`MAX`] (years 0001–9999 in UTC): that is
//! the range the stored format can write. [`parse`] refuses a time outside it (a client's
//! `9999-12-31T23:59:59-01:00` is year 10000 in UTC), [`corrected`] never leaves it, and
//! [`format`] clamps rather than panics if a caller ever hands it one.
//!
//! Owns: the accepted timestamp syntax and range, and the stored format. Must never: read the
//! clock (callers pass `now` in, except [`now`] itself), panic on any input string or time.

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

/// The earliest time stored: `0001-01-01T00:00:00.000Z`.
pub const MIN: OffsetDateTime = datetime!(0001-01-01 00:00:00 UTC);
/// The latest time stored: `9999-12-31T23:59:59.999Z`.
pub const MAX: OffsetDateTime = datetime!(9999-12-31 23:59:59.999 UTC);

/// Why a timestamp string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// Not ISO-8601 / RFC 3339 with an explicit offset (or longer than 64 bytes).
    Syntax,
    /// Well-formed, but outside years 0001–9999 once converted to UTC.
    OutOfRange,
}

/// Parses an ISO-8601 / RFC 3339 timestamp with an explicit offset (`Z` or `±hh:mm`) into a
/// UTC time within [`MIN`]..=[`MAX`]. Timestamps without an offset are ambiguous and refused.
pub fn parse(s: &str) -> Result<OffsetDateTime, TimeError> {
    if s.len() > 64 {
        return Err(TimeError::Syntax);
    }
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .map_err(|_| TimeError::Syntax)?;
    in_range(t).ok_or(TimeError::OutOfRange)
}

/// `t` in UTC if it lies within [`MIN`]..=[`MAX`].
fn in_range(t: OffsetDateTime) -> Option<OffsetDateTime> {
    let utc = t.checked_to_offset(UtcOffset::UTC)?;
    (MIN..=MAX).contains(&utc).then_some(utc)
}

/// `2024-05-01T12:00:00.123Z`. A time outside [`MIN`]..=[`MAX`] is written as the nearest
/// bound (callers only pass times from [`parse`], [`corrected`] and [`now`], which are inside).
pub fn format(t: OffsetDateTime) -> String {
    let t = in_range(t).unwrap_or(if t < MIN { MIN } else { MAX });
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
/// the client sent no (valid) `sentAt`, or when the correction would leave [`MIN`]..=[`MAX`].
pub fn corrected(timestamp: OffsetDateTime, sent_at: Option<OffsetDateTime>, received_at: OffsetDateTime) -> OffsetDateTime {
    sent_at
        .and_then(|sent| timestamp.checked_add(received_at - sent))
        .and_then(in_range)
        .unwrap_or(timestamp)
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
        assert_eq!(parse("2024-05-01T12:00:00"), Err(TimeError::Syntax));
        assert_eq!(parse("yesterday"), Err(TimeError::Syntax));
        assert_eq!(parse(""), Err(TimeError::Syntax));
    }

    #[test]
    fn refuses_times_that_leave_the_stored_range_in_utc() {
        assert_eq!(parse("9999-12-31T23:59:59-01:00"), Err(TimeError::OutOfRange));
        assert_eq!(parse("0001-01-01T00:30:00+01:00"), Err(TimeError::OutOfRange));
        assert_eq!(format(parse("9999-12-31T23:59:59.999Z").unwrap()), "9999-12-31T23:59:59.999Z");
        assert_eq!(format(parse("9999-12-31T23:59:59+00:00").unwrap()), "9999-12-31T23:59:59.000Z");
        assert_eq!(format(parse("0001-01-01T00:00:00Z").unwrap()), "0001-01-01T00:00:00.000Z");
        assert_eq!(format(parse("0001-01-01T23:00:00+22:00").unwrap()), "0001-01-01T01:00:00.000Z");
    }

    #[test]
    fn format_clamps_instead_of_panicking() {
        let beyond = datetime!(9999-12-31 23:59:59 -01:00);
        assert_eq!(format(beyond), "9999-12-31T23:59:59.999Z");
        let before = datetime!(0001-01-01 00:00:00 +01:00);
        assert_eq!(format(before), "0001-01-01T00:00:00.000Z");
    }

    #[test]
    fn corrects_skew() {
        let ts = parse("2024-05-01T12:00:00Z").unwrap();
        let sent = parse("2024-05-01T12:00:10Z").unwrap(); // client clock 10 s behind...
        let recv = parse("2024-05-01T12:00:20Z").unwrap(); // ...the server's
        assert_eq!(format(corrected(ts, Some(sent), recv)), "2024-05-01T12:00:10.000Z");
        assert_eq!(corrected(ts, None, recv), ts);
    }

    #[test]
    fn skew_correction_never_leaves_the_range() {
        let recv = parse("2024-05-01T12:00:00Z").unwrap();
        let late = parse("9999-12-31T23:59:00Z").unwrap();
        let sent_long_ago = parse("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(corrected(late, Some(sent_long_ago), recv), late, "pushed past 9999: uncorrected");
        let early = parse("0001-01-01T00:00:10Z").unwrap();
        let sent_far_ahead = parse("9999-12-31T23:59:59Z").unwrap();
        assert_eq!(corrected(early, Some(sent_far_ahead), recv), early, "pushed before 0001: uncorrected");
    }
}
