//! The cart's browser wiring: other tabs (BroadcastChannel), the native app (bridge), the
//! page (`cart.onChange` callbacks) and the collector's cart endpoint (`fetch` PUT).
//!
//! Owns: after each tick, passing the cart changes the core reports on to whoever has not
//! seen them, and performing the core's cart requests. `storage` events (the fallback for
//! tabs) arrive through the runtime's one `storage` listener.
//! Must never: decide anything (what changed, when to sync and what an answer means are the
//! core's), or call page code while the state is borrowed.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::runtime::{leak, schedule, tick_now, with, Runtime, Shared};
use super::transport::{bind_first, fetch_own, Thenable};
use crate::cart_sync::{CartRequest, SyncOutcome, TOKEN_HEADER};
use crate::tracker::CartSource;

/// The cart part of the runtime.
#[derive(Default)]
pub struct CartRuntime {
    /// `cart.onChange` callbacks.
    pub listeners: Vec<js_sys::Function>,
    /// `cart.sync()` promises waiting for the exchange to settle, with the id of the request
    /// whose answer settles them.
    pub waiters: Vec<(u64, js_sys::Function)>,
    channel: Option<web_sys::BroadcastChannel>,
    /// `answer(id, value)`: see [`start`].
    answer: Option<js_sys::Function>,
}

/// What a tick found to do for the cart (taken inside the borrow, done outside it).
#[derive(Default)]
pub struct Work {
    /// `cart.get()` for the listeners, when the cart changed.
    snapshot: Option<String>,
    /// The state for other tabs and for the app.
    for_tabs: Option<String>,
    for_app: Option<String>,
    requests: Vec<CartRequest>,
    corrupt: bool,
}

fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Opens the tabs' channel and builds the one answer callback (once, at start).
///
/// `answer(id, value)` is called at every stage of a cart request, bound to its id (without the
/// page's `bind`): `value` is the `fetch` response, then the text of a 2xx body, or what a
/// rejection gave. One callback, not one per stage: each closure costs its own shim and export
/// in the wasm. A value with no numeric `status` (an error) reads as no answer (status 0).
pub fn start(rt: &Shared) {
    let weak = std::rc::Rc::downgrade(rt);
    let w = weak.clone();
    let answer = leak(Closure::<dyn FnMut(f64, JsValue)>::new(move |id: f64, v: JsValue| {
        let Some(rt) = w.upgrade() else { return };
        // The body of a 2xx (only `text()` resolves with a string): its status is in 200..=299,
        // which is all the core reads of it.
        if let Some(body) = v.as_string() {
            return answered(&rt, id, 200, None, Some(&body));
        }
        let status = get(&v, "status").as_f64().unwrap_or(0.0);
        if (200.0..300.0).contains(&status) {
            // Read the merged cart from the body.
            let text = get(&v, "text").dyn_into::<js_sys::Function>().ok().and_then(|f| f.call0(&v).ok());
            let answer = with(&rt, |r| r.cart.answer.clone()).flatten();
            if let (Some(p), Some(answer)) = (text, answer) {
                let answer = bind_first(&answer, &JsValue::from_f64(id));
                let _ = p.unchecked_ref::<Thenable>().then_fns(&answer, &answer);
            }
            return;
        }
        let retry_after = get(&v, "headers").dyn_ref::<web_sys::Headers>().and_then(|h| h.get("retry-after").ok().flatten());
        answered(&rt, id, status as u16, retry_after.as_deref(), None);
    }));
    let prefix = with(rt, |r| r.core.config().storage_prefix.clone()).unwrap_or_default();
    let channel = web_sys::BroadcastChannel::new(&["omnitrail:", prefix.as_str(), ":cart"].concat()).ok();
    if let Some(ch) = &channel {
        let w = weak.clone();
        let on_message = leak(Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let (Some(rt), Some(state)) = (w.upgrade(), get(&e, "data").as_string()) else { return };
            if with(&rt, |r| r.core.cart_merge_remote(&state, CartSource::Tab)).flatten() == Some(true) {
                schedule(&rt);
            }
        }));
        ch.set_onmessage(Some(on_message.unchecked_ref()));
    }
    with(rt, |r| {
        r.cart.channel = channel;
        r.cart.answer = Some(answer);
    });
}

/// Inside the tick's borrow: what to pass on and which requests to send.
pub fn collect(r: &mut Runtime) -> Work {
    let mut work = Work { corrupt: r.core.take_cart_corrupt(), ..Work::default() };
    let changes = r.core.take_cart_changes();
    if changes.any() {
        // Rendered only for `cart.onChange` listeners: a page without one does not pay for a
        // snapshot of the whole cart on every change.
        if !r.cart.listeners.is_empty() {
            work.snapshot = Some(r.core.cart().snapshot_json());
        }
        if changes.for_tabs() || changes.for_app() {
            let state = r.core.cart_state();
            if changes.for_app() && super::native_bridge::present() {
                work.for_app = Some(crate::app_protocol::cart_message(&state));
            }
            if changes.for_tabs() {
                work.for_tabs = Some(state);
            }
        }
    }
    while let Some(req) = r.core.cart_poll() {
        work.requests.push(req);
    }
    work
}

/// Outside the borrow: tells tabs, the app and the page; sends the requests.
pub fn perform(rt: &Shared, work: Work) {
    if work.corrupt {
        web_sys::console::warn_1(&JsValue::from_str("omnitrail: the stored cart was corrupt and has been replaced by an empty cart"));
    }
    for req in work.requests {
        send(rt, req);
    }
    if let Some(state) = work.for_tabs {
        let ch = with(rt, |r| r.cart.channel.clone()).flatten();
        if let Some(ch) = ch {
            let _ = ch.post_message(&JsValue::from_str(&state));
        }
    }
    if let Some(m) = work.for_app {
        super::native_bridge::post(&m);
    }
    if let Some(snapshot) = work.snapshot {
        let listeners = with(rt, |r| r.cart.listeners.clone()).unwrap_or_default();
        if !listeners.is_empty() {
            let cart = js_sys::JSON::parse(&snapshot).unwrap_or(JsValue::NULL);
            for f in &listeners {
                let _ = f.call1(&JsValue::UNDEFINED, &cart);
            }
        }
    }
}

/// The page is being hidden: a cart change not yet pushed goes with `keepalive`.
pub fn on_hidden(rt: &Shared) {
    if let Some(req) = with(rt, |r| r.core.cart_on_hidden()).flatten() {
        send(rt, req);
    }
}

fn answered(rt: &Shared, id: f64, status: u16, retry_after: Option<&str>, body: Option<&str>) {
    let Some((outcome, settle)) = with(rt, |r| {
        let outcome = r.core.on_cart_response(id as u64, status, retry_after, body);
        // `cart.sync()` settles with the answer to a request sent after it was called: merged,
        // or failed (retried later).
        let mut settle = Vec::new();
        if outcome != SyncOutcome::Stale {
            let id = id as u64;
            r.cart.waiters.retain(|(ticket, f)| {
                let done = *ticket <= id;
                if done {
                    settle.push(f.clone());
                }
                !done
            });
        }
        (outcome, settle)
    }) else {
        return;
    };
    if let Some(w) = outcome.warning() {
        web_sys::console::warn_1(&JsValue::from_str(&w));
    }
    let ok = JsValue::from_bool(matches!(outcome, SyncOutcome::Merged(_)));
    for resolve in &settle {
        let _ = resolve.call1(&JsValue::UNDEFINED, &ok);
    }
    tick_now(rt);
}

/// `PUT` of the cart, with the token header (a CORS preflight the collector answers).
fn send(rt: &Shared, req: CartRequest) {
    let Some((answer, timeout)) = with(rt, |r| r.cart.answer.clone().map(|a| (a, r.core.config().request_timeout_ms))).flatten() else {
        return;
    };
    let init = super::transport::request_init("PUT", &req.body, req.keepalive, if req.keepalive { 0.0 } else { timeout });
    let headers = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&headers, &JsValue::from_str("Content-Type"), &JsValue::from_str("text/plain"));
    let _ = js_sys::Reflect::set(&headers, &JsValue::from_str(TOKEN_HEADER), &JsValue::from_str(&req.token));
    let _ = js_sys::Reflect::set(&init, &JsValue::from_str("headers"), &headers);
    let answer = bind_first(&answer, &JsValue::from_f64(req.id as f64));
    match fetch_own(&req.url, &init) {
        Ok(promise) => drop(promise.unchecked_ref::<Thenable>().then_fns(&answer, &answer)),
        // No fetch at all: no answer (status 0).
        Err(_) => drop(answer.call0(&JsValue::UNDEFINED)),
    }
}
