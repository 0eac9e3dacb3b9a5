//! The cart component: the shared cart CRDT and its device sync, as the tracker holds them.
//!
//! Owns: this replica of the cart (`{prefix}.cart`) and the sync credentials
//! (`{prefix}.cs`), both under the cart's consent category (`cart.category`, `necessary` by
//! default); the sync state machine ([`CartSync`]); which changes the web layer must pass on
//! ([`CartChanges`]); forgetting the cart (reset, another user, its category withdrawn).
//! Must never: write the cart or its credentials where its category is not granted (it
//! only ever holds a handle of that category), or emit events (the tracker does, for local
//! operations only).

use super::cart::CartChanges;
use super::component::{Component, ConsentChange};
use crate::cart::{Cart, LoadStatus};
use crate::cart_sync::{CartSync, Credentials};
use crate::config::Config;
use crate::ports::{IdSource, Storage};
use crate::store::{Category, Store};

/// Storage key suffix of the sync credentials (`{prefix}.cs`).
const CREDS_KEY: &str = "cs";

pub struct CartComponent {
    /// The shared cart (this page load is one replica).
    pub(super) state: Cart,
    pub(super) sync: CartSync,
    pub(super) changes: CartChanges,
    /// The stored cart was corrupt (reported once).
    pub(super) corrupt: bool,
    /// The cart's consent category was granted at the last check.
    stored: bool,
    category: String,
    cart_key: String,
    creds_key: String,
}

impl CartComponent {
    #[inline(always)]
    pub fn new<S: Storage>(cfg: &Config, tab: &str, store: &Store<S>) -> CartComponent {
        let (state, status) = Cart::load(&cfg.storage_prefix, tab, store.read());
        let sync = CartSync::new(Some(cfg.cart_url()), &cfg.write_key, cfg.cart.sync_delay_ms, cfg.retry.clone(), cfg.request_timeout_ms);
        CartComponent {
            state,
            sync,
            changes: CartChanges::default(),
            corrupt: status == LoadStatus::Corrupt,
            stored: store.allows(Category::Named(&cfg.cart.category)),
            category: cfg.cart.category.clone(),
            cart_key: crate::cart::storage_key(&cfg.storage_prefix),
            creds_key: [cfg.storage_prefix.as_str(), ".", CREDS_KEY].concat(),
        }
    }

    /// Whether the cart may be stored and synced (its consent category is granted).
    pub fn allowed<S: Storage>(&self, store: &Store<S>) -> bool {
        store.allows(Category::Named(&self.category))
    }

    /// Loads the sync credentials (they count only for the same signed-in user).
    pub fn load_credentials<S: Storage>(&mut self, store: &Store<S>, user_id: Option<&str>, now: f64) {
        let stored = store.read().get(&self.creds_key).as_deref().and_then(Credentials::decode);
        match stored {
            Some(c) if user_id == Some(c.user_id.as_str()) && self.allowed(store) => self.sync.connect(c, now),
            _ => self.sync.disconnect(),
        }
    }

    /// Stores the credentials (where the category allows) and starts syncing.
    #[inline(always)]
    pub fn connect<S: Storage>(&mut self, creds: Credentials, store: &mut Store<S>, now: f64) {
        let _ = store.scope(Category::Named(&self.category)).set(&self.creds_key, &creds.encode());
        self.sync.connect(creds, now);
    }

    /// A local change: other tabs, the app and the collector will hear about it.
    pub fn local_change(&mut self, now: f64) {
        self.changes.local = true;
        self.sync.local_change(now);
    }

    /// Deletes the stored credentials (the collector refused them).
    pub fn erase_credentials<S: Storage>(&self, store: &mut Store<S>) {
        store.eraser().remove(&self.creds_key);
    }

    /// Deletes the credentials and stops syncing (another user signed in).
    pub fn drop_credentials<S: Storage>(&mut self, store: &mut Store<S>) {
        self.erase_credentials(store);
        self.sync.disconnect();
    }

    /// Forgets the cart here and in storage, and stops syncing (reset, another user,
    /// consent withdrawn). Other tabs empty theirs through the storage event.
    pub fn forget<S: Storage>(&mut self, store: &mut Store<S>) {
        let had = !self.state.is_empty();
        let mut erase = store.eraser();
        self.state.forget(&mut erase);
        erase.remove(&self.creds_key);
        self.sync.disconnect();
        self.changes.local |= had;
    }

    /// The signed-in user changed from `before` to `now`. Another customer's cart does not
    /// carry over (`same_customer` false: identify() with a new userId); a guest cart does
    /// (it merges into the customer's on `connect`), and so does the cart of `alias()`.
    /// Credentials of another user stop.
    #[inline(always)]
    pub fn after_user_change<S: Storage>(&mut self, before: Option<&str>, now: Option<&str>, same_customer: bool, store: &mut Store<S>) {
        if before == now {
            return;
        }
        if before.is_some() && !same_customer {
            self.forget(store);
        } else if self.sync.credentials().is_some_and(|c| Some(c.user_id.as_str()) != now) {
            self.drop_credentials(store);
        }
    }

    /// Another tab wrote the credentials: follow them if they are this user's.
    #[inline(always)]
    pub fn on_credentials_change(&mut self, key: &str, value: Option<&str>, user_id: Option<&str>, now: f64) -> bool {
        if key != self.creds_key {
            return false;
        }
        match value.and_then(Credentials::decode) {
            Some(c) if user_id == Some(c.user_id.as_str()) => {
                if self.sync.credentials() != Some(&c) {
                    self.sync.connect(c, now);
                }
            }
            _ => self.sync.disconnect(),
        }
        true
    }
}

impl<S: Storage> Component<S> for CartComponent {
    fn category(&self) -> Category<'_> {
        Category::Named(&self.category)
    }

    /// The once-per-task persist of the cart (another tab's newer value is merged first).
    fn persist(&mut self, storage: &mut dyn Storage, _now: f64) {
        if !self.state.is_dirty() {
            return;
        }
        if let Ok(true) = self.state.persist(storage) {
            self.changes.tab = true;
        }
    }

    /// A cart whose category is withdrawn is forgotten; one newly allowed is stored on the
    /// next persist (it stayed dirty).
    fn on_consent(&mut self, _change: ConsentChange, store: &mut Store<S>, _ids: &mut dyn IdSource, _now: f64) {
        let allowed = self.allowed(store);
        if self.stored && !allowed {
            self.forget(store);
        }
        self.stored = allowed;
    }

    fn on_storage_change(&mut self, key: &str, value: Option<&str>, _store: &mut Store<S>, _now: f64) -> bool {
        let Some(changed) = self.state.on_storage_change(key, value) else { return false };
        self.changes.tab |= changed;
        if value.is_none() {
            self.sync.disconnect();
        }
        true
    }

    fn owns_key(&self, key: &str) -> bool {
        key == self.cart_key || key == self.creds_key
    }
}

#[cfg(test)]
mod tests;
