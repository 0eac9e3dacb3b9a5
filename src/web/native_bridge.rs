//! Native-bridge adapters: finds how this web view can talk to its app and posts protocol
//! messages (see `crate::bridge`) there.
//!
//! Owns: detection, in this order — iOS WKWebView `window.webkit.messageHandlers.omnitrail`,
//! Android JavascriptInterface `window.OmnitrailAndroid`, React Native WebView
//! `window.ReactNativeWebView`, Capacitor `window.Capacitor.Plugins.Omnitrail`. Messages are
//! JSON strings (what the first three accept); a Capacitor plugin method takes an options
//! object, so it gets `{ message: json }`. The other way, the app calls
//! `window.omnitrailReceive(message)` (every SDK instance on the page receives it). Before the
//! SDK starts, the app may put its state on `window.omnitrailNative` (`adopt`).
//! Behind the `bridge` feature: the small core has `native_bridge_off.rs` instead (the loader
//! serves the full build to every web view with a bridge, js/src/variant.js).
//! Must never: throw (a broken bridge is ignored), or post when no bridge is present.

use std::cell::RefCell;
use std::rc::Weak;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::runtime::{leak, schedule, with, Core, Runtime};
use crate::app_protocol::{self, Incoming};
use crate::tracker::CartSource;

fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// The object whose `postMessage` reaches the app, if any, and whether it is Capacitor's
/// (a plugin method takes an options object: `{ message: json }`).
fn endpoint() -> Option<(JsValue, bool)> {
    let w: JsValue = super::runtime::global();
    let candidates = [
        get(&get(&get(&w, "webkit"), "messageHandlers"), "omnitrail"),
        get(&w, "OmnitrailAndroid"),
        get(&w, "ReactNativeWebView"),
        get(&get(&get(&w, "Capacitor"), "Plugins"), "Omnitrail"),
    ];
    candidates.into_iter().enumerate().find(|(_, c)| get(c, "postMessage").is_function()).map(|(i, c)| (c, i == 3))
}

/// A native app hosts this page.
pub fn present() -> bool {
    endpoint().is_some()
}

/// What a native app put on `window.omnitrailNative` (`{ anonymousId, userId, sessionId,
/// lastActivity, consent, cart }`) before loading the web view.
struct Native {
    anonymous_id: Option<String>,
    user_id: Option<String>,
    /// The app's session: start and last activity (ms).
    session: Option<(f64, f64)>,
    /// The consent choice made in the app (`{ analytics: true, … }`), unconverted.
    consent: JsValue,
    /// The app's cart state (the bridge's `state` text).
    cart: Option<String>,
}

fn native() -> Native {
    let n = get(&super::runtime::global(), "omnitrailNative");
    let session = get(&n, "sessionId").as_f64().zip(get(&n, "lastActivity").as_f64());
    Native {
        anonymous_id: get(&n, "anonymousId").as_string(),
        user_id: get(&n, "userId").as_string(),
        session,
        consent: get(&n, "consent"),
        cart: get(&n, "cart").as_string(),
    }
}

/// Starts the SDK with what the app put on `window.omnitrailNative`: its consent choice,
/// identity, session and cart.
pub fn adopt(core: &mut Core) {
    let native = native();
    if !native.consent.is_undefined() && !native.consent.is_null() {
        match super::convert::consent_choices(&native.consent) {
            Ok(choices) => drop(core.set_consent(&choices)),
            Err(_) => {
                web_sys::console::warn_1(&JsValue::from_str("omnitrail: omnitrailNative.consent must be { category: boolean }; ignored"))
            }
        }
    }
    core.adopt_native(native.anonymous_id.as_deref(), native.user_id.as_deref());
    if let Some((id, last)) = native.session {
        core.adopt_native_session(id, last);
    }
    if let Some(state) = &native.cart {
        if core.cart_merge_remote(state, CartSource::App).is_none() {
            web_sys::console::warn_1(&JsValue::from_str("omnitrail: omnitrailNative.cart is not a cart state; ignored"));
        }
    }
}

thread_local! {
    /// The SDK instances `omnitrailReceive` delivers to.
    static RECEIVERS: RefCell<Vec<Weak<RefCell<Runtime>>>> = const { RefCell::new(Vec::new()) };
}

/// Registers this instance for native messages and defines `window.omnitrailReceive` (once).
/// It takes the message as a JSON string or an object and returns whether it was understood.
pub fn listen(rt: &Weak<RefCell<Runtime>>) {
    // `try_with`/`try_borrow_mut`, not `with`/`borrow_mut`: no panic path (nor its `Debug`)
    // in the wasm for what cannot happen here.
    let first = RECEIVERS.try_with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else { return false };
        r.retain(|w| w.strong_count() > 0);
        r.push(rt.clone());
        r.len() == 1
    });
    if first != Ok(true) {
        return;
    }
    let receive = leak(Closure::<dyn FnMut(JsValue) -> bool>::new(|message: JsValue| {
        let text =
            if message.is_string() { message.as_string() } else { js_sys::JSON::stringify(&message).ok().and_then(|s| s.as_string()) };
        let incoming = match text.as_deref().map(app_protocol::parse) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                web_sys::console::warn_1(&JsValue::from_str(e.message()));
                return false;
            }
            None => return false,
        };
        let targets: Vec<_> = RECEIVERS
            .try_with(|r| r.try_borrow().map(|r| r.iter().filter_map(Weak::upgrade).collect()).unwrap_or_default())
            .unwrap_or_default();
        let mut ok = false;
        for rt in targets {
            let mut consent_changed = false;
            ok |= with(&rt, |r| match &incoming {
                Incoming::Cart(state) => r.core.cart_merge_remote(state, CartSource::App).is_some(),
                Incoming::Identity { anonymous_id, user_id } => {
                    r.core.adopt_native(anonymous_id.as_deref(), user_id.as_deref());
                    true
                }
                Incoming::Session { id, last } => {
                    r.core.adopt_native_session(*id, *last);
                    true
                }
                Incoming::Consent(choices) => {
                    consent_changed = r.core.set_consent(choices).changed;
                    true
                }
            })
            .unwrap_or(false);
            if consent_changed {
                super::runtime::notify_consent(&rt);
            }
            schedule(&rt);
        }
        if !ok {
            web_sys::console::warn_1(&JsValue::from_str("omnitrail: native cart state is corrupt; ignored"));
        }
        ok
    }));
    let _ = js_sys::Reflect::set(&super::runtime::global(), &JsValue::from_str("omnitrailReceive"), &receive);
}

/// Posts `message` (JSON text) to the native app, if there is one. True if it was taken.
pub fn post(message: &str) -> bool {
    let Some((target, capacitor)) = endpoint() else { return false };
    let Ok(f) = get(&target, "postMessage").dyn_into::<js_sys::Function>() else { return false };
    let mut arg = JsValue::from_str(message);
    if capacitor {
        let o = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str("message"), &arg);
        arg = o.into();
    }
    f.call1(&target, &arg).is_ok()
}
