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
#[allow(clippy::indexing_slicing)] // a nibble (0..=15) indexes the 16-byte HEX table
pub fn uuid_from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(byte >> 4) as usize] as char);
        s.push(HEX[(byte & 0xf) as usize] as char);
    }
    s
}

/// True when `s` is a canonical UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}
