//! The hybrid-app bridge protocol: versioned JSON messages between the web view and the
//! native app, so both share one identity, session, consent choice and cart.
//!
//! Owns: the message format. Every message is one JSON object with `"omnitrail": 1` (the
//! protocol version) and a `type`:
//! - `identity` `{anonymousId, userId|null}`: web → app when it changes (identify, alias,
//!   reset, setAnonymousId); app → web to adopt.
//! - `session` `{sessionId, lastActivity}` (ms): web → app when a session starts and when the
//!   page is hidden; app → web to continue the app's session (the more recent one wins).
//! - `consent` `{preferences: {category: bool}}`: web → app after every choice made in the web
//!   view; app → web to apply a choice made in the app.
//! - `cart` `{state}`: web → app after every cart change the app has not seen; app → web to
//!   merge. `state` is the cart CRDT's text (`Cart::encode`), opaque to the app.
//! - `batch` `{body}`: web → app only, with `nativeEvents: true`: a Segment batch body the app
//!   delivers (native batching) instead of the web view.
//!
//! App → web: `window.omnitrailNative = {anonymousId, userId, sessionId, lastActivity,
//! consent, cart}` before the SDK starts, and `window.omnitrailReceive(message)` any time.
//! Must never: carry traits or event properties except in `batch` (the rest is shared state).

use crate::json::{push_key, push_str};

/// Protocol version carried in every message.
pub const VERSION: u32 = 1;

/// The identity message for the native side.
pub fn identity_message(anonymous_id: &str, user_id: Option<&str>) -> String {
    let mut m = String::with_capacity(96);
    open(&mut m, "identity");
    push_key(&mut m, "anonymousId");
    push_str(&mut m, anonymous_id);
    m.push(',');
    push_key(&mut m, "userId");
    match user_id {
        Some(u) => push_str(&mut m, u),
        None => m.push_str("null"),
    }
    m.push('}');
    m
}

/// The cart message for the native side.
pub fn cart_message(state: &str) -> String {
    let mut m = String::with_capacity(state.len() + 48);
    open(&mut m, "cart");
    push_key(&mut m, "state");
    push_str(&mut m, state);
    m.push('}');
    m
}

fn open(m: &mut String, kind: &str) {
    m.push_str("{\"omnitrail\":1,\"type\":");
    push_str(m, kind);
    m.push(',');
}

/// The session message: its id (start, ms) and last activity (ms).
pub fn session_message(id: f64, last: f64) -> String {
    let mut m = String::with_capacity(96);
    open(&mut m, "session");
    push_key(&mut m, "sessionId");
    crate::json::push_u64(&mut m, id as u64);
    m.push(',');
    push_key(&mut m, "lastActivity");
    crate::json::push_u64(&mut m, last as u64);
    m.push('}');
    m
}

/// The consent message; `preferences` is the JSON object of the choices.
pub fn consent_message(preferences: &str) -> String {
    let mut m = String::with_capacity(preferences.len() + 56);
    open(&mut m, "consent");
    push_key(&mut m, "preferences");
    m.push_str(preferences);
    m.push('}');
    m
}

/// A batch for the app to deliver; `body` is the batch body (JSON object text).
pub fn batch_message(body: &str) -> String {
    let mut m = String::with_capacity(body.len() + 44);
    open(&mut m, "batch");
    push_key(&mut m, "body");
    m.push_str(body);
    m.push('}');
    m
}

/// A message from the native app.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// The app's cart state, to merge.
    Cart(String),
    /// The app's identity (`anonymousId`, `userId`), to adopt.
    Identity { anonymous_id: Option<String>, user_id: Option<String> },
    /// The app's session, to continue if more recent.
    Session { id: f64, last: f64 },
    /// A consent choice made in the app.
    Consent(Vec<(String, bool)>),
}

/// `{"analytics": true, …}` as choices; `None` unless every value is a boolean.
pub fn parse_choices(object: &str) -> Option<Vec<(String, bool)>> {
    let members = crate::json::members(object)?;
    members
        .into_iter()
        .take(32)
        .map(|(k, v)| {
            let granted = match v {
                "true" => true,
                "false" => false,
                _ => return None,
            };
            let name = crate::json::string_value(k).filter(|n| crate::consent::valid_category(n))?;
            Some((name, granted))
        })
        .collect()
}

/// Why a native message was not understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BridgeError {
    NotJson,
    /// `omnitrail` is missing or another version.
    Version,
    /// A `type` this version does not know, or a member of the wrong type.
    Unknown,
}

impl BridgeError {
    /// The console warning (also the `Display` text).
    pub fn message(self) -> &'static str {
        match self {
            BridgeError::NotJson => "omnitrail: native message is not a JSON object; ignored",
            BridgeError::Version => "omnitrail: native message lacks \"omnitrail\":1 (protocol version); ignored",
            BridgeError::Unknown => "omnitrail: native message has an unknown type or malformed members; ignored",
        }
    }
}

impl core::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

/// Parses a message from the native app (JSON object text).
pub fn parse(text: &str) -> Result<Incoming, BridgeError> {
    let members = crate::json::members(text).ok_or(BridgeError::NotJson)?;
    let get = |name: &str| members.iter().find(|(k, _)| k.get(1..k.len() - 1) == Some(name)).map(|(_, v)| *v);
    if get("omnitrail").and_then(crate::json::parse_decimal) != Some(f64::from(VERSION)) {
        return Err(BridgeError::Version);
    }
    let string = |name: &str| -> Result<Option<String>, BridgeError> {
        match get(name) {
            None | Some("null") => Ok(None),
            Some(v) => crate::json::string_value(v).map(Some).ok_or(BridgeError::Unknown),
        }
    };
    let number =
        |name: &str| get(name).and_then(crate::json::parse_decimal).filter(|n| n.is_finite() && *n > 0.0).ok_or(BridgeError::Unknown);
    match string("type")?.as_deref() {
        Some("cart") => string("state")?.map(Incoming::Cart).ok_or(BridgeError::Unknown),
        Some("identity") => Ok(Incoming::Identity { anonymous_id: string("anonymousId")?, user_id: string("userId")? }),
        Some("session") => Ok(Incoming::Session { id: number("sessionId")?, last: number("lastActivity")? }),
        Some("consent") => get("preferences").and_then(parse_choices).map(Incoming::Consent).ok_or(BridgeError::Unknown),
        _ => Err(BridgeError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_messages_round_trip_and_bad_ones_are_named() {
        let m = cart_message("C1\t5\nv\tr\t1\t5\n");
        assert_eq!(parse(&m), Ok(Incoming::Cart("C1\t5\nv\tr\t1\t5\n".into())));
        let id = identity_message("a-1", Some("u"));
        assert_eq!(parse(&id), Ok(Incoming::Identity { anonymous_id: Some("a-1".into()), user_id: Some("u".into()) }));
        assert_eq!(parse("nope"), Err(BridgeError::NotJson));
        assert_eq!(parse(r#"{"type":"cart","state":"x"}"#), Err(BridgeError::Version));
        assert_eq!(parse(r#"{"omnitrail":2,"type":"cart","state":"x"}"#), Err(BridgeError::Version));
        assert_eq!(parse(r#"{"omnitrail":1,"type":"teleport"}"#), Err(BridgeError::Unknown));
        assert_eq!(parse(r#"{"omnitrail":1,"type":"cart","state":5}"#), Err(BridgeError::Unknown));
        assert_eq!(parse(r#"{"omnitrail":1,"type":"cart"}"#), Err(BridgeError::Unknown));
    }

    #[test]
    fn session_consent_and_batch_messages() {
        let m = session_message(1_700_000_000_000.0, 1_700_000_060_000.0);
        assert_eq!(m, r#"{"omnitrail":1,"type":"session","sessionId":1700000000000,"lastActivity":1700000060000}"#);
        assert_eq!(parse(&m), Ok(Incoming::Session { id: 1_700_000_000_000.0, last: 1_700_000_060_000.0 }));
        let c = consent_message(r#"{"necessary":true,"analytics":false}"#);
        assert_eq!(parse(&c), Ok(Incoming::Consent(vec![("necessary".into(), true), ("analytics".into(), false)])));
        assert_eq!(parse(r#"{"omnitrail":1,"type":"consent","preferences":{"analytics":"yes"}}"#), Err(BridgeError::Unknown));
        assert_eq!(parse(r#"{"omnitrail":1,"type":"session","sessionId":-5,"lastActivity":1}"#), Err(BridgeError::Unknown));
        let b = batch_message(r#"{"batch":[],"writeKey":"k"}"#);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["body"]["writeKey"], "k");
        assert_eq!(v["type"], "batch");
    }

    #[test]
    fn identity_message_is_versioned_json() {
        let m = super::identity_message("a\"1", None);
        assert_eq!(m, r#"{"omnitrail":1,"type":"identity","anonymousId":"a\"1","userId":null}"#);
        let v: serde_json::Value = serde_json::from_str(&super::identity_message("a", Some("u"))).unwrap();
        assert_eq!(v["userId"], "u");
        assert_eq!(v["omnitrail"], super::VERSION);
    }
}
