//! The hybrid-app bridge protocol: versioned JSON messages between the web view and the
//! native app.
//!
//! Owns: the message format. Every message is one JSON object with `"omnitrail": 1` (the
//! protocol version) and a `type`. Web → native, sent when the identity changes (identify,
//! alias, reset, setAnonymousId):
//! `{"omnitrail":1,"type":"identity","anonymousId":"…","userId":"…"|null}`.
//! Native → web identity before the SDK starts: `window.omnitrailNative = {anonymousId, userId}`.
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

#[cfg(test)]
mod tests {
    #[test]
    fn identity_message_is_versioned_json() {
        let m = super::identity_message("a\"1", None);
        assert_eq!(m, r#"{"omnitrail":1,"type":"identity","anonymousId":"a\"1","userId":null}"#);
        let v: serde_json::Value = serde_json::from_str(&super::identity_message("a", Some("u"))).unwrap();
        assert_eq!(v["userId"], "u");
        assert_eq!(v["omnitrail"], super::VERSION);
    }
}
