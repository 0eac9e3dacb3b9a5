//! The seam between the tracker and its components.
//!
//! Owns: the hooks every component answers — its consent category, its once-per-task
//! persist, consent changes and other tabs' writes to its keys — so that
//! the tracker iterates over components instead of knowing each one's storage rules.
//! Adding a component adds an implementation and one entry in `each_component!` (tracker.rs); it
//! never edits another component's persist, consent or storage-event code.
//! Must never: hand a component storage other than a handle scoped to its category (the
//! [`Store`] decides what that handle may write).

use crate::consent::Collection;
use crate::ports::{IdSource, Storage};
use crate::store::{Category, Store};

/// A consent change, as components see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentChange {
    pub before: Collection,
    pub now: Collection,
    /// Revoking keeps the newest queued event (the final `Consent Changed`).
    pub keep_last: bool,
}

impl ConsentChange {
    /// Collection started (the pre-consent buffer is released).
    pub fn granted(&self) -> bool {
        self.before != Collection::Allowed && self.now == Collection::Allowed
    }
    /// Collection stopped after it was allowed: what was stored goes.
    pub fn revoked(&self) -> bool {
        self.before == Collection::Allowed && self.now != Collection::Allowed
    }
    /// The visitor refused before anything was collected.
    pub fn refused(&self) -> bool {
        self.before == Collection::Pending && self.now == Collection::Denied
    }
}

/// A synchronous state machine the tracker coordinates.
pub trait Component<S: Storage> {
    /// The consent category its keys are written under.
    fn category(&self) -> Category<'_>;
    /// Writes what changed (called once per task, only while its category is allowed).
    fn persist(&mut self, storage: &mut dyn Storage, now: f64);
    /// The consent state changed (the store already reflects it). Keys of a category that
    /// is no longer allowed are deleted through [`Store::eraser`].
    fn on_consent(&mut self, change: ConsentChange, store: &mut Store<S>, ids: &mut dyn IdSource, now: f64);
    /// Another tab wrote `key`. Returns true if the key was this component's.
    fn on_storage_change(&mut self, key: &str, value: Option<&str>, store: &mut Store<S>, now: f64) -> bool;
    /// Whether `key` is one this component stores and keeps while its category stays
    /// allowed. Revoking collection deletes every other key under the prefix, so only
    /// components outside the collection category need to answer.
    fn owns_key(&self, _key: &str) -> bool {
        false
    }
}
