//! Fakes of the ports for tests: a manual clock, sequential ids, and an in-memory storage that
//! can be told to fail or to fill up. Public so that integration tests and the fuzz targets
//! use the same fakes; the wasm build drops them as dead code.
//!
//! Must never: be used by the SDK itself.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::StorageError;
use crate::ports::{uuid_from_bytes, Clock, CookieSpec, IdSource, Storage};

/// A clock that only moves when told to. Clones share the same time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Rc<Cell<f64>>);

impl ManualClock {
    pub fn at(ms: f64) -> ManualClock {
        ManualClock(Rc::new(Cell::new(ms)))
    }
    pub fn advance(&self, ms: f64) {
        self.0.set(self.0.get() + ms);
    }
    pub fn set(&self, ms: f64) {
        self.0.set(ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        self.0.get()
    }
}

/// Deterministic ids: UUIDs built from a counter and a seed; `unit()` cycles through a fixed
/// sequence unless set.
#[derive(Clone, Debug, Default)]
pub struct SeqIds {
    pub seed: u8,
    n: u64,
    /// When set, every `unit()` returns it.
    pub fixed_unit: Option<f64>,
}

impl SeqIds {
    pub fn seeded(seed: u8) -> SeqIds {
        SeqIds { seed, ..SeqIds::default() }
    }
}

impl IdSource for SeqIds {
    fn uuid(&mut self) -> String {
        self.n += 1;
        let mut b = [0u8; 16];
        b[0] = self.seed;
        b[8..16].copy_from_slice(&self.n.to_be_bytes());
        uuid_from_bytes(b)
    }
    fn unit(&mut self) -> f64 {
        self.n += 1;
        self.fixed_unit.unwrap_or((self.n % 10) as f64 / 10.0)
    }
}

/// How a [`MemoryStorage`] misbehaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageMode {
    #[default]
    Normal,
    /// Every write fails as `QuotaExceededError` would.
    Full,
    /// Every call fails (storage disabled); reads return nothing.
    Broken,
}

/// Suffixes the fake cookie jar treats as public (a browser uses the Public Suffix List).
pub const FAKE_PUBLIC_SUFFIXES: &[&str] = &["com", "co.uk", "uk", "test", "org", "github.io"];

#[derive(Debug, Default)]
struct Inner {
    map: BTreeMap<String, String>,
    /// name → (value, domain attribute or None for host-only)
    cookies: BTreeMap<String, (String, Option<String>)>,
    /// The page's host, for cookie domain checks.
    host: String,
    /// Every `Domain=` the SDK tried, accepted or not (to prove it never set one on a suffix).
    cookie_attempts: Vec<Option<String>>,
    mode: StorageMode,
    /// Total bytes (keys + values) accepted before writes fail as full.
    quota: Option<usize>,
    writes: u64,
}

/// In-memory storage. Clones share the same contents (like two tabs sharing localStorage).
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage(Rc<RefCell<Inner>>);

impl MemoryStorage {
    pub fn set_mode(&self, mode: StorageMode) {
        self.0.borrow_mut().mode = mode;
    }
    /// Writes that would take the total past `bytes` fail with `Full`.
    pub fn set_quota(&self, bytes: Option<usize>) {
        self.0.borrow_mut().quota = bytes;
    }
    /// Successful writes so far.
    pub fn writes(&self) -> u64 {
        self.0.borrow().writes
    }
    pub fn dump(&self) -> BTreeMap<String, String> {
        self.0.borrow().map.clone()
    }
    pub fn used_bytes(&self) -> usize {
        self.0.borrow().map.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
    /// Sets the page host the fake cookie jar checks `Domain=` against.
    pub fn set_host(&self, host: &str) {
        self.0.borrow_mut().host = host.to_owned();
    }
    /// Cookies as (name, value, domain).
    pub fn cookies(&self) -> Vec<(String, String, Option<String>)> {
        self.0.borrow().cookies.iter().map(|(k, (v, d))| (k.clone(), v.clone(), d.clone())).collect()
    }
    /// Every `Domain=` attribute tried so far.
    pub fn cookie_attempts(&self) -> Vec<Option<String>> {
        self.0.borrow().cookie_attempts.clone()
    }
    /// Deletes a cookie directly (e.g. Safari's cap expiring it).
    pub fn clear_cookie(&self, name: &str) {
        self.0.borrow_mut().cookies.remove(name);
    }

    /// Writes directly, bypassing modes (to plant corrupted state).
    pub fn plant(&self, key: &str, value: &str) {
        self.0.borrow_mut().map.insert(key.to_owned(), value.to_owned());
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> Option<String> {
        let inner = self.0.borrow();
        if inner.mode == StorageMode::Broken {
            return None;
        }
        inner.map.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        let mut inner = self.0.borrow_mut();
        match inner.mode {
            StorageMode::Broken => return Err(StorageError::Unavailable),
            StorageMode::Full => return Err(StorageError::Full),
            StorageMode::Normal => {}
        }
        if let Some(q) = inner.quota {
            let old = inner.map.get(key).map_or(0, |v| key.len() + v.len());
            let used: usize = inner.map.iter().map(|(k, v)| k.len() + v.len()).sum();
            if used - old + key.len() + value.len() > q {
                return Err(StorageError::Full);
            }
        }
        inner.writes += 1;
        inner.map.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
    fn remove(&mut self, key: &str) {
        let mut inner = self.0.borrow_mut();
        if inner.mode != StorageMode::Broken {
            inner.map.remove(key);
        }
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        let inner = self.0.borrow();
        if inner.mode == StorageMode::Broken {
            return Vec::new();
        }
        inner.map.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.0.borrow().cookies.get(name).map(|(v, _)| v.clone())
    }
    fn set_cookie(&mut self, name: &str, value: &str, spec: &CookieSpec<'_>) -> bool {
        let mut inner = self.0.borrow_mut();
        inner.cookie_attempts.push(spec.domain.map(str::to_owned));
        if let Some(d) = spec.domain {
            let on_host = inner.host == d || inner.host.ends_with(&[".", d].concat());
            if !on_host || FAKE_PUBLIC_SUFFIXES.contains(&d) {
                return false; // the browser refuses it silently
            }
        }
        if spec.max_age_s == 0 {
            inner.cookies.remove(name);
            return true;
        }
        inner.cookies.insert(name.to_owned(), (value.to_owned(), spec.domain.map(str::to_owned)));
        true
    }
}
