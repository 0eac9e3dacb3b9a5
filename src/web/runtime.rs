//! The runtime around the core: one task-coalesced tick, one wake-up timer, requests, and the
//! page-lifecycle and tab wiring.
//!
//! Owns: *when* the core is driven. After API calls one tick is queued as a task of its own
//! (so a burst of calls costs one persist and one send decision); the core's wake-up
//! time becomes one `setTimeout`; responses, `storage`, `online`/`offline`,
//! `visibilitychange`/`pagehide` and the delivery lock feed the core.
//! Must never: decide anything the core can decide, or call back into page code while the
//! state is borrowed.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::ports::{CryptoIds, DateClock, LocalStorage};
use crate::error::InputError;
use crate::tracker::{BatchRequest, Tracker};

pub type Core = Tracker<LocalStorage, DateClock, CryptoIds>;

pub struct Runtime {
    pub core: Core,
    tick_queued: bool,
    timer: Option<(i32, f64)>,
    /// `flush()` promises waiting for the outbox to drain.
    flush_waiters: Vec<js_sys::Function>,
    callbacks: Option<Callbacks>,
    warnings: [u32; InputError::KINDS],
    /// Resolving it releases the delivery lock, which is otherwise held for the page's life.
    lock_release: Option<js_sys::Function>,
    /// The storage lease, where Web Locks are missing.
    lease: Option<crate::lease::Lease>,
    /// A delivery attempt failed since the last tick (settles `flush()` with `false`).
    attempt_failed: bool,
    /// `consent.onChange` callbacks.
    pub consent_listeners: Vec<js_sys::Function>,
    /// Listeners, channel and callbacks of the cart.
    pub cart: super::cart_runtime::CartRuntime,
}

/// JS functions created once and reused (no allocation per call or per request).
struct Callbacks {
    tick: js_sys::Function,
    on_response: js_sys::Function,
    on_failure: js_sys::Function,
    /// Runs the delivery-role election (at start, and when restored from the bfcache).
    elect: js_sys::Function,
    /// Does nothing: settles promises whose outcome does not matter.
    ignore: js_sys::Function,
}

pub type Shared = Rc<RefCell<Runtime>>;

fn global() -> JsValue {
    js_sys::global().into()
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A promise, seen only through `then` with plain functions (no per-call closures).
    pub type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    pub fn then_fns(this: &Thenable, ok: &js_sys::Function, err: &js_sys::Function) -> JsValue;
}

// `fetch(url + "?" + query, init)` with `init.body` gzipped by the browser's CompressionStream
// (native and asynchronous: the page's task never waits for it); `fetch(url, init)` with the
// plain body where the API is missing or compression fails. A few lines of JS rather than
// the same calls through `Reflect` from Rust, which shipped four times the bytes (measured).
#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "export function gzipFetch(u,q,i){return new Promise(r=>\
r(new Response(new Response(i.body).body.pipeThrough(new CompressionStream('gzip'))).arrayBuffer()))\
.then(b=>(i.body=b,fetch(u+'?'+q,i)),()=>fetch(u,i))}")]
extern "C" {
    #[wasm_bindgen(js_name = gzipFetch)]
    fn gzip_fetch(url: &str, query: &str, init: &web_sys::RequestInit) -> JsValue;
}

fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Runs `f` on the runtime if it is not already borrowed (a re-entrant call is dropped
/// rather than panicking).
pub fn with<R>(rt: &Shared, f: impl FnOnce(&mut Runtime) -> R) -> Option<R> {
    rt.try_borrow_mut().ok().map(|mut r| f(&mut r))
}

/// Wraps `f` as a JS function that lives as long as the page (the SDK does too).
pub fn leak<F: ?Sized + wasm_bindgen::closure::WasmClosure>(c: Closure<F>) -> js_sys::Function {
    let f = c.as_ref().unchecked_ref::<js_sys::Function>().clone();
    c.forget();
    f
}

impl Runtime {
    pub fn start(core: Core) -> Shared {
        let rt = Rc::new(RefCell::new(Runtime {
            core,
            tick_queued: false,
            timer: None,
            flush_waiters: Vec::new(),
            callbacks: None,
            warnings: [0; InputError::KINDS],
            lock_release: None,
            lease: None,
            attempt_failed: false,
            consent_listeners: Vec::new(),
            cart: super::cart_runtime::CartRuntime::default(),
        }));
        let weak = Rc::downgrade(&rt);

        let w = weak.clone();
        let tick = leak(Closure::<dyn FnMut()>::new(move || {
            if let Some(rt) = w.upgrade() {
                tick_now(&rt);
            }
        }));
        let w = weak.clone();
        let on_response = leak(Closure::<dyn FnMut(f64, JsValue)>::new(move |batch: f64, resp: JsValue| {
            let status = get(&resp, "status").as_f64().unwrap_or(0.0) as u16;
            let headers = get(&resp, "headers");
            let retry_after = headers
                .dyn_ref::<web_sys::Headers>()
                .and_then(|h| h.get("retry-after").ok().flatten());
            if let Some(rt) = w.upgrade() {
                with(&rt, |r| {
                    r.core.on_response(batch as u64, status, retry_after.as_deref());
                    r.attempt_failed |= !(200..300).contains(&status);
                });
                tick_now(&rt);
            }
        }));
        let w = weak.clone();
        let on_failure = leak(Closure::<dyn FnMut(f64)>::new(move |batch: f64| {
            if let Some(rt) = w.upgrade() {
                with(&rt, |r| {
                    r.core.on_response(batch as u64, 0, None);
                    r.attempt_failed = true;
                });
                tick_now(&rt);
            }
        }));
        let ignore = leak(Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {}));
        let elect = election(&weak, &ignore);
        if let Ok(mut r) = rt.try_borrow_mut() {
            r.callbacks = Some(Callbacks { tick, on_response, on_failure, elect: elect.clone(), ignore });
            r.core.set_online(super::env::online());
        }
        super::cart_runtime::start(&rt);
        super::native_bridge::listen(&weak);
        listen_lifecycle(&weak);
        listen_routes(&weak);
        listen_declarative(&weak);
        let _ = elect.call0(&JsValue::UNDEFINED);
        schedule(&rt);
        rt
    }

    /// Counts a warning of this kind; returns how many there were so far.
    pub fn count_warning(&mut self, e: InputError) -> u32 {
        let n = &mut self.warnings[e.kind_index()];
        *n = n.saturating_add(1);
        *n
    }

    pub fn add_flush_waiter(&mut self, resolve: js_sys::Function) {
        self.flush_waiters.push(resolve);
    }
}

/// `{ necessary: true, analytics: …, … }`
pub fn consent_object(core: &Core) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in core.consent().prefs() {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_bool(*v));
    }
    o.into()
}

/// Calls the `consent.onChange` callbacks (outside the borrow: they may call the SDK).
pub fn notify_consent(rt: &Shared) {
    let Some((listeners, prefs)) = with(rt, |r| (r.consent_listeners.clone(), consent_object(&r.core))) else { return };
    for f in listeners {
        let _ = f.call1(&JsValue::UNDEFINED, &prefs);
    }
}

/// Queues one tick as a task of its own (`setTimeout 0`), once: a burst of calls in one
/// task costs one persist and one send decision, and that work never lengthens the page's
/// own task.
pub fn schedule(rt: &Shared) {
    let cb = with(rt, |r| {
        if r.tick_queued {
            return None;
        }
        r.tick_queued = true;
        r.callbacks.as_ref().map(|c| c.tick.clone())
    })
    .flatten();
    if let (Some(cb), Some(window)) = (cb, web_sys::window()) {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&cb, 0);
    }
}

/// Persist, send what is due, arm the wake-up timer, settle `flush()` promises.
pub fn tick_now(rt: &Shared) {
    let Some((sends, settle, cart)) = with(rt, |r| {
        r.tick_queued = false;
        r.core.send_auto_page();
        r.core.persist();
        if let (Some((url, body)), Some(cb)) = (r.core.take_identity_refresh(), r.callbacks.as_ref()) {
            refresh_identity_cookie(&url, &body, &cb.ignore);
        }
        let mut sends = Vec::new();
        while let Some(s) = r.core.poll() {
            sends.push(s);
        }
        arm_timer(r);
        // `flush()` settles `true` once everything is acknowledged, `false` when an attempt
        // failed (it will be retried) or nothing more will happen on its own (offline); never
        // while the delivery role is still undecided.
        let failed = std::mem::take(&mut r.attempt_failed);
        let stalled = sends.is_empty() && r.timer.is_none() && r.core.role() != crate::tracker::Role::Undecided;
        let settle = if r.core.is_idle() || stalled || failed {
            std::mem::take(&mut r.flush_waiters)
        } else {
            Vec::new()
        };
        let cart = super::cart_runtime::collect(r);
        if let Some(m) = r.core.take_session_start_message() {
            super::native_bridge::post(&m);
        }
        (sends, (settle, failed), cart)
    }) else {
        return;
    };
    let (settle, failed) = settle;
    for s in sends {
        send(rt, s);
    }
    super::cart_runtime::perform(rt, cart);
    // `true` only if everything was acknowledged: a rejected batch (400) empties the queue
    // too, but it was not delivered.
    let delivered = !failed && with(rt, |r| r.core.is_idle()).unwrap_or(false);
    for resolve in settle {
        let _ = resolve.call1(&JsValue::UNDEFINED, &JsValue::from_bool(delivered));
    }
}

fn arm_timer(r: &mut Runtime) {
    let wake = r.core.next_wake();
    if r.timer.map(|(_, at)| Some(at)) == Some(wake) {
        return;
    }
    let Some(window) = web_sys::window() else { return };
    if let Some((handle, _)) = r.timer.take() {
        window.clear_timeout_with_handle(handle);
    }
    let (Some(at), Some(cb)) = (wake, r.callbacks.as_ref()) else { return };
    let delay = (at - js_sys::Date::now()).clamp(0.0, 2_147_483_647.0);
    if let Ok(handle) = window.set_timeout_with_callback_and_timeout_and_arguments_0(&cb.tick, delay.ceil() as i32) {
        r.timer = Some((handle, at));
    }
}

/// Performs one request: `fetch` (with `keepalive` when the page is going away), or
/// `sendBeacon` where `fetch` cannot. When the core's rule says so (`compression`, never
/// with `keepalive`) the body is gzipped first and the request leaves when that is done.
fn send(rt: &Shared, s: BatchRequest) {
    // `nativeEvents` in an app's web view: the app takes the batch (native batching).
    if with(rt, |r| r.core.config().native_events).unwrap_or(false) && super::native_bridge::present() {
        let delivered = super::native_bridge::post(&crate::app_protocol::batch_message(&s.body));
        with(rt, |r| {
            r.core.on_response(s.batch_id, if delivered { 200 } else { 0 }, None);
            r.attempt_failed |= !delivered;
        });
        schedule(rt);
        return;
    }
    let Some((on_ok, on_err, timeout, gzip)) = with(rt, |r| {
        // The timer fired or is superseded; the next tick re-arms it.
        r.timer = None;
        let gzip = r.core.compress(&s);
        r.callbacks.as_ref().map(|c| (c.on_response.clone(), c.on_failure.clone(), r.core.config().request_timeout_ms, gzip))
    })
    .flatten() else {
        return;
    };
    let batch = JsValue::from_f64(s.batch_id as f64);
    let on_ok = on_ok.bind1(&JsValue::UNDEFINED, &batch);
    let on_err = on_err.bind1(&JsValue::UNDEFINED, &batch);
    let Some(window) = web_sys::window() else { return };
    let init = request_init("POST", &s.body, s.keepalive, timeout);
    let has_fetch = get(&global(), "fetch").is_function();
    if has_fetch {
        let promise = if gzip {
            gzip_fetch(&s.url, crate::wire::GZIP_QUERY, &init)
        } else {
            window.fetch_with_str_and_init(&s.url, &init).into()
        };
        let _ = promise.unchecked_ref::<Thenable>().then_fns(on_ok.unchecked_ref(), on_err.unchecked_ref());
        return;
    }
    // No fetch: a beacon is fire-and-forget; the events stay in the outbox until a later
    // page load acknowledges them.
    let queued = window.navigator().send_beacon_with_opt_str(&s.url, Some(&s.body)).unwrap_or(false);
    if !queued {
        let _ = on_err.unchecked_ref::<js_sys::Function>().call0(&JsValue::UNDEFINED);
    }
}

/// A CORS request without credentials: `keepalive` when the page is going away, else aborted
/// after `timeout_ms` (where `AbortSignal.timeout` exists).
pub fn request_init(method: &str, body: &str, keepalive: bool, timeout_ms: f64) -> web_sys::RequestInit {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_body(&JsValue::from_str(body));
    init.set_mode(web_sys::RequestMode::Cors);
    init.set_credentials(web_sys::RequestCredentials::Omit);
    if keepalive {
        let _ = js_sys::Reflect::set(&init, &JsValue::from_str("keepalive"), &JsValue::TRUE);
    } else if let Some(signal) = timeout_signal(timeout_ms) {
        let _ = js_sys::Reflect::set(&init, &JsValue::from_str("signal"), &signal);
    }
    init
}

/// Asks the collector's identity endpoint to re-issue the anonymous-id cookie server-side
/// (with credentials, so its `Set-Cookie` applies). Fire and forget: the script-set cookie
/// stays the fallback.
fn refresh_identity_cookie(url: &str, body: &str, ignore: &js_sys::Function) {
    let Some(window) = web_sys::window() else { return };
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    init.set_mode(web_sys::RequestMode::Cors);
    init.set_credentials(web_sys::RequestCredentials::Include);
    let promise = window.fetch_with_str_and_init(url, &init);
    let _ = promise.unchecked_ref::<Thenable>().then_fns(ignore, ignore);
}

/// `AbortSignal.timeout(ms)` where supported.
fn timeout_signal(ms: f64) -> Option<JsValue> {
    let ctor = get(&global(), "AbortSignal");
    let f = get(&ctor, "timeout").dyn_into::<js_sys::Function>().ok()?;
    f.call1(&ctor, &JsValue::from_f64(ms)).ok()
}

fn add_listener(target: &JsValue, event: &str, f: &js_sys::Function) {
    if let Some(t) = target.dyn_ref::<web_sys::EventTarget>() {
        let _ = t.add_event_listener_with_callback(event, f);
    }
}

/// `visibilitychange`/`pagehide`/`pageshow` (never `unload`), `online`/`offline`, `storage`.
fn listen_lifecycle(weak: &Weak<RefCell<Runtime>>) {
    let window = global();
    let document = get(&window, "document");

    let w = weak.clone();
    let hidden = leak(Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let Some(rt) = w.upgrade() else { return };
        let leaving = get(&e, "type").as_string().as_deref() == Some("pagehide");
        if !leaving && get(&get(&global(), "document"), "visibilityState").as_string().as_deref() != Some("hidden") {
            // Visible again: fetch what other devices did to the cart meanwhile.
            with(&rt, |r| r.core.on_visible());
            schedule(&rt);
            return;
        }
        super::cart_runtime::on_hidden(&rt);
        // The app learns how long the web view kept the session alive.
        if let Some(m) = with(&rt, |r| r.core.session_message()).flatten() {
            super::native_bridge::post(&m);
        }
        let (sends, release) = with(&rt, |r| {
            let sends = r.core.on_hidden();
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
            send(&rt, s);
        }
        if let Some(f) = release {
            let _ = f.call0(&JsValue::UNDEFINED);
        }
    }));
    add_listener(&document, "visibilitychange", &hidden);
    add_listener(&window, "pagehide", &hidden);

    let w = weak.clone();
    let shown = leak(Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        if get(&e, "persisted").as_bool() != Some(true) {
            return;
        }
        let Some(rt) = w.upgrade() else { return };
        let elect = with(&rt, |r| r.callbacks.as_ref().map(|c| c.elect.clone())).flatten();
        if let Some(f) = elect {
            let _ = f.call0(&JsValue::UNDEFINED);
        }
    }));
    add_listener(&window, "pageshow", &shown);

    for (event, online) in [("online", true), ("offline", false)] {
        let w = weak.clone();
        let c = leak(Closure::<dyn FnMut(JsValue)>::new(move |_e: JsValue| {
            if let Some(rt) = w.upgrade() {
                with(&rt, |r| r.core.set_online(online));
                tick_now(&rt);
            }
        }));
        add_listener(&window, event, &c);
    }

    let w = weak.clone();
    let storage = leak(Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let Some(key) = get(&e, "key").as_string() else { return };
        let value = get(&e, "newValue").as_string();
        if let Some(rt) = w.upgrade() {
            let consent_changed = with(&rt, |r| {
                let before = r.core.consent().prefs().to_vec();
                r.core.on_storage_change(&key, value.as_deref());
                before != r.core.consent().prefs()
            });
            if consent_changed == Some(true) {
                notify_consent(&rt);
            }
            schedule(&rt);
        }
    }));
    add_listener(&window, "storage", &storage);

    // Auto-decoration: a link to another linked site gets the hand-over parameter when it is
    // about to be followed (mousedown for middle clicks, click, keyboard activation).
    let auto = weak.upgrade().and_then(|rt| with(&rt, |r| r.core.config().auto_decorate)).unwrap_or(false);
    if !auto {
        return;
    }
    let w = weak.clone();
    let decorate = leak(Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let Some(rt) = w.upgrade() else { return };
        let mut node = get(&e, "target");
        for _ in 0..8 {
            if node.is_null() || node.is_undefined() {
                return;
            }
            if get(&node, "tagName").as_string().as_deref() == Some("A") {
                break;
            }
            node = get(&node, "parentNode");
        }
        let (Some(href), Some(host)) = (get(&node, "href").as_string(), get(&get(&global(), "location"), "hostname").as_string())
        else {
            return;
        };
        let decorated = with(&rt, |r| r.core.should_decorate(&href, &host).then(|| r.core.decorate(&href))).flatten();
        if let Some(d) = decorated {
            let _ = js_sys::Reflect::set(&node, &JsValue::from_str("href"), &JsValue::from_str(&d));
        }
    }));
    for event in ["mousedown", "click", "keydown"] {
        add_listener(&document, event, &decorate);
    }
}

/// Single-page apps: a page view when `history.pushState`/`replaceState`/`popstate`/
/// `hashchange` lead to a new URL. The check runs as a task of its own so the app has set
/// the new title by then.
pub fn listen_routes(weak: &Weak<RefCell<Runtime>>) {
    let window = global();
    let Some(rt) = weak.upgrade() else { return };
    if !with(&rt, |r| r.core.config().page_views.on_route_change).unwrap_or(false) {
        return;
    }
    let w = weak.clone();
    let check = leak(Closure::<dyn FnMut()>::new(move || {
        let Some(rt) = w.upgrade() else { return };
        let (page, href) = (super::env::page(), super::env::href());
        if with(&rt, |r| r.core.on_route_change(page, &href)).unwrap_or(false) {
            schedule(&rt);
        }
    }));
    let later = {
        let check = check.clone();
        leak(Closure::<dyn FnMut(JsValue)>::new(move |_e: JsValue| {
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&check, 0);
            }
        }))
    };
    add_listener(&window, "popstate", &later);
    add_listener(&window, "hashchange", &later);
    let history = get(&window, "history");
    for name in ["pushState", "replaceState"] {
        let Ok(original) = get(&history, name).dyn_into::<js_sys::Function>() else { continue };
        let (h, later) = (history.clone(), later.clone());
        // The page's call keeps its exact behaviour (return value and exceptions).
        let wrapper = leak(Closure::<dyn FnMut(JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
            move |state: JsValue, unused: JsValue, url: JsValue| {
                let result = original.call3(&h, &state, &unused, &url)?;
                let _ = later.call1(&JsValue::UNDEFINED, &JsValue::UNDEFINED);
                Ok(result)
            },
        ));
        let _ = js_sys::Reflect::set(&history, &JsValue::from_str(name), &wrapper);
    }
}

/// `data-ot-event` elements (click, or submit for forms) and outbound links.
pub fn listen_declarative(weak: &Weak<RefCell<Runtime>>) {
    let Some(rt) = weak.upgrade() else { return };
    let (declarative, outbound) =
        with(&rt, |r| (r.core.config().page_views.declarative, r.core.config().page_views.outbound_links)).unwrap_or_default();
    if !declarative && !outbound {
        return;
    }
    let w = weak.clone();
    let handler = leak(Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let Some(rt) = w.upgrade() else { return };
        let submit = get(&e, "type").as_string().as_deref() == Some("submit");
        let mut node = get(&e, "target");
        let mut calls: Vec<(String, String)> = Vec::new();
        for _ in 0..10 {
            if node.is_null() || node.is_undefined() {
                break;
            }
            let tag = get(&node, "tagName").as_string().unwrap_or_default();
            let is_form = tag == "FORM";
            let event = get_attr(&node, crate::declarative::EVENT_ATTR);
            if declarative && is_form == submit {
                if let Some(name) = event.filter(|n| !n.trim().is_empty()) {
                    calls.push((name, crate::declarative::properties(attributes(&node).iter().map(|(k, v)| (k.as_str(), v.as_str())))));
                    break;
                }
            }
            if outbound && !submit && tag == "A" {
                let href = get(&node, "href").as_string().unwrap_or_default();
                let text = get(&node, "textContent").as_string().unwrap_or_default();
                if let Some(props) = crate::declarative::outbound(&href, &super::env::href(), &text) {
                    calls.push((crate::declarative::OUTBOUND_EVENT.to_owned(), props));
                }
            }
            node = get(&node, "parentNode");
        }
        if calls.is_empty() {
            return;
        }
        with(&rt, |r| {
            for (event, props) in &calls {
                let _ = r.core.track(event, Some(props), &crate::tracker::CallOptions::default());
            }
        });
        schedule(&rt);
    }));
    let document = get(&global(), "document");
    for event in ["click", "submit"] {
        if let Some(t) = document.dyn_ref::<web_sys::EventTarget>() {
            let _ = t.add_event_listener_with_callback_and_bool(event, &handler, true);
        }
    }
}

fn get_attr(node: &JsValue, name: &str) -> Option<String> {
    node.dyn_ref::<web_sys::Element>().and_then(|e| e.get_attribute(name))
}

/// An element's attributes as (name, value).
fn attributes(node: &JsValue) -> Vec<(String, String)> {
    let attrs = get(node, "attributes");
    let n = get(&attrs, "length").as_f64().unwrap_or(0.0).min(256.0) as u32;
    (0..n)
        .filter_map(|i| {
            let a = js_sys::Reflect::get_u32(&attrs, i).ok()?;
            Some((get(&a, "name").as_string()?, get(&a, "value").as_string()?))
        })
        .collect()
}

/// Builds the election: one tab delivers, the holder of the Web Lock `omnitrail:{prefix}`,
/// or without Web Locks the holder of the storage lease.
fn election(weak: &Weak<RefCell<Runtime>>, ignore: &js_sys::Function) -> js_sys::Function {
    let Some(rt) = weak.upgrade() else { return ignore.clone() };
    let (prefix, tab) =
        with(&rt, |r| (r.core.config().storage_prefix.clone(), r.core.tab().to_owned())).unwrap_or_default();
    let locks = get(&get(&global(), "navigator"), "locks");
    let Ok(request) = get(&locks, "request").dyn_into::<js_sys::Function>() else {
        return lease_election(weak, &prefix, &tab);
    };
    let name = JsValue::from_str(&["omnitrail:", prefix.as_str()].concat());

    // The lock is ours: lead, and hold it until `pagehide` resolves the promise we return.
    let w = weak.clone();
    let hold = move |lock: &JsValue| -> JsValue {
        if lock.is_null() || lock.is_undefined() {
            return JsValue::UNDEFINED;
        }
        let Some(rt) = w.upgrade() else { return JsValue::UNDEFINED };
        let mut release = None;
        let held = js_sys::Promise::new(&mut |resolve, _reject| release = Some(resolve));
        with(&rt, |r| {
            r.lock_release = release;
            r.core.become_leader();
        });
        schedule(&rt);
        held.into()
    };
    let hold2 = hold.clone();
    let granted = leak(Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| hold(&lock)));

    // First try without waiting: if another tab holds the lock, follow until it comes to us.
    let w = weak.clone();
    let (locks2, request2, name2) = (locks.clone(), request.clone(), name.clone());
    let first = leak(Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| {
        if !(lock.is_null() || lock.is_undefined()) {
            return hold2(&lock);
        }
        if let Some(rt) = w.upgrade() {
            with(&rt, |r| r.core.become_follower());
            schedule(&rt);
        }
        let _ = request2.call2(&locks2, &name2, &granted);
        JsValue::UNDEFINED
    }));
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &JsValue::from_str("ifAvailable"), &JsValue::TRUE);
    leak(Closure::<dyn FnMut()>::new(move || {
        let _ = request.call3(&locks, &name, &opts, &first);
    }))
}

/// The lease protocol ticks at a third of its lifetime (twice quickly at start).
fn lease_election(weak: &Weak<RefCell<Runtime>>, prefix: &str, tab: &str) -> js_sys::Function {
    use crate::lease::{Lease, LeaseState, LEASE_MS};
    if let Some(rt) = weak.upgrade() {
        with(&rt, |r| r.lease = Some(Lease::new(prefix, tab)));
    }
    let w = weak.clone();
    let tick = leak(Closure::<dyn FnMut()>::new(move || {
        let Some(rt) = w.upgrade() else { return };
        with(&rt, |r| {
            let now = js_sys::Date::now();
            let Runtime { core, lease, .. } = r;
            match lease.as_mut().map(|l| l.tick(core.lease_storage(), now)) {
                Some(LeaseState::Held) => core.become_leader(),
                Some(LeaseState::Other) if core.role() != crate::tracker::Role::Follower => core.become_follower(),
                _ => {}
            }
        });
        schedule(&rt);
    }));
    if let Some(window) = web_sys::window() {
        let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(&tick, (LEASE_MS / 3.0) as i32);
    }
    leak(Closure::<dyn FnMut()>::new(move || {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&tick, 0);
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&tick, 100);
        }
    }))
}
