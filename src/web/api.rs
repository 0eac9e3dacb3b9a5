//! The JavaScript API: `new Omnitrail(config)` and the Segment-style calls.
//!
//! Owns: argument shapes (Segment's optional-argument conventions), one rate-limited console
//! warning per kind of bad input, and `replay` for calls queued by the snippet before the SDK
//! loaded. Every call converts its arguments first (page code may run inside a getter), then
//! borrows the state, calls the core and schedules a tick.
//! Must never: throw (except an invalid config in the constructor), or panic.

use wasm_bindgen::prelude::*;

use super::convert::{self, Options};
use super::runtime::{schedule, tick_now, with, Runtime, Shared};
use super::{env, ports};
use crate::error::{warn_now, InputError};
use crate::tracker::{CallOptions, Role, Tracker};
use crate::wire::MessageType as Method;

#[wasm_bindgen]
pub struct Omnitrail {
    pub(super) rt: Shared,
}

fn is_name(v: &JsValue) -> bool {
    v.is_string() || v.as_f64().is_some()
}

#[wasm_bindgen]
impl Omnitrail {
    /// Starts the SDK, or shares the one already running in this page with the same
    /// `storagePrefix` (see `instances.rs`). Throws only for an invalid configuration.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<Omnitrail, JsError> {
        let cfg = convert::config(&config).map_err(|e| JsError::new(&e.message()))?;
        if let Some(rt) = super::instances::running(&cfg.storage_prefix) {
            let same = with(&rt, |r| r.core.config().write_key == cfg.write_key && r.core.config().batch_url() == cfg.batch_url());
            if same == Some(false) {
                web_sys::console::warn_1(&JsValue::from_str(&crate::config::already_running(&cfg.storage_prefix)));
            }
            return Ok(Omnitrail { rt });
        }
        let mut ids = ports::CryptoIds::new();
        let tab = crate::ports::IdSource::uuid(&mut ids);
        let tab = tab.get(..13).unwrap_or(&tab).replace('-', "");
        let mut core = Tracker::new(cfg, ports::LocalStorage::open(), ports::DateClock, ids, &tab, env::environment());
        super::native_bridge::adopt(&mut core);
        if let Some(clean) = core.adopt_handover(&env::href()) {
            env::replace_url(&clean);
        }
        core.set_page(env::page());
        let rt = Runtime::start(core);
        super::instances::register(&rt);
        Ok(Omnitrail { rt })
    }

    /// `url` with this visitor's identity for a linked site (`_ot=<anonymousId>.<time>`),
    /// adopted there if it arrives within `handoverMaxAge`.
    pub fn decorate(&self, url: JsValue) -> JsValue {
        let Some(u) = url.as_string() else { return url };
        with(&self.rt, |r| JsValue::from_str(&r.core.decorate(&u))).unwrap_or(url)
    }

    pub fn track(&self, event: JsValue, properties: JsValue, options: JsValue) {
        self.call(Method::Track, [event, properties, options, JsValue::UNDEFINED], None);
    }

    /// `page([category], [name], [properties], [options])`
    pub fn page(&self, a: JsValue, b: JsValue, c: JsValue, d: JsValue) {
        self.call(Method::Page, [a, b, c, d], None);
    }

    /// `screen([name], [properties], [options])`
    pub fn screen(&self, a: JsValue, b: JsValue, c: JsValue) {
        self.call(Method::Screen, [a, b, c, JsValue::UNDEFINED], None);
    }

    /// `identify([userId], [traits], [options])`
    pub fn identify(&self, a: JsValue, b: JsValue, c: JsValue) {
        self.call(Method::Identify, [a, b, c, JsValue::UNDEFINED], None);
    }

    /// `group(groupId, [traits], [options])`
    pub fn group(&self, a: JsValue, b: JsValue, c: JsValue) {
        self.call(Method::Group, [a, b, c, JsValue::UNDEFINED], None);
    }

    /// `alias(userId, [previousId], [options])`
    pub fn alias(&self, a: JsValue, b: JsValue, c: JsValue) {
        self.call(Method::Alias, [a, b, c, JsValue::UNDEFINED], None);
    }

    /// Forgets the user and starts a new anonymous id.
    pub fn reset(&self) {
        with(&self.rt, |r| r.core.reset());
        self.tell_native_identity();
    }

    /// Sends everything waiting now. Resolves `true` once it is all acknowledged, `false` if
    /// a delivery attempt failed first (it will be retried).
    pub fn flush(&self) -> js_sys::Promise {
        let rt = self.rt.clone();
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            let queued = with(&rt, |r| {
                r.core.flush();
                r.add_flush_waiter(resolve.clone());
            });
            if queued.is_none() {
                let _ = resolve.call1(&JsValue::UNDEFINED, &JsValue::FALSE);
            }
        });
        tick_now(&self.rt);
        promise
    }

    #[wasm_bindgen(js_name = anonymousId)]
    pub fn anonymous_id(&self) -> String {
        with(&self.rt, |r| r.core.identity().anonymous_id.clone()).unwrap_or_default()
    }

    #[wasm_bindgen(js_name = setAnonymousId)]
    pub fn set_anonymous_id(&self, id: JsValue) {
        let result =
            convert::id(&id, "setAnonymousId(): id").and_then(|id| with(&self.rt, |r| r.core.set_anonymous_id(&id)).unwrap_or(Ok(())));
        match result {
            Ok(()) => self.tell_native_identity(),
            Err(e) => self.warn(e),
        }
    }

    /// `{ anonymousId, userId, groupId }`
    pub fn user(&self) -> JsValue {
        let o = js_sys::Object::new();
        with(&self.rt, |r| {
            let id = r.core.identity();
            set(&o, "anonymousId", &JsValue::from_str(&id.anonymous_id));
            set(&o, "userId", &id.user_id.as_deref().map_or(JsValue::NULL, JsValue::from_str));
            set(&o, "groupId", &id.group_id.as_deref().map_or(JsValue::NULL, JsValue::from_str));
        });
        o.into()
    }

    /// Delivery counters (for diagnostics, tests and benchmarks).
    pub fn stats(&self) -> JsValue {
        let o = js_sys::Object::new();
        with(&self.rt, |r| {
            let s = r.core.stats();
            for (k, v) in crate::names::STATS_COUNTERS.iter().zip(s.counters()) {
                set(&o, k, &JsValue::from_f64(v as f64));
            }
            let role = match r.core.role() {
                Role::Leader => "leader",
                Role::Follower => "follower",
                Role::Undecided => "undecided",
            };
            set(&o, "role", &JsValue::from_str(role));
        });
        o.into()
    }

    /// Hands this page over to another instance: the script-tag loader switching from the
    /// small core to the full build at the first `cart.*` call (js/src/loader.js). Runs the
    /// work that is due (the automatic page view, the persist), then lets go of the delivery
    /// lock or lease; the next instance adopts the stored outbox as a tab taking over delivery
    /// does. The loader calls `free()` after it, which stops every listener and timer.
    pub fn retire(&self) {
        tick_now(&self.rt);
        let release = with(&self.rt, |r| {
            if let Some(lease) = r.lease.as_mut() {
                lease.release(r.core.lease_storage());
            }
            r.core.suspend();
            r.lock_release.take()
        })
        .flatten();
        if let Some(f) = release {
            let _ = f.call0(&JsValue::UNDEFINED);
        }
    }

    /// Replays a call queued by the snippet: `method` is its name, `args` its arguments,
    /// `timestamp` when it was made (ms since the epoch). Answers whether `method` is one that
    /// can be replayed (the loader calls any other directly).
    pub fn replay(&self, method: JsValue, args: JsValue, timestamp: JsValue) -> bool {
        // Read by index, not `Array.prototype.slice` (a host page may have broken it).
        let args = args.dyn_into::<js_sys::Array>().unwrap_or_default();
        let arg = |i: u32| args.get(i);
        let ts = timestamp.as_f64();
        let name = method.as_string().unwrap_or_default();
        if let Some(m) = Method::parse(&name) {
            self.call(m, [arg(0), arg(1), arg(2), arg(3)], ts);
            return true;
        }
        match name.as_str() {
            "reset" => self.reset(),
            "flush" => drop(self.flush()),
            "setAnonymousId" => self.set_anonymous_id(arg(0)),
            other => {
                if let Some(op) = super::consent_api::parse_queued(other) {
                    drop(self.consent_op(op, arg(0)));
                    return true;
                }
                #[cfg(feature = "cart")]
                if let Some(op) = super::cart_api::parse_queued(other) {
                    drop(self.cart_op(op, &arg(0), &arg(1), ts));
                    return true;
                }
                return false;
            }
        }
        true
    }
}

fn set(o: &js_sys::Object, k: &str, v: &JsValue) {
    let _ = js_sys::Reflect::set(o, &JsValue::from_str(k), v);
}

/// A call with its arguments converted to owned Rust values.
enum Call {
    Track { event: String, properties: Option<String> },
    Page { category: Option<String>, name: Option<String>, properties: Option<String> },
    Screen { name: Option<String>, properties: Option<String> },
    Identify { user_id: Option<String>, traits: Option<String> },
    Group { group_id: String, traits: Option<String> },
    Alias { user_id: String, previous_id: Option<String> },
}

#[allow(clippy::indexing_slicing)] // `rest` is `a` (4 values) less at most 2 leading names: `rest[0]`, `rest[1]` exist
fn convert_call(m: Method, a: &[JsValue; 4]) -> Result<(Call, Options), InputError> {
    Ok(match m {
        Method::Track => (
            Call::Track {
                event: convert::id(&a[0], "track(): the event name")?,
                properties: convert::opt_object(&a[1], "track(): properties")?,
            },
            convert::options(&a[2])?,
        ),
        Method::Page => {
            // Leading strings are [category,] name; then properties, then options.
            let names = a.iter().take(2).take_while(|v| is_name(v)).count();
            let (category, name) = match names {
                2 => (convert::opt_id(&a[0], "page(): category")?, convert::opt_id(&a[1], "page(): name")?),
                1 => (None, convert::opt_id(&a[0], "page(): name")?),
                _ => (None, None),
            };
            let rest = &a[names.max(usize::from(a[0].is_undefined() || a[0].is_null()))..];
            let properties = convert::opt_object(rest.first().unwrap_or(&JsValue::UNDEFINED), "page(): properties")?;
            let options = convert::options(rest.get(1).unwrap_or(&JsValue::UNDEFINED))?;
            (Call::Page { category, name, properties }, options)
        }
        Method::Screen => {
            let named = is_name(&a[0]) || a[0].is_undefined() || a[0].is_null();
            let name = if named { convert::opt_id(&a[0], "screen(): name")? } else { None };
            let rest = if named { &a[1..] } else { &a[..] };
            (Call::Screen { name, properties: convert::opt_object(&rest[0], "screen(): properties")? }, convert::options(&rest[1])?)
        }
        Method::Identify => {
            let named = is_name(&a[0]) || a[0].is_undefined() || a[0].is_null();
            let user_id = if named { convert::opt_id(&a[0], "identify(): userId")? } else { None };
            let rest = if named { &a[1..] } else { &a[..] };
            (Call::Identify { user_id, traits: convert::opt_object(&rest[0], "identify(): traits")? }, convert::options(&rest[1])?)
        }
        Method::Group => (
            Call::Group { group_id: convert::id(&a[0], "group(): groupId")?, traits: convert::opt_object(&a[1], "group(): traits")? },
            convert::options(&a[2])?,
        ),
        Method::Alias => {
            let has_previous = is_name(&a[1]);
            (
                Call::Alias {
                    user_id: convert::id(&a[0], "alias(): userId")?,
                    previous_id: if has_previous { convert::opt_id(&a[1], "alias(): previousId")? } else { None },
                },
                convert::options(if has_previous { &a[2] } else { &a[1] })?,
            )
        }
    })
}

impl Omnitrail {
    fn call(&self, m: Method, args: [JsValue; 4], replay_ts: Option<f64>) {
        // Convert before borrowing: a getter in the arguments may call back into the SDK.
        let is_page = matches!(m, Method::Page);
        let href = if is_page { env::href() } else { self.catch_up_route() };
        let page = is_page.then(env::page);
        let result = convert_call(m, &args).and_then(|(call, opts)| {
            let o = CallOptions {
                timestamp_ms: opts.timestamp_ms.or(replay_ts),
                context: opts.context.as_deref(),
                integrations: opts.integrations.as_deref(),
            };
            with(&self.rt, |r| {
                let core = &mut r.core;
                match &call {
                    Call::Track { event, properties } => core.track(event, properties.as_deref(), &o),
                    Call::Page { category, name, properties } => {
                        if let Some(p) = page {
                            core.page_view_at(&href);
                            core.set_page(p);
                        }
                        core.page_view(category.as_deref(), name.as_deref(), properties.as_deref(), &o)
                    }
                    Call::Screen { name, properties } => core.screen(name.as_deref(), properties.as_deref(), &o),
                    Call::Identify { user_id, traits } => core.identify(user_id.as_deref(), traits.as_deref(), &o),
                    Call::Group { group_id, traits } => core.group(group_id, traits.as_deref(), &o),
                    Call::Alias { user_id, previous_id } => core.alias(user_id, previous_id.as_deref(), &o),
                }
            })
            .unwrap_or(Ok(()))
        });
        match result {
            Ok(()) => {
                schedule(&self.rt);
                if matches!(m, Method::Identify | Method::Alias) {
                    self.tell_native_identity();
                }
            }
            Err(e) => self.warn(e),
        }
    }

    /// The app changed its route in this task (`history.pushState`) and the route's page view
    /// is still to come (dom.rs sends it a task later, once the title is set): sends it now, so
    /// that a call made now carries the page it was made on and is stored after it. Returns
    /// the page's URL.
    pub(super) fn catch_up_route(&self) -> String {
        let href = env::href();
        if with(&self.rt, |r| r.core.is_new_route(&href)).unwrap_or(false) {
            let page = env::page();
            with(&self.rt, |r| r.core.on_route_change(page, &href));
        }
        href
    }

    /// Tells a native app hosting this web view about the current identity.
    fn tell_native_identity(&self) {
        if !super::native_bridge::present() {
            return;
        }
        let msg = with(&self.rt, |r| {
            let id = r.core.identity();
            crate::app_protocol::identity_message(&id.anonymous_id, id.user_id.as_deref())
        });
        if let Some(m) = msg {
            super::native_bridge::post(&m);
        }
    }

    pub(super) fn warn(&self, e: InputError) {
        let nth = with(&self.rt, |r| {
            r.core.note_invalid_call();
            r.count_warning(e)
        });
        if let Some(nth) = nth.filter(|n| warn_now(*n)) {
            let mut msg = e.message();
            if nth > 1 {
                msg.push_str(" (");
                crate::json::push_u64(&mut msg, nth.into());
                msg.push_str(" times so far)");
            }
            web_sys::console::warn_1(&JsValue::from_str(&msg));
        }
    }
}
