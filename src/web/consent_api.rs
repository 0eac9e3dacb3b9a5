//! The `consent.*` JavaScript calls: one method of the wasm class, `consentCall(name, a)`,
//! which the loader and the npm wrapper expose as `omnitrail.consent.set(choices)`,
//! `omnitrail.consent.get()` and `omnitrail.consent.onChange(fn)` (js/src/namespaces.js),
//! as `cartCall` does for the cart.
//!
//! Owns: the calls' arguments, the answer of `get`, and the `onChange` listeners' list.
//! Must never: throw, hold a consent rule (those live in `consent.rs`, `store.rs` and the
//! tracker), or run page code while the state is borrowed.

use wasm_bindgen::prelude::*;

use super::api::Omnitrail;
use super::convert;
use super::runtime::{tick_now, with};
use crate::error::InputError;
use crate::names::ConsentOp;

/// By the name the snippet queues it under (`consent.set` → `"consentSet"`; `"setConsent"`,
/// the name snippets pasted before the namespace queued it under, still replays).
pub fn parse_queued(method: &str) -> Option<ConsentOp> {
    if method == "setConsent" {
        return Some(ConsentOp::Set);
    }
    ConsentOp::parse(&crate::names::unqueue(method, "consent")?).filter(|op| !op.answers())
}

#[wasm_bindgen]
impl Omnitrail {
    /// `consent.<name>(a)`: runs the call `name` (see [`ConsentOp::parse`]; an unknown name
    /// does nothing). Returns the preferences for `get`, else `undefined`.
    #[wasm_bindgen(js_name = consentCall)]
    pub fn consent_call(&self, name: JsValue, a: JsValue) -> JsValue {
        match name.as_string().as_deref().and_then(ConsentOp::parse) {
            Some(op) => self.consent_op(op, a),
            None => JsValue::UNDEFINED,
        }
    }
}

impl Omnitrail {
    pub(super) fn consent_op(&self, op: ConsentOp, a: JsValue) -> JsValue {
        match op {
            // `consent.set({ analytics: true, marketing: false })`: the visitor's choice.
            ConsentOp::Set => self.set_consent(a),
            // `consent.get()`: `{ necessary: true, analytics: …, … }`.
            ConsentOp::Get => return with(&self.rt, |r| super::runtime::consent_object(&r.core)).unwrap_or(JsValue::NULL),
            // `consent.onChange(fn)`: `fn(preferences)` after every change (here or in another tab).
            ConsentOp::OnChange => match a.dyn_into::<js_sys::Function>() {
                Ok(f) => drop(with(&self.rt, |r| r.consent_listeners.push(f))),
                Err(_) => self.warn(InputError::NotAnObject("consent.onChange(): callback")),
            },
        }
        JsValue::UNDEFINED
    }

    fn set_consent(&self, choices: JsValue) {
        let choices = match convert::consent_choices(&choices) {
            Ok(c) => c,
            Err(e) => return self.warn(e),
        };
        let outcome = with(&self.rt, |r| r.core.set_consent(&choices));
        if outcome.is_some_and(|o| o.changed) {
            super::runtime::notify_consent(&self.rt);
            // A choice made in the web view applies to the app too.
            if super::native_bridge::present() {
                if let Some(m) = with(&self.rt, |r| r.core.consent_message()) {
                    super::native_bridge::post(&m);
                }
            }
        }
        tick_now(&self.rt);
    }
}
