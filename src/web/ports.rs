//! Browser implementations of the core's ports: localStorage, `Date.now()`, and
//! `crypto.getRandomValues` drawn from a pooled buffer (one JS call per 32 ids, not per id).
//!
//! Must never: let a storage exception escape (they become `StorageError`s).

use wasm_bindgen::{JsCast, JsValue};

use super::runtime::{get, global};

use crate::error::StorageError;
use crate::ports::{uuid_from_bytes, Clock, CookieSpec, IdSource, Storage};

pub struct DateClock;

impl Clock for DateClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}

/// Random ids from `crypto.getRandomValues`, refilled 512 bytes at a time.
pub struct CryptoIds {
    pool: [u8; 512],
    used: usize,
    crypto: Option<web_sys::Crypto>,
}

impl CryptoIds {
    pub fn new() -> CryptoIds {
        // Read through `Reflect.get` (no getter import of its own); a value that is not a
        // `Crypto` fails `getRandomValues`, which is caught, and the pool falls back.
        let crypto = object(get(&global(), "crypto")).map(JsValue::unchecked_into);
        CryptoIds { pool: [0; 512], used: 512, crypto }
    }

    #[allow(clippy::indexing_slicing)] // the pool is refilled above unless `used + N <= pool.len()`
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        if self.used + N > self.pool.len() {
            let filled = self.crypto.as_ref().is_some_and(|c| c.get_random_values_with_u8_array(&mut self.pool).is_ok());
            if !filled {
                for b in self.pool.iter_mut() {
                    *b = (js_sys::Math::random() * 256.0) as u8;
                }
            }
            self.used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.pool[self.used..self.used + N]);
        self.used += N;
        out
    }
}

impl IdSource for CryptoIds {
    fn uuid(&mut self) -> String {
        uuid_from_bytes(self.bytes::<16>())
    }
    fn unit(&mut self) -> f64 {
        u32::from_le_bytes(self.bytes::<4>()) as f64 / 4_294_967_296.0
    }
}

/// `window.localStorage` and `document.cookie`; either may be missing or throw (every write
/// then fails and the core keeps its state in memory).
pub struct LocalStorage {
    local: Option<web_sys::Storage>,
    /// `document`, whose `cookie` is read and written through `Reflect` (catching).
    document: Option<JsValue>,
    /// The page is served over https: cookies get `Secure`.
    secure: bool,
}

impl LocalStorage {
    pub fn open() -> LocalStorage {
        // Read through `Reflect.get`, which catches a throwing getter (`localStorage` in a
        // sandboxed frame) as `undefined`; every `Storage` method used is a catching import.
        let g = global();
        let local = object(get(&g, "localStorage")).map(JsValue::unchecked_into);
        let document = object(get(&g, "document"));
        let secure = get(&get(&g, "location"), "protocol").as_string().as_deref() == Some("https:");
        LocalStorage { local, document, secure }
    }
}

impl Storage for LocalStorage {
    fn get(&self, key: &str) -> Option<String> {
        self.local.as_ref()?.get_item(key).ok().flatten()
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        let s = self.local.as_ref().ok_or(StorageError::Unavailable)?;
        s.set_item(key, value).map_err(|e| {
            let name = js_sys::Reflect::get(&e, &JsValue::from_str("name")).ok().and_then(|n| n.as_string());
            if name.as_deref() == Some("QuotaExceededError") {
                StorageError::Full
            } else {
                StorageError::Unavailable
            }
        })
    }
    fn remove(&mut self, key: &str) {
        if let Some(s) = &self.local {
            let _ = s.remove_item(key);
        }
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        let Some(s) = &self.local else { return Vec::new() };
        let n = s.length().unwrap_or(0);
        let mut out = Vec::new();
        for i in 0..n {
            if let Ok(Some(k)) = s.key(i) {
                if k.starts_with(prefix) {
                    out.push(k);
                }
            }
        }
        out
    }
    fn cookie(&self, name: &str) -> Option<String> {
        let all = get(self.document.as_ref()?, "cookie").as_string()?;
        all.split(';').find_map(|pair| {
            let (k, v) = pair.trim_start().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }
    fn set_cookie(&mut self, name: &str, value: &str, spec: &CookieSpec<'_>) -> bool {
        let Some(doc) = &self.document else { return false };
        let mut c = String::with_capacity(128);
        c.push_str(name);
        c.push('=');
        c.push_str(value);
        c.push_str("; Path=/; SameSite=Lax; Max-Age=");
        crate::json::push_u64(&mut c, spec.max_age_s);
        if let Some(d) = spec.domain {
            c.push_str("; Domain=");
            c.push_str(d);
        }
        if self.secure {
            c.push_str("; Secure");
        }
        // `Reflect.set` throws where the setter does (a sandboxed frame), answers `false` where
        // the property cannot be set.
        if js_sys::Reflect::set(doc, &JsValue::from_str("cookie"), &JsValue::from_str(&c)) != Ok(true) {
            return false;
        }
        spec.max_age_s == 0 || self.cookie(name).as_deref() == Some(value)
    }
}

/// `v` if it is an object (not `undefined`, `null` or a primitive).
fn object(v: JsValue) -> Option<JsValue> {
    v.is_object().then_some(v)
}
