//! The hybrid-app bridge protocol: versioned JSON messages between the web view and the
//! native app.
//!
//! Owns: the message format. Every message is one JSON object with `"omnitrail": 1` (the
//! protocol version) and a `type`. Web → native, sent when the identity changes (identify,
//! alias, reset, setAnonymousId):
//! `{"omnitrail":1,"type":"identity","anonymousId":"…","userId":"…"|null}`.
//! Native → web identity before the SDK starts: `window.omnitrailNative = {anonymousId, userId}`.
//!
//! The cart both ways: web → native after every cart change not learnt from the app,
//! `{"omnitrail":1,"type":"cart","state":"<encoded cart>"}`; native → web the same message,
//! given to `window.omnitrailReceive(message)` (a JSON string or an object), or as
//! `omnitrailNative.cart` (the encoded state) before the SDK starts. The state is the cart
//! CRDT's text form (`Cart::encode`): the app keeps the latest it received and hands it back,
//! and whichever side merges never loses a line the other added.
//! Must never: carry traits or event properties (the bridge is for shared state).

use crate::json::{push_key, push_str};

/// Protocol version carried in every message.
pub const VERSION: u32 = 1;

/// The identity message for the native side.
pub fn identity_message(anonymous_id: &str, user_id: Option<&str>) -> String {
    let mut m = String::with_capacity(96);
    m.push_str("{\"omnitrail\":1,\"type\":\"identity\",");
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
    m.push_str("{\"omnitrail\":1,\"type\":\"cart\",");
    push_key(&mut m, "state");
    push_str(&mut m, state);
    m.push('}');
    m
}

/// A message from the native app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// The app's cart state, to merge.
    Cart(String),
    /// The app's identity (`anonymousId`, `userId`), to adopt.
    Identity { anonymous_id: Option<String>, user_id: Option<String> },
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

impl core::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BridgeError::NotJson => "omnitrail: native message is not a JSON object; ignored",
            BridgeError::Version => "omnitrail: native message lacks \"omnitrail\":1 (protocol version); ignored",
            BridgeError::Unknown => "omnitrail: native message has an unknown type or malformed members; ignored",
        })
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
    match string("type")?.as_deref() {
        Some("cart") => string("state")?.map(Incoming::Cart).ok_or(BridgeError::Unknown),
        Some("identity") => Ok(Incoming::Identity { anonymous_id: string("anonymousId")?, user_id: string("userId")? }),
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
    fn identity_message_is_versioned_json() {
        let m = super::identity_message("a\"1", None);
        assert_eq!(m, r#"{"omnitrail":1,"type":"identity","anonymousId":"a\"1","userId":null}"#);
        let v: serde_json::Value = serde_json::from_str(&super::identity_message("a", Some("u"))).unwrap();
        assert_eq!(v["userId"], "u");
        assert_eq!(v["omnitrail"], super::VERSION);
    }
}
