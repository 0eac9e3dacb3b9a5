//! Converting JS values at the boundary: names and ids, JSON-object arguments, call options
//! and the configuration.
//!
//! Owns: the rules for what a JS argument may be. Objects are serialised with the browser's
//! own `JSON.stringify` (fast, native; js/src/builtins.js gives a clean page's JSON text even
//! where the page put a `toJSON` on a built-in prototype or replaced `JSON.stringify`), inside
//! a catch, so cyclic objects, BigInt, throwing getters and revoked Proxies become an
//! `InputError` instead of an exception. Options and configuration are read from the object's
//! own properties: a key on a polluted `Object.prototype` is not an option.
//! Must never: run while the SDK state is borrowed (a hostile getter may call back into the
//! SDK), or convert a huge string before checking its length.

use wasm_bindgen::{JsCast, JsValue};

use crate::config::Config;
use crate::error::{ConfigError, InputError};
use crate::wire::MAX_MESSAGE_BYTES;

#[wasm_bindgen::prelude::wasm_bindgen(raw_module = "../../src/builtins.js")]
extern "C" {
    /// The JSON text a clean page's `JSON.stringify(v)` gives; throws where it throws.
    #[wasm_bindgen(catch)]
    fn stringify(v: &JsValue) -> Result<JsValue, JsValue>;
    /// `o[k]` if `o` has its own property `k`, else `undefined`; throws where a Proxy trap does.
    #[wasm_bindgen(js_name = ownGet, catch)]
    fn own_get(o: &JsValue, k: &str) -> Result<JsValue, JsValue>;
}

/// An id or name argument: a string, or a finite number (Segment accepts numeric user ids).
/// `undefined`/`null` give `None`.
pub fn opt_id(v: &JsValue, what: &'static str) -> Result<Option<String>, InputError> {
    // The common case first: every check is a call across the wasm boundary.
    if v.is_string() {
        if v.unchecked_ref::<js_sys::JsString>().length() as usize > crate::identity::MAX_ID_LEN {
            return Err(InputError::NameTooLong(what));
        }
        return Ok(v.as_string());
    }
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() => Ok(Some(format_number(n))),
        _ => Err(InputError::MissingName(what)),
    }
}

/// A required id or name.
pub fn id(v: &JsValue, what: &'static str) -> Result<String, InputError> {
    opt_id(v, what)?.ok_or(InputError::MissingName(what))
}

fn format_number(n: f64) -> String {
    let mut s = String::new();
    crate::json::push_num(&mut s, n);
    s
}

/// A plain-object argument as JSON text; `undefined`/`null` give `None`.
pub fn opt_object(v: &JsValue, what: &'static str) -> Result<Option<String>, InputError> {
    // `is_object` is `typeof v === "object" && v !== null`: functions and null are excluded.
    if !v.is_object() {
        return if v.is_undefined() || v.is_null() { Ok(None) } else { Err(InputError::NotAnObject(what)) };
    }
    let text = stringify(v).map_err(|_| InputError::NotAnObject(what))?;
    // A `toJSON` may give `undefined` (no text): not an object.
    if !text.is_string() {
        return Err(InputError::NotAnObject(what));
    }
    if text.unchecked_ref::<js_sys::JsString>().length() as usize > MAX_MESSAGE_BYTES {
        return Err(InputError::TooLarge);
    }
    let text = text.as_string().ok_or(InputError::NotAnObject(what))?;
    if !text.starts_with('{') {
        return Err(InputError::NotAnObject(what));
    }
    Ok(Some(text))
}

/// The `options` argument of a call, owned.
#[derive(Default)]
pub struct Options {
    pub timestamp_ms: Option<f64>,
    pub context: Option<String>,
    pub integrations: Option<String>,
}

fn get(target: &JsValue, key: &str) -> Result<JsValue, InputError> {
    own_get(target, key).map_err(|_| InputError::NotAnObject("options"))
}

pub fn options(v: &JsValue) -> Result<Options, InputError> {
    if !v.is_object() {
        return if v.is_undefined() || v.is_null() { Ok(Options::default()) } else { Err(InputError::NotAnObject("options")) };
    }
    let ts = get(v, "timestamp")?;
    let timestamp_ms = if let Some(n) = ts.as_f64() {
        Some(n)
    } else if ts.is_instance_of::<js_sys::Date>() || ts.is_string() {
        let t = js_sys::Date::new(&ts).get_time();
        t.is_finite().then_some(t)
    } else {
        None
    };
    Ok(Options {
        timestamp_ms,
        context: opt_object(&get(v, "context")?, "options.context")?,
        integrations: opt_object(&get(v, "integrations")?, "options.integrations")?,
    })
}

/// A consent choice `{ analytics: true, marketing: false, … }` (boolean values only).
pub fn consent_choices(v: &JsValue) -> Result<Vec<(String, bool)>, InputError> {
    if !v.is_object() {
        return Err(InputError::NotAnObject("consent.set(): choices"));
    }
    // Reflect.ownKeys catches a throwing Proxy trap (Object.keys would let it escape).
    let keys = js_sys::Reflect::own_keys(v).map_err(|_| InputError::NotAnObject("consent.set(): choices"))?;
    let mut out = Vec::new();
    for k in keys.iter().take(32) {
        let name = k.as_string().ok_or(InputError::NotAnObject("consent.set(): choices"))?;
        let value = js_sys::Reflect::get(v, &k).map_err(|_| InputError::NotAnObject("consent.set(): choices"))?;
        let granted = value.as_bool().ok_or(InputError::NotAnObject("consent.set(): choices"))?;
        if !crate::consent::valid_category(&name) {
            return Err(InputError::NotAnObject("consent.set(): choices"));
        }
        out.push((name, granted));
    }
    Ok(out)
}

// The configuration's readers: one function each, called by every option's read, never
// inlined into the ~50 reads (−32 B gzip on the core wasm, docs/size.md).

/// `target[key]` if it is an own property, else `undefined` (a throwing Proxy trap too).
#[inline(never)]
fn config_get(target: &JsValue, key: &str) -> JsValue {
    own_get(target, key).unwrap_or(JsValue::UNDEFINED)
}

/// A string option; `undefined`/`null` give `None`.
#[inline(never)]
fn config_string(target: &JsValue, key: &'static str) -> Result<Option<String>, ConfigError> {
    let x = config_get(target, key);
    if x.is_undefined() || x.is_null() {
        return Ok(None);
    }
    x.as_string().map(Some).ok_or(ConfigError::WrongType { option: key, expected: "a string" })
}

/// A number option; `undefined`/`null` give `None`.
#[inline(never)]
fn config_number(target: &JsValue, key: &'static str) -> Result<Option<f64>, ConfigError> {
    let x = config_get(target, key);
    if x.is_undefined() || x.is_null() {
        return Ok(None);
    }
    x.as_f64().map(Some).ok_or(ConfigError::WrongType { option: key, expected: "a number" })
}

/// A boolean option, written into `slot` when present.
#[inline(never)]
fn config_flag(target: &JsValue, key: &'static str, slot: &mut bool) -> Result<(), ConfigError> {
    let x = config_get(target, key);
    if !x.is_undefined() {
        *slot = x.as_bool().ok_or(ConfigError::WrongType { option: key, expected: "a boolean" })?;
    }
    Ok(())
}

/// Reads the configuration object; the one place where an error reaches the page.
pub fn config(v: &JsValue) -> Result<Config, ConfigError> {
    let wrong = |option, expected| ConfigError::WrongType { option, expected };
    if !v.is_object() {
        return Err(wrong("(config)", "an object"));
    }
    let get = config_get;
    let string = |key: &'static str| config_string(v, key);
    let number = config_number;
    let write_key = string("writeKey")?.ok_or(ConfigError::MissingWriteKey)?;
    let endpoint = string("endpoint")?.ok_or_else(|| ConfigError::InvalidEndpoint(String::new()))?;
    let mut c = Config::new(write_key, endpoint);
    let to_usize = |n: f64| if n.is_finite() && n >= 0.0 { n as usize } else { usize::MAX };
    if let Some(n) = number(v, "flushAt")? {
        c.flush_at = to_usize(n);
    }
    if let Some(n) = number(v, "flushInterval")? {
        c.flush_interval_ms = n;
    }
    if let Some(n) = number(v, "maxBatchBytes")? {
        c.max_batch_bytes = to_usize(n);
    }
    if let Some(n) = number(v, "maxBatchEvents")? {
        c.max_batch_events = to_usize(n);
    }
    if let Some(n) = number(v, "maxQueueBytes")? {
        c.max_queue_bytes = to_usize(n);
    }
    if let Some(n) = number(v, "maxPersistBytes")? {
        c.max_persist_bytes = to_usize(n);
    }
    if let Some(n) = number(v, "requestTimeout")? {
        c.request_timeout_ms = n;
    }
    if let Some(p) = string("storagePrefix")? {
        c.storage_prefix = p;
    }
    if let Some(n) = number(v, "sessionTimeout")? {
        c.session_timeout_ms = n;
    }
    let flag = get(v, "sessionStartedEvent");
    if !flag.is_undefined() {
        c.session_started_event = flag.as_bool().ok_or(wrong("sessionStartedEvent", "a boolean"))?;
    }
    if let Some(n) = string("cookieName")? {
        c.cookie_name = n;
    }
    c.cookie_domain = string("cookieDomain")?;
    if let Some(n) = number(v, "cookieMaxAgeDays")? {
        c.cookie_max_age_days = n;
    }
    c.identity_endpoint = string("identityEndpoint")?;
    let linked = get(v, "linkedDomains");
    if !linked.is_undefined() && !linked.is_null() {
        let arr = linked.dyn_ref::<js_sys::Array>().ok_or(wrong("linkedDomains", "an array of domain names"))?;
        for d in arr.iter() {
            c.link.linked_domains.push(d.as_string().ok_or(wrong("linkedDomains", "an array of domain names"))?);
        }
    }
    if let Some(n) = number(v, "handoverMaxAge")? {
        c.link.max_age_ms = n;
    }
    let flag = |key: &'static str, slot: &mut bool| config_flag(v, key, slot);
    flag("autoDecorate", &mut c.auto_decorate)?;
    flag("autoPage", &mut c.page_views.on_load)?;
    flag("spaPageViews", &mut c.page_views.on_route_change)?;
    flag("hashPageViews", &mut c.page_views.on_hash_change)?;
    flag("declarative", &mut c.page_views.declarative)?;
    flag("outboundLinks", &mut c.page_views.outbound_links)?;
    let strings = |x: JsValue, key: &'static str| -> Result<Option<Vec<String>>, ConfigError> {
        if x.is_undefined() || x.is_null() {
            return Ok(None);
        }
        let arr = x.dyn_ref::<js_sys::Array>().ok_or(wrong(key, "an array of strings"))?;
        let mut out = Vec::new();
        for s in arr.iter() {
            out.push(s.as_string().ok_or(wrong(key, "an array of strings"))?);
        }
        Ok(Some(out))
    };
    if let Some(p) = strings(get(v, "redactParams"), "redactParams")? {
        c.redact_params = p;
    }
    if let Some(e) = strings(get(v, "conversionEvents"), "conversionEvents")? {
        c.conversion_events = e;
    }
    if let Some(h) = strings(get(v, "internalHosts"), "internalHosts")? {
        c.channels.internal_hosts = h;
    }
    if let Some(n) = number(v, "maxTouches")? {
        c.max_touches = to_usize(n);
    }
    flag("cookieless", &mut c.cookieless)?;
    flag("nativeEvents", &mut c.native_events)?;
    let compression = get(v, "compression");
    if !compression.is_undefined() {
        c.compression = match compression.as_string().as_deref() {
            Some("auto") => crate::config::Compression::Auto,
            Some("gzip") => crate::config::Compression::Gzip,
            Some("none") => crate::config::Compression::None,
            _ => return Err(wrong("compression", "\"auto\", \"gzip\" or \"none\"")),
        };
    }
    let consent = get(v, "consent");
    if !consent.is_undefined() && !consent.is_null() {
        let mode = get(&consent, "mode");
        if !mode.is_undefined() {
            c.consent.mode = match mode.as_string().as_deref() {
                Some("opt-in") => crate::consent::Mode::OptIn,
                Some("opt-out") => crate::consent::Mode::OptOut,
                _ => return Err(wrong("consent.mode", "\"opt-in\" or \"opt-out\"")),
            };
        }
        if let Some(cats) = strings(get(&consent, "categories"), "consent.categories")? {
            c.consent.categories = cats;
        }
        let gpc = get(&consent, "gpc");
        if !gpc.is_undefined() {
            c.consent.gpc_denies = match gpc.as_bool() {
                Some(false) => Vec::new(),
                Some(true) => c.consent.gpc_denies.clone(),
                None => strings(gpc, "consent.gpc")?.unwrap_or_default(),
            };
        }
        let bool_of = |key: &'static str, slot: &mut bool| config_flag(&consent, key, slot);
        bool_of("dnt", &mut c.consent.honor_dnt)?;
        bool_of("changedEvent", &mut c.consent.changed_event)?;
        let buffer = get(&consent, "buffer");
        if buffer.is_object() {
            if let Some(n) = number(&buffer, "maxEvents")? {
                c.consent.buffer.max_events = to_usize(n).min(10_000);
            }
            if let Some(n) = number(&buffer, "maxBytes")? {
                c.consent.buffer.max_bytes = to_usize(n).min(16 << 20);
            }
            if let Some(n) = number(&buffer, "ttl")? {
                c.consent.buffer.ttl_ms = n;
            }
        }
    }
    // cart: { category, syncEndpoint, syncDelay }
    let cart = get(v, "cart");
    if !cart.is_undefined() && !cart.is_null() {
        if !cart.is_object() {
            return Err(wrong("cart", "an object"));
        }
        let text = |key: &'static str, option: &'static str| -> Result<Option<String>, ConfigError> {
            let x = get(&cart, key);
            if x.is_undefined() || x.is_null() {
                return Ok(None);
            }
            x.as_string().map(Some).ok_or(wrong(option, "a string"))
        };
        if let Some(cat) = text("category", "cart.category")? {
            c.cart.category = cat;
        }
        c.cart.sync_url = text("syncEndpoint", "cart.syncEndpoint")?;
        if let Some(n) = number(&cart, "syncDelay")? {
            c.cart.sync_delay_ms = n;
        }
    }
    #[cfg(feature = "channels")]
    {
        let preset = get(v, "channelPreset");
        if !preset.is_undefined() && !preset.is_null() {
            c.channels.preset = preset
                .as_string()
                .and_then(|n| crate::channel::Preset::from_name(&n))
                .ok_or(wrong("channelPreset", "\"ga4\" or \"omnitrail-extended\""))?;
        }
        // channelRules: [{ channel: "paid_social", source: ["tiktok"], medium: ["cpc"] }, …]
        let rules = get(v, "channelRules");
        if !rules.is_undefined() && !rules.is_null() {
            let bad = || wrong("channelRules", "an array of { channel, <condition>: [terms] } (see README)");
            let arr = rules.dyn_ref::<js_sys::Array>().ok_or_else(bad)?;
            for rule in arr.iter() {
                let channel = get(&rule, "channel").as_string().and_then(|n| crate::channel::Channel::from_name(&n)).ok_or_else(bad)?;
                let keys = js_sys::Object::keys(rule.dyn_ref::<js_sys::Object>().ok_or_else(bad)?);
                let mut when = Vec::new();
                for k in keys.iter().filter_map(|k| k.as_string()).filter(|k| k != "channel") {
                    let terms = strings(get(&rule, &k), "channelRules")?.unwrap_or_default();
                    when.push(crate::channel::Cond::parse(&k, &terms).ok_or_else(bad)?);
                }
                c.channels.rules.push(crate::channel::Rule::new(channel, when));
            }
        }
    }
    // The small core has neither (Cargo feature `channels`): js/src/variant.js serves the full
    // build to a page that sets one, and a config that reaches the core anyway is refused rather
    // than classified by another table than it asked for.
    #[cfg(not(feature = "channels"))]
    for key in ["channelPreset", "channelRules"] {
        let x = get(v, key);
        if !(x.is_undefined() || x.is_null()) {
            return Err(wrong(key, "left out in the small core (the loader serves the full build to a page that sets it)"));
        }
    }
    let retry = get(v, "retry");
    if retry.is_object() {
        if let Some(n) = number(&retry, "baseMs")? {
            c.retry.base_ms = n;
        }
        if let Some(n) = number(&retry, "maxMs")? {
            c.retry.max_ms = n;
        }
    }
    c.validated()
}
