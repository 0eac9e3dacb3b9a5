//! Reading the page and the device: `context.page` and the environment part of `context`.
//!
//! Must never: throw (every property read tolerates a missing or hostile global).

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::message::{Environment, PageContext};

fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn get_str(target: &JsValue, key: &str) -> String {
    get(target, key).as_string().unwrap_or_default()
}

pub fn page() -> PageContext {
    let global: JsValue = super::runtime::global();
    let location = get(&global, "location");
    let document = get(&global, "document");
    let url = get_str(&location, "href");
    // The fragment is not part of the page URL in the Segment spec.
    let url = url.split('#').next().unwrap_or_default().to_owned();
    PageContext {
        url,
        path: get_str(&location, "pathname"),
        search: get_str(&location, "search"),
        title: get_str(&document, "title"),
        referrer: get_str(&document, "referrer"),
    }
}

#[wasm_bindgen]
extern "C" {
    /// `Temporal.Now.timeZoneId()`; throws (caught) where there is no `Temporal`.
    #[wasm_bindgen(js_namespace = ["Temporal", "Now"], js_name = timeZoneId, catch)]
    fn temporal_zone() -> Result<JsValue, JsValue>;
}

/// The device's IANA time zone. `Temporal` first: the first `Intl.DateTimeFormat` of a page
/// loads ICU's date-format data, 17–52 ms on the main thread of a cold Chromium 156 page, the
/// largest single cost on the way to `ready` (BENCHMARKS.md, "Where the time to ready goes");
/// `Temporal.Now.timeZoneId()` answers the same name in under 0.1 ms. Browsers without
/// `Temporal` pay for `Intl` as before.
fn time_zone() -> String {
    match temporal_zone().map(|z| z.as_string()) {
        Ok(Some(zone)) => zone,
        _ => get_str(&js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new()).resolved_options(), "timeZone"),
    }
}

pub fn environment() -> Environment {
    let global: JsValue = super::runtime::global();
    let navigator = get(&global, "navigator");
    let screen = get(&global, "screen");
    let num = |v: JsValue| v.as_f64();
    let screen = match (num(get(&screen, "width")), num(get(&screen, "height"))) {
        (Some(w), Some(h)) => Some((w, h, num(get(&global, "devicePixelRatio")).unwrap_or(1.0))),
        _ => None,
    };
    Environment {
        user_agent: get_str(&navigator, "userAgent"),
        host: get_str(&get(&global, "location"), "hostname"),
        signals: crate::consent::Signals {
            gpc: get(&navigator, "globalPrivacyControl").as_bool() == Some(true),
            dnt: get_str(&navigator, "doNotTrack") == "1",
        },
        locale: get_str(&navigator, "language"),
        timezone: time_zone(),
        screen,
    }
}

/// The page's full URL (with query and fragment).
pub fn href() -> String {
    get_str(&get(&super::runtime::global(), "location"), "href")
}

/// Shows `url` in the address bar without a navigation (`history.replaceState`).
pub fn replace_url(url: &str) {
    // `history.replaceState` read and called through the imports the SDK has anyway (a
    // catching `Reflect.get` and `Function.call`), not two web-sys imports of its own.
    let history = get(&super::runtime::global(), "history");
    if let Ok(f) = get(&history, "replaceState").dyn_into::<js_sys::Function>() {
        let _ = f.call3(&history, &JsValue::NULL, &JsValue::from_str(""), &JsValue::from_str(url));
    }
}

/// `navigator.onLine`, assumed true when unknown.
pub fn online() -> bool {
    get(&get(&super::runtime::global(), "navigator"), "onLine").as_bool().unwrap_or(true)
}
