//! Ports: the only ways the core learns the time, gets fresh ids and reads or writes persisted
//! state. The browser layer implements them with `Date.now()`, `crypto.getRandomValues` and
//! localStorage; tests use the fakes in [`crate::testing`].
//!
//! Must never: be implemented in the core with the system clock (`SystemTime`) or getrandom (both fail on
//! wasm32-unknown-unknown).

use crate::error::StorageError;

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// Fresh randomness: message ids, anonymous ids, tab ids, retry jitter.
pub trait IdSource {
    /// A random (version 4) UUID in canonical lowercase form.
    fn uuid(&mut self) -> String;
    /// A uniformly random number in `[0, 1)` (used for backoff jitter).
    fn unit(&mut self) -> f64;
}

/// Attributes of a first-party cookie the SDK writes. `Path=/` and `SameSite=Lax` always;
/// `Secure` is added by the browser adapter on https.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieSpec<'a> {
    /// `Domain=`; `None` writes a host-only cookie (localhost, bare IPs).
    pub domain: Option<&'a str>,
    /// `Max-Age=` in seconds; 0 deletes.
    pub max_age_s: u64,
}

/// First-party persisted state: a string key/value store (localStorage) and cookies. Every
/// call may fail; the core degrades to memory when it does.
pub trait Storage {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError>;
    fn remove(&mut self, key: &str);
    /// All keys that start with `prefix` (order unspecified).
    fn keys(&self, prefix: &str) -> Vec<String>;
    /// The value of the cookie `name` visible to this page, if any.
    fn cookie(&self, _name: &str) -> Option<String> {
        None
    }
    /// Writes a cookie; returns true if it reads back with `value` afterwards (the browser
    /// silently refuses cookies on a public suffix or a foreign domain).
    fn set_cookie(&mut self, _name: &str, _value: &str, _spec: &CookieSpec<'_>) -> bool {
        false
    }
}

/// Formats 16 random bytes as a version-4 UUID.
pub fn uuid_from_bytes(b: [u8; 16]) -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Builder::from_random_bytes(b).into_uuid().hyphenated().encode_lower(&mut buf).into()
}

/// True when `s` is a canonical hyphenated UUID (8-4-4-4-12 hex digits): 36 characters, so the
/// simple, braced and URN forms `Uuid::try_parse` also reads are refused.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::{is_uuid, uuid_from_bytes};

    #[test]
    fn ids_are_version_4_and_canonical() {
        let id = uuid_from_bytes([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid_from_bytes([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert!(is_uuid(&id));
    }

    #[test]
    fn only_the_hyphenated_form_is_a_uuid() {
        assert!(is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
        for s in [
            "0f8fad5bd9cb469fa16570867728950e",
            "{0f8fad5b-d9cb-469f-a165-70867728950e}",
            "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "0f8fad5b-d9cb-469f-a165-70867728950g",
            "0f8fad5b+d9cb-469f-a165-70867728950e",
            "",
        ] {
            assert!(!is_uuid(s), "{s}");
        }
    }
}
