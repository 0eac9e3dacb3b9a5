//! The tracker without the cart (the small core: built without the `cart` feature; the
//! script-tag loader serves it to pages that use no cart, docs/size.md).
//!
//! Owns: the few cart hooks the rest of the tracker and the web layer call whatever the
//! build (a user change, `reset()`, an app's cart state, the page shown again), as no-ops,
//! and the cart types they name.
//! Must never: hold cart state, write a cart key, or emit a cart event: a page that uses the
//! cart is served the full build (js/src/loader.js, `variant`).

use super::*;

/// Where cart changes came from (the full build's `CartChanges`; here nothing changes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CartChanges;

/// Where a remote cart state comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CartSource {
    Tab,
    App,
}

impl<S: Storage, C: Clock, I: IdSource> Tracker<S, C, I> {
    /// The page became visible again (the full build fetches other devices' cart changes).
    pub fn on_visible(&mut self) {}

    /// An app's or a tab's cart state: not merged here (`Some(false)`: nothing changed). The
    /// loader serves the full build inside web views, where the app sends its cart.
    pub fn cart_merge_remote(&mut self, _state: &str, _source: CartSource) -> Option<bool> {
        Some(false)
    }

    pub(super) fn forget_cart(&mut self) {}

    pub(super) fn cart_after_user_change(&mut self, _before: Option<&str>, _same_customer: bool) {}
}
