//! The delivering-tab election: Web Locks where available, the storage lease otherwise.
//!
//! Owns: asking for the lock `omnitrail:{prefix}` (first without waiting, then waiting),
//! holding it until the page leaves, and ticking the lease without Web Locks.
//! Must never: let two tabs lead at once by its own doing, or hold the lock through a
//! `pagehide` (the page could not enter the back/forward cache).

use std::cell::RefCell;
use std::rc::Weak;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::runtime::{get, global, leak, schedule, with, Runtime};
use crate::tracker::Succession;

/// Builds the election: one tab delivers, the holder of the Web Lock `omnitrail:{prefix}`,
/// or without Web Locks the holder of the storage lease.
pub fn election(weak: &Weak<RefCell<Runtime>>, ignore: &js_sys::Function) -> js_sys::Function {
    let Some(rt) = weak.upgrade() else { return ignore.clone() };
    let (prefix, tab) = with(&rt, |r| (r.core.config().storage_prefix.clone(), r.core.tab().to_owned())).unwrap_or_default();
    let locks = get(&get(&global(), "navigator"), "locks");
    let Ok(request) = get(&locks, "request").dyn_into::<js_sys::Function>() else {
        return lease_election(weak, &prefix, &tab);
    };
    let name = JsValue::from_str(&["omnitrail:", prefix.as_str()].concat());

    // The lock is ours: lead, and hold it until `pagehide` resolves the promise we return.
    // Granted after waiting (`TakeOver`), another tab delivered until it let go.
    let w = weak.clone();
    let hold = move |lock: &JsValue, how: Succession| -> JsValue {
        if lock.is_null() || lock.is_undefined() {
            return JsValue::UNDEFINED;
        }
        let Some(rt) = w.upgrade() else { return JsValue::UNDEFINED };
        let mut release = None;
        let held = js_sys::Promise::new(&mut |resolve, _reject| release = Some(resolve));
        with(&rt, |r| {
            r.lock_release = release;
            r.core.lead(how);
        });
        schedule(&rt);
        held.into()
    };
    let hold2 = hold.clone();
    let granted = leak(Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| hold(&lock, Succession::TakeOver)));

    // First try without waiting: if another tab holds the lock, follow until it comes to us.
    let w = weak.clone();
    let (locks2, request2, name2) = (locks.clone(), request.clone(), name.clone());
    let first = leak(Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| {
        if !(lock.is_null() || lock.is_undefined()) {
            return hold2(&lock, Succession::Free);
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
                // Held after following: the tab that delivered before let go (or vanished).
                Some(LeaseState::Held) if core.role() == crate::tracker::Role::Follower => core.lead(Succession::TakeOver),
                Some(LeaseState::Held) => core.become_leader(),
                Some(LeaseState::Other) if core.role() != crate::tracker::Role::Follower => core.become_follower(),
                _ => {}
            }
        });
        schedule(&rt);
    }));
    let _ = super::runtime::window().set_interval_with_callback_and_timeout_and_arguments_0(&tick, (LEASE_MS / 3.0) as i32);
    leak(Closure::<dyn FnMut()>::new(move || {
        let window = super::runtime::window();
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&tick, 0);
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&tick, 100);
    }))
}
