//! DOM listeners: auto-decoration of links, single-page-app routes, declarative events.
//!
//! Owns: reading the DOM (link targets, `data-ot-*` attributes, history calls) and handing
//! what it found to the core.
//! Must never: change a page call's behaviour (history wrappers return and throw as the
//! original), or run page code while the state is borrowed.

use std::cell::RefCell;
use std::rc::Weak;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::runtime::{add_listener, get, global, leak, schedule, with, Runtime};

/// Auto-decoration: a link to another linked site gets the hand-over parameter when it is
/// about to be followed (mousedown for middle clicks, click, keyboard activation).
pub fn listen_decoration(weak: &Weak<RefCell<Runtime>>) {
    // Without the `handover` feature (the small core, pages without `linkedDomains`) no link
    // is decorated: nothing of the listener is compiled.
    if !cfg!(feature = "handover") {
        return;
    }
    let document = get(&global(), "document");
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
        let (Some(href), Some(host)) = (get(&node, "href").as_string(), get(&get(&global(), "location"), "hostname").as_string()) else {
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
            let _ = super::runtime::window().set_timeout_with_callback_and_timeout_and_arguments_0(&check, 0);
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
        super::runtime::add_capture_listener(&document, event, &handler);
    }
}

fn get_attr(node: &JsValue, name: &str) -> Option<String> {
    node.dyn_ref::<web_sys::Element>().and_then(|e| e.get_attribute(name))
}

/// An element's attributes as (name, value).
fn attributes(node: &JsValue) -> Vec<(String, String)> {
    let attrs = get(node, "attributes");
    let n = get(&attrs, "length").as_f64().unwrap_or(0.0).min(256.0) as u32;
    let mut out = Vec::new();
    for i in 0..n {
        let Ok(a) = js_sys::Reflect::get_u32(&attrs, i) else { continue };
        if let (Some(name), Some(value)) = (get(&a, "name").as_string(), get(&a, "value").as_string()) {
            out.push((name, value));
        }
    }
    out
}
