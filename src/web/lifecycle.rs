//! The page lifecycle: hidden, shown again, online/offline, other tabs' storage writes.
//!
//! Owns: `visibilitychange`/`pagehide`/`pageshow` (never `unload`), `online`/`offline` and
//! `storage` listeners, and what the page does when it is hidden (keepalive sends, the app's
//! session message, giving up the delivery lock when leaving).
//! Must never: keep the page out of the back/forward cache, or decide for the core.

use std::cell::RefCell;
use std::rc::Weak;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::runtime::{add_listener, get, global, leak, notify_consent, schedule, tick_now, with, Runtime, Shared};

/// `visibilitychange`/`pagehide`/`pageshow` (never `unload`), `online`/`offline`, `storage`:
/// one closure for all of them, dispatching on `event.type` (each closure costs the wasm its
/// own invoke shim and glue; one is smaller than five).
pub fn listen(weak: &Weak<RefCell<Runtime>>) {
    let window = global();
    let document = get(&window, "document");

    // After the keepalive sends, in a microtask: what the browser took counts as sent
    // (`Tracker::hand_over`). A refusal over the quota rejects only after this (measured), so
    // the core never asks for more than the quota has left (`Tracker::answer_read`).
    let w = weak.clone();
    let hand_over = leak(Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
        if let Some(rt) = w.upgrade() {
            with(&rt, |r| r.core.hand_over());
        }
    }));
    let w = weak.clone();
    let on_event = leak(Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let Some(kind) = get(&e, "type").as_string() else { return };
        let Some(what) = event(&kind) else { return };
        // `pageshow` of a page not restored from the back/forward cache: nothing to do.
        if what == Event::Shown && get(&e, "persisted").as_bool() != Some(true) {
            return;
        }
        let Some(rt) = w.upgrade() else { return };
        match what {
            Event::Visibility | Event::Leaving => hidden(&rt, what == Event::Leaving, &hand_over),
            Event::Shown => {
                let elect = with(&rt, |r| r.callbacks.as_ref().map(|c| c.elect.clone())).flatten();
                if let Some(f) = elect {
                    let _ = f.call0(&JsValue::UNDEFINED);
                }
            }
            Event::Online | Event::Offline => {
                with(&rt, |r| r.core.set_online(what == Event::Online));
                tick_now(&rt);
            }
            Event::Storage => storage(&rt, &e),
        }
    }));
    register(&document, &window, &on_event);
}

/// What a lifecycle event means to the SDK.
#[derive(Clone, Copy, PartialEq)]
enum Event {
    /// `visibilitychange` (on the document): hidden, or visible again.
    Visibility,
    /// `pagehide`: hidden, maybe for good.
    Leaving,
    /// `pageshow`: maybe restored from the back/forward cache.
    Shown,
    /// `online`.
    Online,
    /// `offline`.
    Offline,
    /// Another tab wrote to localStorage.
    Storage,
}

/// The events the one listener is registered for ([`register`]) and dispatches on ([`event`]):
/// written once, expanded into both (a registration loop over a `const` table and a search in
/// it measured larger than this `match`).
macro_rules! events {
    ($($name:literal => $what:expr,)*) => {
        fn register(document: &JsValue, window: &JsValue, f: &js_sys::Function) {
            $(add_listener(if $what == Event::Visibility { document } else { window }, $name, f);)*
        }
        fn event(kind: &str) -> Option<Event> {
            match kind {
                $($name => Some($what),)*
                _ => None,
            }
        }
    };
}
events! {
    "visibilitychange" => Event::Visibility,
    "pagehide" => Event::Leaving,
    "pageshow" => Event::Shown,
    "online" => Event::Online,
    "offline" => Event::Offline,
    "storage" => Event::Storage,
}

/// `visibilitychange` or `pagehide` (`leaving`).
fn hidden(rt: &Shared, leaving: bool, hand_over: &js_sys::Function) {
    if !leaving && get(&get(&global(), "document"), "visibilityState").as_string().as_deref() != Some("hidden") {
        // Visible again: fetch what other devices did to the cart meanwhile.
        with(rt, |r| r.core.on_visible());
        schedule(rt);
        return;
    }
    super::cart_runtime::on_hidden(rt);
    // The app learns how long the web view kept the session alive.
    if super::native_bridge::present() {
        if let Some(m) = with(rt, |r| r.core.session_message()).flatten() {
            super::native_bridge::post(&m);
        }
    }
    let (sends, release) = with(rt, |r| {
        // The rule at unload is decided on `navigator.onLine` now, even if the `offline`
        // event is still queued.
        if !super::env::online() {
            r.core.set_online(false);
        }
        let sends = r.core.on_hidden(leaving);
        let mut release = None;
        if leaving {
            // Holding a Web Lock keeps a page out of the back/forward cache: let it go, and
            // let another tab deliver. `pageshow` elects again if the page comes back.
            release = r.lock_release.take();
            if let Some(lease) = r.lease.as_mut() {
                lease.release(r.core.lease_storage());
            }
            r.core.suspend();
        }
        (sends, release)
    })
    .unwrap_or_default();
    for s in sends {
        super::transport::send(rt, s);
    }
    let settled = js_sys::Promise::resolve(&JsValue::UNDEFINED);
    let _ = settled.unchecked_ref::<super::transport::Thenable>().then_fns(hand_over, hand_over);
    if let Some(f) = release {
        let _ = f.call0(&JsValue::UNDEFINED);
    }
}

/// Another tab wrote to localStorage.
fn storage(rt: &Shared, e: &JsValue) {
    let Some(key) = get(e, "key").as_string() else { return };
    let value = get(e, "newValue").as_string();
    let consent_changed = with(rt, |r| {
        let before = r.core.consent().prefs().to_vec();
        r.core.on_storage_change(&key, value.as_deref());
        before != r.core.consent().prefs()
    });
    if consent_changed == Some(true) {
        notify_consent(rt);
    }
    schedule(rt);
}
