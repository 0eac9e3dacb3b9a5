//! The runtime around the core: one task-coalesced tick and one wake-up timer.
//!
//! Owns: *when* the core is driven. After API calls one tick is queued as a task of its own
//! (so a burst of calls costs one persist and one send decision); the core's wake-up time
//! becomes one `setTimeout`; `flush()` promises are resolved with the core's answer. The
//! other jobs live beside it: requests (`transport.rs`), page lifecycle (`lifecycle.rs`), DOM
//! listeners (`dom.rs`), the delivering-tab election (`election.rs`).
//! Must never: decide anything the core can decide, or call back into page code while the
//! state is borrowed.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::ports::{CryptoIds, DateClock, LocalStorage};
use crate::error::InputError;
use crate::tracker::Tracker;

pub type Core = Tracker<LocalStorage, DateClock, CryptoIds>;

pub struct Runtime {
    pub core: Core,
    /// The queued tick (`setTimeout 0`), until it has run.
    tick_queued: Option<Timeout>,
    /// The wake-up timer and the time it was armed for.
    pub timer: Option<(Timeout, f64)>,
    /// `flush()` promises waiting for the outbox to drain.
    flush_waiters: Vec<js_sys::Function>,
    pub callbacks: Option<Callbacks>,
    warnings: [u32; InputError::KINDS],
    /// Resolving it releases the delivery lock, which is otherwise held for the page's life.
    pub lock_release: Option<js_sys::Function>,
    /// The storage lease, where Web Locks are missing.
    pub lease: Option<crate::lease::Lease>,
    /// `consent.onChange` callbacks.
    pub consent_listeners: Vec<js_sys::Function>,
    /// Listeners, channel and callbacks of the cart.
    #[cfg_attr(not(feature = "cart"), allow(dead_code))]
    pub cart: super::cart_runtime::CartRuntime,
}

/// JS functions created once and reused (no allocation per call or per request).
pub struct Callbacks {
    pub on_response: js_sys::Function,
    pub on_failure: js_sys::Function,
    /// Whether a gzipped batch may still leave (`Tracker::compressed`).
    pub compressed: js_sys::Function,
    /// Runs the delivery-role election (at start, and when restored from the bfcache).
    pub elect: js_sys::Function,
    /// Does nothing: settles promises whose outcome does not matter.
    pub ignore: js_sys::Function,
}

pub type Shared = Rc<RefCell<Runtime>>;

// `globalThis`. `js_sys::global()` finds it through four fallbacks (`globalThis`, `self`,
// `window`, `global`: four imports, each with its thread-local cell) for engines older than
// every browser this SDK runs in.
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL_THIS: JsValue;
}

pub fn global() -> JsValue {
    GLOBAL_THIS.with(JsValue::clone)
}

/// The global object as a `Window`, unchecked: the `Window` methods called through it
/// (`setTimeout`, `setInterval`) are catching imports, so a global object without them fails
/// the call, not the page.
pub fn window() -> web_sys::Window {
    global().unchecked_into()
}

pub fn get(target: &JsValue, key: &str) -> JsValue {
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
            tick_queued: None,
            timer: None,
            flush_waiters: Vec::new(),
            callbacks: None,
            warnings: [0; InputError::KINDS],
            lock_release: None,
            lease: None,
            consent_listeners: Vec::new(),
            cart: super::cart_runtime::CartRuntime::default(),
        }));
        let weak = Rc::downgrade(&rt);

        let (on_response, on_failure, compressed) = super::transport::answer_callbacks(&weak);
        let ignore = leak(Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {}));
        let elect = super::election::election(&weak, &ignore);
        if let Ok(mut r) = rt.try_borrow_mut() {
            r.callbacks = Some(Callbacks { on_response, on_failure, compressed, elect: elect.clone(), ignore });
            r.core.set_online(super::env::online());
        }
        super::cart_runtime::start(&rt);
        super::native_bridge::listen(&weak);
        super::lifecycle::listen(&weak);
        super::dom::listen_decoration(&weak);
        super::dom::listen_routes(&weak);
        super::dom::listen_declarative(&weak);
        let _ = elect.call0(&JsValue::UNDEFINED);
        schedule(&rt);
        rt
    }

    /// Counts a warning of this kind; returns how many there were so far.
    #[allow(clippy::indexing_slicing)] // `kind_index() < KINDS`, both generated from one list (error.rs)
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
    with(rt, |r| {
        if r.tick_queued.is_none() {
            r.tick_queued = Some(tick_after(rt, 0));
        }
    });
}

/// A tick in `ms` (cancelled when the `Timeout` is dropped).
fn tick_after(rt: &Shared, ms: u32) -> Timeout {
    let w = Rc::downgrade(rt);
    Timeout::new(ms, move || {
        if let Some(rt) = w.upgrade() {
            tick_now(&rt);
        }
    })
}

/// Persist, send what is due, arm the wake-up timer, settle `flush()` promises.
pub fn tick_now(rt: &Shared) {
    let Some((sends, cart)) = with(rt, |r| {
        // Run now: a queued tick would only repeat this one (a call after it queues anew).
        r.tick_queued = None;
        r.core.send_auto_page();
        r.core.persist();
        if let (Some((url, body)), Some(cb)) = (r.core.take_identity_refresh(), r.callbacks.as_ref()) {
            super::transport::refresh_identity_cookie(&url, &body, &cb.ignore);
        }
        let mut sends = Vec::new();
        while let Some(s) = r.core.poll() {
            sends.push(s);
        }
        arm_timer(r, rt);
        let cart = super::cart_runtime::collect(r);
        // Composed only for an app (the small core has no bridge: nothing of it is compiled).
        if super::native_bridge::present() {
            if let Some(m) = r.core.take_session_start_message() {
                super::native_bridge::post(&m);
            }
        }
        (sends, cart)
    }) else {
        return;
    };
    let sent = !sends.is_empty();
    for s in sends {
        super::transport::send(rt, s);
    }
    super::cart_runtime::perform(rt, cart);
    // The core says whether `flush()` is settled, and how.
    let settled = with(rt, |r| r.core.settle_flush(sent).map(|ok| (ok, std::mem::take(&mut r.flush_waiters)))).flatten();
    if let Some((ok, waiters)) = settled {
        for resolve in waiters {
            let _ = resolve.call1(&JsValue::UNDEFINED, &JsValue::from_bool(ok));
        }
    }
}

fn arm_timer(r: &mut Runtime, rt: &Shared) {
    let wake = r.core.next_wake();
    if let (Some((_, armed)), Some(at)) = (&r.timer, wake) {
        if *armed == at {
            return;
        }
    }
    // Dropping the previous timer clears it.
    r.timer = None;
    let Some(at) = wake else { return };
    let delay = (at - js_sys::Date::now()).clamp(0.0, 2_147_483_647.0);
    r.timer = Some((tick_after(rt, delay.ceil() as u32), at));
}

/// `target.addEventListener(event, f)`. Unchecked: `addEventListener` is a catching import, so
/// a target without it (`undefined`, `null`) fails the call, not the page; the same import as
/// [`add_capture_listener`]'s.
pub fn add_listener(target: &JsValue, event: &str, f: &js_sys::Function) {
    let _ = target.unchecked_ref::<web_sys::EventTarget>().add_event_listener_with_callback_and_bool(event, f, false);
}

/// `target.addEventListener(event, f, true)`.
pub fn add_capture_listener(target: &JsValue, event: &str, f: &js_sys::Function) {
    let _ = target.unchecked_ref::<web_sys::EventTarget>().add_event_listener_with_callback_and_bool(event, f, true);
}
