//! Validation of one Segment message against the spec, producing either a [`ValidMessage`]
//! (the raw JSON kept verbatim plus the columns the store indexes) or a typed [`Rejection`].
//!
//! Owns: what makes a message acceptable (known type, `messageId`, one of `userId` /
//! `anonymousId`, ISO timestamp, the type's required fields from `omnitrail::wire`, 32 KB).
//! Must never: panic on any input, do I/O, or modify the raw JSON it was given.

use omnitrail::wire::{Message, MessageType, MAX_MESSAGE_BYTES};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::timefmt;

/// Longest accepted `messageId` / `userId` / `anonymousId`.
pub const MAX_ID_CHARS: usize = 256;

/// A message that passed validation.
#[derive(Clone, Debug)]
pub struct ValidMessage {
    /// The message's JSON exactly as received.
    pub raw: String,
    pub kind: MessageType,
    pub message_id: String,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    /// `event` of a track.
    pub event: Option<String>,
    /// `name` of a page / screen.
    pub name: Option<String>,
    /// `previousId` of an alias.
    pub previous_id: Option<String>,
    /// `context.sessionId` (a number in ms from the Omnitrail SDK; strings kept as is).
    pub session_id: Option<String>,
    pub timestamp: OffsetDateTime,
    /// The touchpoint the message was tracked under (`context.omnitrail.touch`, sent by the
    /// Omnitrail SDK on every message), if it carries a well-formed one.
    pub touch: Option<Touch>,
    /// `context.consent.categoryPreferences` (`analytics`, `marketing`), when the message says.
    pub consent: Consent,
}

/// What the visitor allowed, as the message says (`None`: not said).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    pub analytics: Option<bool>,
    pub marketing: Option<bool>,
}

impl Consent {
    pub fn of(context: &Map<String, Value>) -> Consent {
        let prefs = context.get("consent").and_then(|c| c.get("categoryPreferences"));
        let flag = |k: &str| prefs.and_then(|p| p.get(k)).and_then(Value::as_bool);
        Consent { analytics: flag("analytics"), marketing: flag("marketing") }
    }

    pub fn is_known(&self) -> bool {
        self.analytics.is_some() || self.marketing.is_some()
    }
}

/// A marketing touch: when it began, its channel, and its campaign (the marketer views read
/// these rows, not the raw JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The client's time (the store applies the batch's skew correction, as to `timestamp`).
    pub at: OffsetDateTime,
    pub channel: String,
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
}

/// Longest channel / campaign field kept from a touch.
const MAX_TOUCH_FIELD: usize = 200;

/// `context.omnitrail.touch` → [`Touch`]: `at` must be a valid time and `channel` a short
/// non-empty string; campaign fields that are not short strings are dropped. A touch without
/// `campaign` has the message's `context.campaign` (the SDK leaves out the copy).
pub fn touch_of(context: &Map<String, Value>) -> Option<Touch> {
    let t = context.get("omnitrail")?.get("touch")?;
    let short = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= MAX_TOUCH_FIELD).map(str::to_string);
    let at = timefmt::parse(t.get("at")?.as_str()?).ok()?;
    let channel = short(t.get("channel"))?;
    let campaign = t.get("campaign").or_else(|| context.get("campaign"));
    Some(Touch {
        at,
        channel,
        source: short(campaign.and_then(|c| c.get("source"))),
        medium: short(campaign.and_then(|c| c.get("medium"))),
        campaign: short(campaign.and_then(|c| c.get("name"))),
    })
}

/// Why a message was rejected. `code()` is the stable machine-readable reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    NotAnObject,
    MessageTooLarge { bytes: usize },
    MissingType,
    UnknownType(String),
    /// `type` disagrees with the single-message endpoint it was posted to.
    TypeMismatch { expected: &'static str, got: String },
    MissingMessageId,
    InvalidMessageId,
    MissingIdentity,
    InvalidIdentity(&'static str),
    MissingTimestamp,
    InvalidTimestamp(String),
    /// Well-formed, but outside years 0001–9999 in UTC (the range the store can keep).
    TimestampOutOfRange(String),
    MissingField { kind: &'static str, field: &'static str },
    Malformed(String),
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotAnObject => "not_an_object",
            Rejection::MessageTooLarge { .. } => "message_too_large",
            Rejection::MissingType => "missing_type",
            Rejection::UnknownType(_) => "unknown_type",
            Rejection::TypeMismatch { .. } => "type_mismatch",
            Rejection::MissingMessageId => "missing_message_id",
            Rejection::InvalidMessageId => "invalid_message_id",
            Rejection::MissingIdentity => "missing_identity",
            Rejection::InvalidIdentity(_) => "invalid_identity",
            Rejection::MissingTimestamp => "missing_timestamp",
            Rejection::InvalidTimestamp(_) => "invalid_timestamp",
            Rejection::TimestampOutOfRange(_) => "timestamp_out_of_range",
            Rejection::MissingField { .. } => "missing_required_field",
            Rejection::Malformed(_) => "malformed_message",
        }
    }

    /// Every code, for metrics that should show zero counts too.
    pub const CODES: [&'static str; 14] = [
        "not_an_object",
        "message_too_large",
        "missing_type",
        "unknown_type",
        "type_mismatch",
        "missing_message_id",
        "invalid_message_id",
        "missing_identity",
        "invalid_identity",
        "missing_timestamp",
        "invalid_timestamp",
        "timestamp_out_of_range",
        "missing_required_field",
        "malformed_message",
    ];

    pub fn detail(&self) -> String {
        match self {
            Rejection::NotAnObject => "message is not a JSON object".into(),
            Rejection::MessageTooLarge { bytes } => {
                format!("message is {bytes} bytes, limit is {MAX_MESSAGE_BYTES}")
            }
            Rejection::MissingType => "missing \"type\"".into(),
            Rejection::UnknownType(t) => format!("unknown type {:?}", truncate(t)),
            Rejection::TypeMismatch { expected, got } => {
                format!("type {:?} posted to the {expected} endpoint", truncate(got))
            }
            Rejection::MissingMessageId => "missing \"messageId\"".into(),
            Rejection::InvalidMessageId => {
                format!("\"messageId\" must be a non-empty string of at most {MAX_ID_CHARS} characters")
            }
            Rejection::MissingIdentity => "one of \"userId\" / \"anonymousId\" is required".into(),
            Rejection::InvalidIdentity(f) => {
                format!("{f:?} must be a string of at most {MAX_ID_CHARS} characters")
            }
            Rejection::MissingTimestamp => "missing \"timestamp\"".into(),
            Rejection::InvalidTimestamp(t) => {
                format!("timestamp {:?} is not ISO-8601 with an offset", truncate(t))
            }
            Rejection::TimestampOutOfRange(t) => {
                format!("timestamp {:?} is outside years 0001-9999 in UTC", truncate(t))
            }
            Rejection::MissingField { kind, field } => format!("{kind} requires {field:?}"),
            Rejection::Malformed(e) => format!("malformed message: {}", truncate(e)),
        }
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Validates one message given as its raw JSON text.
pub fn validate(raw: &str) -> Result<ValidMessage, Rejection> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(Rejection::MessageTooLarge { bytes: raw.len() });
    }
    let msg: Message = match serde_json::from_str(raw) {
        Ok(m) => m,
        Err(e) => return Err(diagnose(raw, e)),
    };
    let kind = MessageType::parse(&msg.kind).ok_or_else(|| Rejection::UnknownType(msg.kind.clone()))?;
    if msg.message_id.is_empty() || msg.message_id.chars().count() > MAX_ID_CHARS {
        return Err(Rejection::InvalidMessageId);
    }
    let anonymous_id = non_empty(msg.anonymous_id.as_deref());
    let user_id = non_empty(msg.user_id.as_deref());
    for (field, v) in [("anonymousId", &anonymous_id), ("userId", &user_id)] {
        if v.as_ref().is_some_and(|s| s.chars().count() > MAX_ID_CHARS) {
            return Err(Rejection::InvalidIdentity(field));
        }
    }
    if anonymous_id.is_none() && user_id.is_none() {
        return Err(Rejection::MissingIdentity);
    }
    // `timestamp` is optional in the Segment spec: fall back to `originalTimestamp` (what
    // RudderStack sends), then to the time of receipt.
    let timestamp = if msg.timestamp.is_empty() {
        match msg.rest.get("originalTimestamp") {
            Some(Value::String(t)) => parse_time(t)?,
            Some(Value::Null) | None => timefmt::now(),
            Some(other) => return Err(Rejection::InvalidTimestamp(other.to_string())),
        }
    } else {
        parse_time(&msg.timestamp)?
    };
    for field in kind.required_fields() {
        if !field_present(&msg, field) {
            return Err(Rejection::MissingField { kind: kind.as_str(), field });
        }
    }
    let session_id = match msg.context.get("sessionId") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let text = |name: &str| msg.rest.get(name).and_then(Value::as_str).map(str::to_string);
    Ok(ValidMessage {
        raw: raw.to_string(),
        kind,
        message_id: msg.message_id.clone(),
        anonymous_id,
        user_id,
        event: if kind == MessageType::Track { text("event") } else { None },
        name: if matches!(kind, MessageType::Page | MessageType::Screen) { text("name") } else { None },
        previous_id: if kind == MessageType::Alias { scalar_text(msg.rest.get("previousId")) } else { None },
        session_id,
        timestamp,
        touch: touch_of(&msg.context),
        consent: Consent::of(&msg.context),
    })
}

fn parse_time(t: &str) -> Result<OffsetDateTime, Rejection> {
    timefmt::parse(t).map_err(|e| match e {
        timefmt::TimeError::Syntax => Rejection::InvalidTimestamp(t.to_string()),
        timefmt::TimeError::OutOfRange => Rejection::TimestampOutOfRange(t.to_string()),
    })
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

fn scalar_text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn field_present(msg: &Message, field: &str) -> bool {
    match field {
        "userId" => msg.user_id.as_deref().is_some_and(|s| !s.is_empty()),
        "anonymousId" => msg.anonymous_id.as_deref().is_some_and(|s| !s.is_empty()),
        "messageId" => !msg.message_id.is_empty(),
        "timestamp" => !msg.timestamp.is_empty(),
        other => match msg.rest.get(other) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        },
    }
}

/// Turns a failed typed parse into the most useful rejection, by looking at the generic JSON.
fn diagnose(raw: &str, err: serde_json::Error) -> Rejection {
    let map: Map<String, Value> = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Rejection::NotAnObject,
        Err(e) => return Rejection::Malformed(e.to_string()),
    };
    match map.get("type") {
        None | Some(Value::Null) => return Rejection::MissingType,
        Some(Value::String(t)) if MessageType::parse(t).is_none() => {
            return Rejection::UnknownType(t.clone())
        }
        Some(Value::String(_)) => {}
        Some(other) => return Rejection::UnknownType(other.to_string()),
    }
    match map.get("messageId") {
        None | Some(Value::Null) => return Rejection::MissingMessageId,
        Some(Value::String(_)) => {}
        Some(_) => return Rejection::InvalidMessageId,
    }
    for field in ["anonymousId", "userId"] {
        match map.get(field) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Rejection::InvalidIdentity(if field == "userId" { "userId" } else { "anonymousId" }),
        }
    }
    let has = |f: &str| map.get(f).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if !has("anonymousId") && !has("userId") {
        return Rejection::MissingIdentity;
    }
    match map.get("timestamp") {
        None | Some(Value::Null) => return Rejection::MissingTimestamp,
        Some(Value::String(_)) => {}
        Some(other) => return Rejection::InvalidTimestamp(other.to_string()),
    }
    Rejection::Malformed(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2024-05-01T12:00:00.000Z";

    fn reason(raw: &str) -> &'static str {
        validate(raw).map(|_| "ok").unwrap_or_else(|r| r.code())
    }

    #[test]
    fn a_touch_without_campaign_has_the_messages_campaign() {
        let touch = |ctx: &str| validate(&format!(r#"{{"type":"track","event":"E","messageId":"m1","anonymousId":"a","timestamp":"{TS}","context":{ctx}}}"#)).unwrap().touch.unwrap();
        let c = r#""campaign":{"source":"news","medium":"email","name":"winter"}"#;
        let t = r#""omnitrail":{"touch":{"channel":"email","at":"2024-05-01T11:00:00.000Z""#;
        let left_out = touch(&format!("{{{c},{t}}}}}}}"));
        let written = touch(&format!("{{{c},{t},{c}}}}}}}"));
        assert_eq!(left_out, written);
        assert_eq!(left_out.campaign.as_deref(), Some("winter"));
        // An explicit empty campaign is the touch's own (e.g. direct, on a page with UTMs).
        assert_eq!(touch(&format!(r#"{{{c},{t},"campaign":{{}}}}}}}}"#)).source, None);
    }

    /// The SDK's golden fixtures leave out a touch campaign equal to `context.campaign`: the
    /// collector reads the same touch as from the message with the copy written out.
    #[test]
    fn golden_fixtures_give_the_touch_of_the_full_message() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        for name in ["page", "track", "screen", "identify", "group", "alias", "conversion"] {
            let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
            let lean: Value = serde_json::from_str(&text).unwrap();
            assert!(lean["context"]["omnitrail"]["touch"].get("campaign").is_none(), "{name}: the copy is left out");
            let mut full = lean.clone();
            full["context"]["omnitrail"]["touch"]["campaign"] = lean["context"]["campaign"].clone();
            let touch = |v: &Value| validate(&v.to_string()).unwrap().touch.unwrap();
            assert_eq!(touch(&lean), touch(&full), "{name}");
            assert_eq!(touch(&lean).campaign.as_deref(), Some("winter"), "{name}");
        }
    }

    #[test]
    fn accepts_each_type_with_its_fields() {
        let ok = [
            format!(r#"{{"type":"track","event":"Signed Up","messageId":"m1","anonymousId":"a","timestamp":"{TS}"}}"#),
            format!(r#"{{"type":"page","messageId":"m1","userId":"u","timestamp":"{TS}"}}"#),
            format!(r#"{{"type":"screen","messageId":"m1","userId":"u","timestamp":"{TS}"}}"#),
            format!(r#"{{"type":"identify","messageId":"m1","userId":"u","anonymousId":"a","timestamp":"{TS}","traits":{{}}}}"#),
            format!(r#"{{"type":"group","groupId":"g","messageId":"m1","userId":"u","timestamp":"{TS}"}}"#),
            format!(r#"{{"type":"alias","previousId":"a","messageId":"m1","userId":"u","timestamp":"{TS}"}}"#),
        ];
        for raw in &ok {
            assert_eq!(reason(raw), "ok", "{raw}");
        }
        let m = validate(&format!(
            r#"{{"type":"track","event":"E","messageId":"m1","anonymousId":"a","timestamp":"{TS}","context":{{"sessionId":1714564800000}}}}"#
        ))
        .unwrap();
        assert_eq!(m.session_id.as_deref(), Some("1714564800000"));
        assert_eq!(m.event.as_deref(), Some("E"));
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let cases = [
            ("[]", "not_an_object"),
            ("{", "malformed_message"),
            (r#"{"messageId":"m","userId":"u","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_type"),
            (r#"{"type":"nope","messageId":"m","userId":"u","timestamp":"2024-05-01T12:00:00Z"}"#, "unknown_type"),
            (r#"{"type":"page","userId":"u","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_message_id"),
            (r#"{"type":"page","messageId":"","userId":"u","timestamp":"2024-05-01T12:00:00Z"}"#, "invalid_message_id"),
            (r#"{"type":"page","messageId":"m","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_identity"),
            (r#"{"type":"page","messageId":"m","userId":"","anonymousId":"","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_identity"),
            (r#"{"type":"page","messageId":"m","userId":5,"timestamp":"2024-05-01T12:00:00Z"}"#, "invalid_identity"),
            (r#"{"type":"page","messageId":"m","userId":"u","originalTimestamp":"later"}"#, "invalid_timestamp"),
            (r#"{"type":"page","messageId":"m","userId":"u","timestamp":"soon"}"#, "invalid_timestamp"),
            (r#"{"type":"page","messageId":"m","userId":"u","timestamp":12}"#, "invalid_timestamp"),
            (r#"{"type":"track","messageId":"m","userId":"u","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_required_field"),
            (r#"{"type":"track","event":"","messageId":"m","userId":"u","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_required_field"),
            (r#"{"type":"group","messageId":"m","userId":"u","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_required_field"),
            (r#"{"type":"alias","previousId":"p","messageId":"m","anonymousId":"a","timestamp":"2024-05-01T12:00:00Z"}"#, "missing_required_field"),
        ];
        for (raw, want) in cases {
            assert_eq!(reason(raw), want, "{raw}");
        }
        let big = format!(
            r#"{{"type":"page","messageId":"m","userId":"u","timestamp":"{TS}","properties":{{"x":"{}"}}}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(reason(&big), "message_too_large");
    }

    #[test]
    fn timestamp_is_optional_as_in_the_segment_spec() {
        let rudder = r#"{"type":"track","event":"E","messageId":"m","anonymousId":"a","originalTimestamp":"2024-05-01T12:00:00.000Z","sentAt":"2024-05-01T12:00:01.000Z"}"#;
        let v = validate(rudder).expect("originalTimestamp stands in for timestamp");
        assert_eq!(crate::timefmt::format(v.timestamp), "2024-05-01T12:00:00.000Z");
        let before = crate::timefmt::now();
        let bare = validate(r#"{"type":"page","messageId":"m","userId":"u"}"#).expect("no timestamp at all: the time of receipt");
        assert!(bare.timestamp >= before);
    }
}
