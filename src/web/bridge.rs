//! Native-bridge adapters: finds how this web view can talk to its app and posts protocol
//! messages (see `crate::bridge`) there.
//!
//! Owns: detection, in this order — iOS WKWebView `window.webkit.messageHandlers.omnitrail`,
//! Android JavascriptInterface `window.OmnitrailAndroid`, React Native WebView
//! `window.ReactNativeWebView`, Capacitor `window.Capacitor.Plugins.Omnitrail`. Messages are
//! JSON strings (what every one of them accepts).
//! Must never: throw (a broken bridge is ignored), or post when no bridge is present.

use wasm_bindgen::{JsCast, JsValue};

fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// The object whose `postMessage(string)` reaches the app, if any.
fn endpoint() -> Option<JsValue> {
    let w: JsValue = js_sys::global().into();
    let candidates = [
        get(&get(&get(&w, "webkit"), "messageHandlers"), "omnitrail"),
        get(&w, "OmnitrailAndroid"),
        get(&w, "ReactNativeWebView"),
        get(&get(&get(&w, "Capacitor"), "Plugins"), "Omnitrail"),
    ];
    candidates.into_iter().find(|c| get(c, "postMessage").is_function())
}

/// Posts `message` (JSON text) to the native app, if there is one.
pub fn post(message: &str) {
    let Some(target) = endpoint() else { return };
    if let Ok(f) = get(&target, "postMessage").dyn_into::<js_sys::Function>() {
        let _ = f.call1(&target, &JsValue::from_str(message));
    }
}
