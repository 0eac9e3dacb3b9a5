//! The visitor component: identity and session.
//!
//! Owns: the anonymous id, user id, group id and traits (`{prefix}.aid`, `.uid`, `.gid`,
//! `.traits` and the first-party cookie), the 30-minute session (`{prefix}.sess`), and what a
//! session start asks of the web layer (the app hears about it; the identity endpoint
//! re-issues the cookie once). Consent category: collection.
//! Must never: keep a forgotten visitor's keys after consent is withdrawn, or start a
//! session for an invalid call (the tracker validates first).

use super::component::{Component, ConsentChange};
use crate::identity::Identity;
use crate::ports::{IdSource, Storage};
use crate::session::{Mark, Session};
use crate::store::{Category, Store};

pub struct Visitor {
    pub(super) identity: Identity,
    pub(super) session: Session,
    /// This writer's id (the cookie write's nonce).
    tab: String,
    /// The identity endpoint is configured.
    refresh_endpoint: bool,
    /// A session started: ask the identity endpoint to re-issue the cookie.
    pub(super) refresh_due: bool,
    /// A session started since the web layer last asked (the app hears about it).
    pub(super) session_started: bool,
}

impl Visitor {
    #[inline(always)]
    pub fn new(identity: Identity, session: Session, tab: &str, refresh_endpoint: bool) -> Visitor {
        Visitor { identity, session, tab: tab.to_owned(), refresh_endpoint, refresh_due: false, session_started: false }
    }

    /// Records activity at `at` (never later than now); a session start refreshes the
    /// cookie and is announced.
    #[inline(always)]
    pub fn begin(&mut self, at: f64) -> Mark {
        let mark = self.session.touch(at);
        if mark.start {
            self.session_started = true;
            self.identity.refresh_cookie();
            self.refresh_due = self.refresh_endpoint;
        }
        mark
    }
}

impl<S: Storage> Component<S> for Visitor {
    fn category(&self) -> Category<'_> {
        Category::Collection
    }

    fn persist(&mut self, storage: &mut dyn Storage, _now: f64) {
        self.session.persist(storage);
        self.identity.persist(storage, &self.tab);
    }

    fn on_consent(&mut self, change: ConsentChange, store: &mut Store<S>, ids: &mut dyn IdSource, _now: f64) {
        if change.granted() {
            self.identity.store(store.collecting());
        } else if change.revoked() {
            let mut erase = store.eraser();
            self.identity.forget(&mut erase, ids);
            self.session.clear(&mut erase);
        }
    }

    fn on_storage_change(&mut self, key: &str, value: Option<&str>, _store: &mut Store<S>, _now: f64) -> bool {
        self.identity.on_storage_change(key, value) || self.session.on_storage_change(key, value)
    }
}

#[cfg(test)]
mod tests;
