//! The SDKs running in this page: one per `storagePrefix`.
//!
//! Owns: finding the instance a new `Omnitrail(config)` must share. Loading twice in one page
//! (React StrictMode runs an effect twice; an app and a widget both load it) gives one shared
//! instance: a second one on the same keys would lose the delivery election to the first,
//! follow it, and hand its events to storage where the first never sees them (a page does not
//! hear its own `storage` events) until a later page load.
//! Must never: drop a running instance (it lives as long as the page, as the script tag's
//! does: `free()` releases only a handle), or share one across different storage prefixes.

use std::cell::RefCell;

use super::runtime::{with, Shared};

thread_local! {
    static RUNNING: RefCell<Vec<Shared>> = const { RefCell::new(Vec::new()) };
}

// `try_with`/`try_borrow`, not `with`/`borrow`: no panic path (nor its `Debug`) in the wasm.

/// The instance running with `prefix`, if any.
pub fn running(prefix: &str) -> Option<Shared> {
    let same = |rt: &&Shared| with(rt, |r| r.core.config().storage_prefix == prefix) == Some(true);
    RUNNING.try_with(|r| r.try_borrow().ok()?.iter().find(same).cloned()).ok().flatten()
}

/// Records a new instance (the first with its prefix).
pub fn register(rt: &Shared) {
    let _ = RUNNING.try_with(|r| {
        if let Ok(mut list) = r.try_borrow_mut() {
            list.push(rt.clone());
        }
    });
}
