//! Ports: the only ways the core learns the time, gets fresh ids and reads or writes persisted
//! state. The browser layer implements them with `Date.now()`, `crypto.getRandomValues` and
//! localStorage; tests use the fakes in [`crate::testing`].
//!
//! Must never: be implemented in the core with `SystemTime::now()` or getrandom (both fail on
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

/// A string key/value store. Every call may fail; the core degrades to memory when it does.
pub trait Storage {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError>;
    fn remove(&mut self, key: &str);
    /// All keys that start with `prefix` (order unspecified).
    fn keys(&self, prefix: &str) -> Vec<String>;
}

/// Formats 16 random bytes as a version-4 UUID.
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
