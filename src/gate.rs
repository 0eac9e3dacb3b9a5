//! The storage gate: first-party storage as consent allows it.
//!
//! Owns: letting reads through always and writes (localStorage sets/removes, cookies) only
//! while collection is allowed, so that before consent in opt-in mode nothing at all is
//! written, by any part of the core, without each part having to ask.
//! Must never: write while closed.

use crate::error::StorageError;
use crate::ports::{CookieSpec, Storage};

pub struct Gate<S> {
    pub inner: S,
    pub open: bool,
}

impl<S: Storage> Storage for Gate<S> {
    fn get(&self, key: &str) -> Option<String> {
        self.inner.get(key)
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        if self.open {
            self.inner.set(key, value)
        } else {
            Err(StorageError::Unavailable)
        }
    }
    fn remove(&mut self, key: &str) {
        if self.open {
            self.inner.remove(key);
        }
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.inner.keys(prefix)
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.inner.cookie(name)
    }
    fn set_cookie(&mut self, name: &str, value: &str, spec: &CookieSpec<'_>) -> bool {
        self.open && self.inner.set_cookie(name, value, spec)
    }
}
