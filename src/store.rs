//! Consent-scoped storage: the only way the core reaches first-party storage.
//!
//! Owns: the storage port together with the consent state it is gated by, and handing out
//! handles scoped to one consent [`Category`]. A handle lets reads through always and writes
//! (localStorage sets and removes, cookies) only while its category is allowed. Whether a
//! category is allowed is derived from the consent state in one place ([`Store::allows`]):
//! there is no open/closed flag to set or restore by hand, and no component holds the raw
//! storage. Revoking consent erases through an [`Eraser`], which can delete but never write.
//! Must never: let a handle write while its category is not allowed, or hand out the
//! storage mutably other than through a handle.

use crate::consent::{Collection, Consent, ConsentConfig, Signals};
use crate::error::StorageError;
use crate::ports::{CookieSpec, Storage};

/// The consent category a handle writes under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category<'a> {
    /// Always allowed: the consent record itself.
    Necessary,
    /// Collection (`analytics` granted): identity, session, journey, outbox, lease.
    Collection,
    /// A configured category (the cart's, `necessary` by default).
    Named(&'a str),
}

/// First-party storage and the consent state that gates it.
pub struct Store<S> {
    collecting: Gated<S>,
    consent: Consent,
}

/// The storage handle of the collection category, kept open exactly while the consent state
/// allows collection ([`Store::derive`]).
pub struct Gated<S> {
    inner: S,
    open: bool,
}

impl<S: Storage> Store<S> {
    /// Loads the consent record from `inner`.
    #[inline(always)]
    pub fn new(inner: S, prefix: &str, cfg: &ConsentConfig, signals: Signals) -> Self {
        let consent = Consent::load(prefix, cfg, signals, &inner);
        let mut me = Store { collecting: Gated { inner, open: false }, consent };
        me.derive();
        me
    }

    /// The one place the gate's state follows the consent state.
    fn derive(&mut self) {
        self.collecting.open = self.consent.collection() == Collection::Allowed;
    }

    /// What the SDK may do (collect, buffer, nothing).
    pub fn collection(&self) -> Collection {
        self.consent.collection()
    }

    /// The handle of the collection category (identity, session, journey, outbox, lease).
    pub fn collecting(&mut self) -> &mut Gated<S> {
        &mut self.collecting
    }

    pub fn consent(&self) -> &Consent {
        &self.consent
    }

    /// Read-only access (reads are never gated).
    pub fn read(&self) -> &S {
        &self.collecting.inner
    }

    /// Whether `category` may be written now: the one place the gate is derived.
    pub fn allows(&self, category: Category<'_>) -> bool {
        match category {
            Category::Necessary => true,
            Category::Collection => self.collecting.open,
            Category::Named(name) => self.consent.granted(name),
        }
    }

    /// A handle that writes under `category`.
    pub fn scope(&mut self, category: Category<'_>) -> Scoped<'_, S> {
        let allowed = self.allows(category);
        Scoped { inner: &mut self.collecting.inner, allowed }
    }

    /// A handle that deletes (keys, cookies) and never writes: revoking consent.
    pub fn eraser(&mut self) -> Eraser<'_, S> {
        Eraser { inner: &mut self.collecting.inner }
    }

    /// Records the visitor's choice (necessary: a decision is kept). Returns whether it changed.
    pub fn set_consent(&mut self, choices: &[(String, bool)]) -> bool {
        let changed = self.consent.set(choices, &mut Scoped { inner: &mut self.collecting.inner, allowed: true });
        self.derive();
        changed
    }

    /// Another tab stored a decision. Returns true if `key` was the consent record.
    pub fn on_consent_storage_change(&mut self, key: &str, value: Option<&str>) -> bool {
        let ours = self.consent.on_storage_change(key, value);
        self.derive();
        ours
    }
}

/// Storage as one consent category allows it.
pub struct Scoped<'a, S> {
    inner: &'a mut S,
    allowed: bool,
}

impl<S> Scoped<'_, S> {
    /// Whether writes go through.
    pub fn allowed(&self) -> bool {
        self.allowed
    }
}

impl<S: Storage> Storage for Scoped<'_, S> {
    fn get(&self, key: &str) -> Option<String> {
        self.inner.get(key)
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        if self.allowed {
            self.inner.set(key, value)
        } else {
            Err(StorageError::Unavailable)
        }
    }
    fn remove(&mut self, key: &str) {
        if self.allowed {
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
        self.allowed && self.inner.set_cookie(name, value, spec)
    }
}

impl<S: Storage> Storage for Gated<S> {
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

/// Deletes and never writes: `set` is refused, and a cookie may only be expired.
pub struct Eraser<'a, S> {
    inner: &'a mut S,
}

impl<S: Storage> Storage for Eraser<'_, S> {
    fn get(&self, key: &str) -> Option<String> {
        self.inner.get(key)
    }
    fn set(&mut self, _key: &str, _value: &str) -> Result<(), StorageError> {
        Err(StorageError::Unavailable)
    }
    fn remove(&mut self, key: &str) {
        self.inner.remove(key);
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.inner.keys(prefix)
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.inner.cookie(name)
    }
    fn set_cookie(&mut self, name: &str, value: &str, spec: &CookieSpec<'_>) -> bool {
        value.is_empty() && spec.max_age_s == 0 && self.inner.set_cookie(name, value, spec)
    }
}

#[cfg(test)]
mod tests;
