//! Requests: batches (fetch, keepalive, beacon, gzip), the identity cookie refresh, and
//! batches handed to the native app.
//!
//! Owns: performing the requests the core asks for and reporting what happened to them as an
//! [`Answer`] (the collector's status and `Retry-After`, no answer, or whether the app's
//! bridge took the batch). Whether that means success is the core's decision.
//! Must never: interpret a status, retry by itself, or throw.

use std::cell::RefCell;
use std::rc::Weak;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::runtime::{get, global, leak, schedule, tick_now, with, Runtime, Shared};
use crate::tracker::{Answer, BatchRequest};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A promise, seen only through `then` with plain functions (no per-call closures).
    pub type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    pub fn then_fns(this: &Thenable, ok: &js_sys::Function, err: &js_sys::Function) -> JsValue;
}

// The browser's own fetch and sendBeacon, even on a page that replaced or broke its own
// (js/src/builtins.js, shared with the loaders: one JS module, one about:blank frame at most).
// `gzipFetch`: `fetch(url + "?" + query, init)` with `init.body` gzipped by the browser's
// CompressionStream (native and asynchronous: the page's task never waits for it);
// `fetch(url, init)` with the plain body where the API is missing or compression fails. Either
// leaves only if `go(batch, bytes)` (the core, `Tracker::compressed`: 0 no, 1 yes, 2 with
// keepalive, decided on the gzipped size) still says so: a page that went away meanwhile sent
// the events plain with keepalive, and the promise then resolves with nothing (ignored). A few
// lines of JS rather than the same calls through `Reflect` from Rust, which shipped four times
// the bytes (measured).
#[wasm_bindgen::prelude::wasm_bindgen(raw_module = "../../src/builtins.js")]
extern "C" {
    #[wasm_bindgen(js_name = gzipFetch, catch)]
    fn gzip_fetch(url: &str, query: &str, init: &web_sys::RequestInit, go: &js_sys::Function, batch: f64) -> Result<JsValue, JsValue>;
    /// `fetch(url, init)` with the browser's own fetch; throws only where there is none.
    #[wasm_bindgen(js_name = fetchOwn, catch)]
    pub fn fetch_own(url: &str, init: &web_sys::RequestInit) -> Result<JsValue, JsValue>;
    /// `navigator.sendBeacon(url, body)` with the browser's own; `false` where it was not queued.
    #[wasm_bindgen(js_name = beaconOwn)]
    fn beacon_own(url: &str, body: &str) -> bool;
    /// `f.bind(null, bound)` without the page's `Function.prototype.bind` (prototype.js's drops
    /// the bound arguments). Called through a glue shim (`catch`): a function imported
    /// directly would make the glue import this module as a namespace object, which the
    /// bundler builds with a `for…in` that a polluted `Object.prototype` breaks.
    #[wasm_bindgen(js_name = bindFirst, catch)]
    fn bind_first_js(f: &js_sys::Function, bound: &JsValue) -> Result<js_sys::Function, JsValue>;
}

/// `f.bind(null, bound)`, without the page's `bind`.
pub fn bind_first(f: &js_sys::Function, bound: &JsValue) -> js_sys::Function {
    bind_first_js(f, bound).unwrap_or_else(|_| f.clone())
}

// `console.warn(message + the response's text)`: a refused batch's warning ends with what the
// collector said (its first 300 characters, copied by index: the page's String.prototype may
// be broken), read asynchronously. Adapts only: the message is the core's (`Refusal::message`).
// `readBody(response, done)`: reads the body to the end, then `done()` (also when that fails).
#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = "export function warnWithText(r,m){r.text().then(t=>t,()=>'').then(t=>{for(let i=0;i<t.length&&i<300;i++)m+=t[i];console.warn(m)})}\nexport function readBody(r,f){try{r.text().then(f,f)}catch(e){f()}}"
)]
extern "C" {
    #[wasm_bindgen(js_name = warnWithText)]
    fn warn_with_text(response: &JsValue, message: &str);
    /// Through a glue shim (`catch`): imported directly, the wasm would import a second module.
    #[wasm_bindgen(js_name = readBody, catch)]
    fn read_body(response: &JsValue, done: &js_sys::Function) -> Result<(), JsValue>;
}

/// The batch id a callback was bound to (`bind_first`), a number. Taken as a `JsValue`, not an
/// `f64`: closures of one signature share one invoke shim in the wasm and one adapter in the glue
/// (docs/size.md).
fn batch_id(v: &JsValue) -> u64 {
    v.as_f64().unwrap_or_default() as u64
}

/// The functions every batch request settles with (created once, bound per request): the
/// collector's answer, or none. Each hands what the browser saw to the core as an [`Answer`].
/// The third asks the core whether a gzipped batch may still leave ([`gzip_fetch`]).
pub fn answer_callbacks(weak: &Weak<RefCell<Runtime>>) -> (js_sys::Function, js_sys::Function, js_sys::Function) {
    // Every answer's body is read to the end: until then Chromium counts a keepalive request
    // against the page's quota (`Tracker::answer_read`).
    let w = weak.clone();
    let read = leak(Closure::<dyn FnMut(JsValue)>::new(move |batch: JsValue| {
        if let Some(rt) = w.upgrade() {
            with(&rt, |r| r.core.answer_read(batch_id(&batch)));
        }
    }));
    let w = weak.clone();
    let on_response = leak(Closure::<dyn FnMut(f64, JsValue)>::new(move |batch: f64, resp: JsValue| {
        let status = get(&resp, "status").as_f64().unwrap_or(0.0) as u16;
        let headers = get(&resp, "headers");
        let header = |name: &str| headers.dyn_ref::<web_sys::Headers>().and_then(|h| h.get(name).ok().flatten());
        let (retry_after, accept_encoding) = (header("retry-after"), header("accept-encoding"));
        if let Some(rt) = w.upgrade() {
            let refusal = with(&rt, |r| r.core.on_response(batch as u64, status, retry_after.as_deref(), accept_encoding.as_deref()));
            match refusal.flatten() {
                // The warning reads the body itself.
                Some(refusal) => {
                    warn_with_text(&resp, &refusal.message());
                    with(&rt, |r| r.core.answer_read(batch as u64));
                }
                None => drop(read_body(&resp, &bind_first(&read, &JsValue::from_f64(batch)))),
            }
            tick_now(&rt);
        }
    }));
    let w = weak.clone();
    let compressed = leak(Closure::<dyn FnMut(f64, f64) -> u8>::new(move |batch: f64, bytes: f64| {
        let go = w.upgrade().and_then(|rt| with(&rt, |r| r.core.compressed(batch as u64, bytes as usize)).flatten());
        go.map_or(0, |keepalive| 1 + keepalive as u8)
    }));
    let w = weak.clone();
    let on_failure = leak(Closure::<dyn FnMut(JsValue)>::new(move |batch: JsValue| {
        if let Some(rt) = w.upgrade() {
            with(&rt, |r| r.core.on_delivery(batch_id(&batch), Answer::NoAnswer));
            tick_now(&rt);
        }
    }));
    (on_response, on_failure, compressed)
}

/// Performs one request: `fetch` (with `keepalive` when the core says so: at unload, and a
/// normal batch that fits the quota), or `sendBeacon` where `fetch` cannot. When the core's rule
/// says so (`compression`, never at unload) the body is gzipped first and the request leaves
/// when that is done (with keepalive if the core says so then).
pub fn send(rt: &Shared, s: BatchRequest) {
    // `nativeEvents` in an app's web view: the app takes the batch (native batching).
    if with(rt, |r| r.core.config().native_events).unwrap_or(false) && super::native_bridge::present() {
        let accepted = super::native_bridge::post(&crate::app_protocol::batch_message(&s.body));
        with(rt, |r| r.core.on_delivery(s.batch_id, Answer::Handed { accepted }));
        schedule(rt);
        return;
    }
    let Some((on_ok, on_err, timeout, gzip)) = with(rt, |r| {
        // The timer fired or is superseded; the next tick re-arms it (a pending one still fires).
        if let Some((timer, _)) = r.timer.take() {
            timer.forget();
        }
        let gzip = r.core.compress(&s);
        let timeout = r.core.config().request_timeout_ms;
        r.callbacks.as_ref().map(|c| (c.on_response.clone(), c.on_failure.clone(), timeout, gzip.then(|| c.compressed.clone())))
    })
    .flatten() else {
        return;
    };
    let batch = JsValue::from_f64(s.batch_id as f64);
    let on_ok = bind_first(&on_ok, &batch);
    let on_err = bind_first(&on_err, &batch);
    // Unload sends have no timeout (the page is going away); a normal batch with keepalive
    // keeps it.
    let timeout = if s.unload { 0.0 } else { timeout };
    let init = request_init("POST", &s.body, s.keepalive && gzip.is_none(), timeout);
    let sent = match gzip {
        Some(go) => gzip_fetch(&s.url, crate::wire::GZIP_QUERY, &init, &go, s.batch_id as f64),
        None => fetch_own(&s.url, &init),
    };
    if let Ok(promise) = sent {
        let _ = promise.unchecked_ref::<Thenable>().then_fns(on_ok.unchecked_ref(), on_err.unchecked_ref());
        return;
    }
    // No fetch at all, not even a fresh frame's: a beacon is fire-and-forget; whether the
    // browser queued it is all there is to know (the core counts it as delivered).
    let accepted = beacon_own(&s.url, &s.body);
    with(rt, |r| r.core.on_delivery(s.batch_id, Answer::Handed { accepted }));
    schedule(rt);
}

/// A CORS request without credentials, with `keepalive` if asked, aborted after `timeout_ms`
/// when not 0 (where `AbortSignal.timeout` exists).
pub fn request_init(method: &str, body: &str, keepalive: bool, timeout_ms: f64) -> web_sys::RequestInit {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_body(&JsValue::from_str(body));
    init.set_mode(web_sys::RequestMode::Cors);
    init.set_credentials(web_sys::RequestCredentials::Omit);
    if keepalive {
        let _ = js_sys::Reflect::set(&init, &JsValue::from_str("keepalive"), &JsValue::TRUE);
    }
    if let Some(signal) = (timeout_ms > 0.0).then(|| timeout_signal(timeout_ms)).flatten() {
        let _ = js_sys::Reflect::set(&init, &JsValue::from_str("signal"), &signal);
    }
    init
}

/// Asks the collector's identity endpoint to re-issue the anonymous-id cookie server-side
/// (with credentials, so its `Set-Cookie` applies). Fire and forget: the script-set cookie
/// stays the fallback.
pub fn refresh_identity_cookie(url: &str, body: &str, ignore: &js_sys::Function) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    init.set_mode(web_sys::RequestMode::Cors);
    init.set_credentials(web_sys::RequestCredentials::Include);
    if let Ok(promise) = fetch_own(url, &init) {
        let _ = promise.unchecked_ref::<Thenable>().then_fns(ignore, ignore);
    }
}

/// `AbortSignal.timeout(ms)` where supported.
fn timeout_signal(ms: f64) -> Option<JsValue> {
    let ctor = get(&global(), "AbortSignal");
    let f = get(&ctor, "timeout").dyn_into::<js_sys::Function>().ok()?;
    f.call1(&ctor, &JsValue::from_f64(ms)).ok()
}
