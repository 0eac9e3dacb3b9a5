//! The tracking path's size floor: the SDK's core logic that a landing page runs, with no
//! browser layer, as a wasm module of two exports (`alloc`, `run`). A benchmark built and run
//! by `tests/size-floor/run.mjs`, never shipped.
//!
//! Owns: the minimal in-memory ports (a `Vec` storage with cookies, a counter id source, a
//! settable clock) and the one scripted page visit `run` performs: the tracker built with the
//! configuration's defaults, the page set (campaign, journey touch, channel), an optional
//! consent choice, the delivery role, `track()`, `identify()`, the ticks a page runs (the
//! automatic page view, persistence, batches polled, the collector's answer handed back, the
//! wake-up), and the page leaving (the keepalive batch and the hand-over).
//! Must never: compute anything the SDK computes (the figure would then include code the SDK
//! does not need, or miss code it does), take a value the SDK uses from a constant the
//! compiler could fold (everything comes from `run`'s input), or use `omnitrail::testing`
//! (its `BTreeMap` storage would inflate the figure).
//!
//! Input (`run(ptr, len)`): the time (f64, little-endian), a flags byte (bit 0: Global Privacy
//! Control; bit 1: the visitor makes a consent choice, bit 2 granting analytics, bit 3
//! marketing; bit 4: the collector answers 200, else 503; bit 5: `reset()` at the end with
//! `all-calls`), then UTF-8 fields separated by U+001F: url, path, search, title, referrer,
//! user agent, host, locale, time zone, write key, endpoint, event, properties, user id,
//! traits, a second URL of the site and its path (the SPA route of `all-calls`), then the
//! stored state as key/value pairs (a key starting with `=` is a cookie).
//! Output (a pointer to a little-endian u32 length, then the bytes): records separated by
//! U+001E: `B` + a batch body sent while the page lives, `U` + one sent at `pagehide`, `S` +
//! key U+001F value for each stored item afterwards, `C` + name U+001F value for each cookie,
//! `E` + a configuration error, `X` + what `decorate` answered (`all-calls`).

use std::cell::Cell;
use std::rc::Rc;

use omnitrail::error::StorageError;
use omnitrail::message::{Environment, PageContext};
use omnitrail::ports::{uuid_from_bytes, Clock, CookieSpec, IdSource, Storage};
use omnitrail::{CallOptions, Config, Tracker};

/// The allocator of the browser build (src/web/mod.rs).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// localStorage and `document.cookie` as two lists.
#[derive(Default)]
struct VecStorage {
    items: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
}

fn lookup(list: &[(String, String)], key: &str) -> Option<String> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn put(list: &mut Vec<(String, String)>, key: &str, value: &str) {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => value.clone_into(v),
        None => list.push((key.to_owned(), value.to_owned())),
    }
}

impl Storage for VecStorage {
    fn get(&self, key: &str) -> Option<String> {
        lookup(&self.items, key)
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        put(&mut self.items, key, value);
        Ok(())
    }
    fn remove(&mut self, key: &str) {
        self.items.retain(|(k, _)| k != key);
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.items.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(k, _)| k.clone()).collect()
    }
    fn cookie(&self, name: &str) -> Option<String> {
        lookup(&self.cookies, name)
    }
    fn set_cookie(&mut self, name: &str, value: &str, spec: &CookieSpec<'_>) -> bool {
        if spec.max_age_s == 0 {
            self.cookies.retain(|(k, _)| k != name);
        } else {
            put(&mut self.cookies, name, value);
        }
        true
    }
}

/// The time, set by the script between ticks (the wake-up timer firing).
#[derive(Clone)]
struct SetClock(Rc<Cell<f64>>);

impl Clock for SetClock {
    fn now_ms(&self) -> f64 {
        self.0.get()
    }
}

/// Ids from a counter, mixed with the visit's seed (splitmix64) in the bytes that come first:
/// two visits get different tab ids (the outbox's writer id), as two page loads do.
struct CountIds {
    seed: u64,
    n: u64,
}

impl IdSource for CountIds {
    fn uuid(&mut self) -> String {
        self.n += 1;
        let mut z = self.seed.wrapping_add(self.n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        uuid_from_bytes((u128::from(z) << 64 | u128::from(self.n)).to_be_bytes())
    }
    fn unit(&mut self) -> f64 {
        0.5
    }
}

type Floor = Tracker<VecStorage, SetClock, CountIds>;

/// Room for `len` input bytes (leaked: one visit per instance).
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(len);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

/// One page visit; see the module documentation for the input and the output.
///
/// # Safety
/// `ptr` holds `len` bytes written by the caller after `alloc(len)`; the text after the first
/// 9 bytes is UTF-8 (the browser layer's strings arrive the same way, unchecked).
#[no_mangle]
pub unsafe extern "C" fn run(ptr: *const u8, len: usize) -> *const u8 {
    let input = std::slice::from_raw_parts(ptr, len);
    let mut out = String::new();
    if let (Some(time), Some(&flags), Some(text)) = (input.get(..8), input.get(8), input.get(9..)) {
        let mut now = [0u8; 8];
        now.copy_from_slice(time);
        visit(f64::from_le_bytes(now), flags, std::str::from_utf8_unchecked(text), &mut out);
    }
    let mut framed = Vec::with_capacity(out.len() + 4);
    framed.extend_from_slice(&(out.len() as u32).to_le_bytes());
    framed.extend_from_slice(out.as_bytes());
    let p = framed.as_ptr();
    std::mem::forget(framed);
    p
}

fn record(out: &mut String, tag: char, a: &str, b: Option<&str>) {
    out.push(tag);
    out.push_str(a);
    if let Some(b) = b {
        out.push(FIELD);
        out.push_str(b);
    }
    out.push(RECORD);
}

fn visit(now: f64, flags: u8, text: &str, out: &mut String) {
    let mut f = text.split(FIELD);
    let mut next = || f.next().unwrap_or_default();
    let page = PageContext {
        url: next().to_owned(),
        path: next().to_owned(),
        search: next().to_owned(),
        title: next().to_owned(),
        referrer: next().to_owned(),
    };
    let env = Environment {
        user_agent: next().to_owned(),
        host: next().to_owned(),
        signals: omnitrail::consent::Signals { gpc: flags & 1 != 0, dnt: false },
        locale: next().to_owned(),
        timezone: next().to_owned(),
        screen: Some((1280.0, 800.0, 1.0)),
    };
    let (write_key, endpoint) = (next(), next());
    let (event, properties, user_id, traits) = (next(), next(), next(), next());
    let (route, route_path) = (next(), next());
    let mut storage = VecStorage::default();
    loop {
        let (key, value) = (next(), next());
        if key.is_empty() {
            break;
        }
        match key.strip_prefix('=') {
            Some(name) => put(&mut storage.cookies, name, value),
            None => put(&mut storage.items, key, value),
        }
    }

    let Some(cfg) = configure(write_key, endpoint, out) else { return };
    let clock = SetClock(Rc::new(Cell::new(now)));
    let mut t = start(cfg, storage, clock.clone(), CountIds { seed: now.to_bits(), n: 0 }, env);
    open_page(&mut t, page);
    #[cfg(feature = "consent")]
    choose(&mut t, flags);
    #[cfg(feature = "delivery")]
    lead(&mut t);
    calls(&mut t, event, properties, user_id, traits);
    let status = if flags & 16 != 0 { 200 } else { 503 };
    tick(&mut t, status, out);
    // The wake-up timer fires: the batch is due.
    #[cfg(feature = "delivery")]
    if let Some(at) = t.next_wake() {
        clock.0.set(at.max(now));
        tick(&mut t, status, out);
    }
    #[cfg(feature = "all-calls")]
    rest(&mut t, Route { href: route, path: route_path, event, properties, user_id, traits }, status, out);
    #[cfg(feature = "unload")]
    leave(&mut t, event, properties, out);
    #[cfg(feature = "all-calls")]
    other_tabs(&mut t, now, flags);
    #[cfg(not(feature = "all-calls"))]
    let _ = (route, route_path);
    report(&t, out);
}

// The visit's phases, each a function of its own that the compiler does not inline, so that
// the build with names (run.mjs --modules, with wasm-opt's one-caller inlining off too) tells
// what each phase's SDK code weighs. The measured builds inline them again (wasm-opt inlines
// every function with one caller).

/// The configuration as the browser layer finishes it (`validated`), its defaults otherwise.
#[inline(never)]
fn configure(write_key: &str, endpoint: &str, out: &mut String) -> Option<Config> {
    match Config::new(write_key, endpoint).validated() {
        // The browser reads the configuration from a JS object at run time: nothing of it is
        // a constant there either.
        #[cfg(feature = "opaque-config")]
        Ok(c) => Some(std::hint::black_box(c)),
        #[cfg(not(feature = "opaque-config"))]
        Ok(c) => Some(c),
        Err(e) => {
            record(out, 'E', &e.message(), None);
            None
        }
    }
}

/// The tracker, from what is stored (identity, session, consent, journey, outbox).
#[inline(never)]
fn start(cfg: Config, storage: VecStorage, clock: SetClock, mut ids: CountIds, env: Environment) -> Floor {
    // The tab id as the browser layer makes it (src/web/api.rs).
    let tab = ids.uuid();
    let tab = tab.get(..13).unwrap_or(&tab).replace('-', "");
    Tracker::new(cfg, storage, clock, ids, &tab, env)
}

/// The page: an incoming hand-over id removed, the page's context, campaign and touch.
#[inline(never)]
fn open_page(t: &mut Floor, page: PageContext) {
    let url = page.url.clone();
    let _ = t.adopt_handover(&url);
    t.set_page(page);
}

/// A consent banner's choice.
#[cfg(feature = "consent")]
#[inline(never)]
fn choose(t: &mut Floor, flags: u8) {
    if flags & 2 != 0 {
        t.set_consent(&[("analytics".to_owned(), flags & 4 != 0), ("marketing".to_owned(), flags & 8 != 0)]);
    }
}

/// The delivery lock was free: this tab delivers.
#[cfg(feature = "delivery")]
#[inline(never)]
fn lead(t: &mut Floor) {
    t.lead(omnitrail::tracker::Succession::Free);
}

/// The page's own first calls.
#[inline(never)]
fn calls(t: &mut Floor, event: &str, properties: &str, user_id: &str, traits: &str) {
    let opts = CallOptions::default();
    let _ = t.track(event, Some(properties), &opts);
    let _ = t.identify(Some(user_id), Some(traits), &opts);
}

/// The inputs of [`rest`].
#[cfg(feature = "all-calls")]
struct Route<'a> {
    href: &'a str,
    path: &'a str,
    event: &'a str,
    properties: &'a str,
    user_id: &'a str,
    traits: &'a str,
}

/// The rest of the page API the browser layer drives (`all-calls`), in the order of a page
/// that uses all of it.
#[cfg(feature = "all-calls")]
#[inline(never)]
fn rest(t: &mut Floor, r: Route<'_>, status: u16, out: &mut String) {
    let opts = CallOptions::default();
    // The SPA moved to another route (web/dom.rs: history listeners).
    if t.is_new_route(r.href) {
        let page = PageContext {
            url: r.href.to_owned(),
            path: r.path.to_owned(),
            search: String::new(),
            title: t.page().title.clone(),
            referrer: String::new(),
        };
        t.on_route_change(page, r.href);
    }
    t.page_view_at(r.href);
    let _ = t.page_view(Some("Docs"), Some(r.event), Some(r.properties), &opts);
    let _ = t.screen(Some(r.event), Some(r.properties), &opts);
    let _ = t.group(r.user_id, Some(r.traits), &opts);
    let _ = t.alias(r.user_id, None, &opts);
    t.note_invalid_call();
    // Declarative tracking and outbound links (web/dom.rs reads the element, the core the rest).
    if omnitrail::wire::MessageType::parse(r.event).is_none() && omnitrail::names::unqueue(r.event, "consent").is_none() {
        let props = omnitrail::declarative::properties([("data-ot-prop-plan", r.user_id)].into_iter());
        let _ = t.track(r.event, Some(&props), &opts);
    }
    let url = t.page().url.clone();
    if let Some(props) = omnitrail::declarative::outbound("https://elsewhere.example/", &url, r.event) {
        let _ = t.track(omnitrail::declarative::OUTBOUND_EVENT, Some(&props), &opts);
    }
    let decorated = t.decorate(r.href);
    let _ = t.should_decorate(&decorated, r.href);
    record(out, 'X', &decorated, None);
    let _ = omnitrail::consent::valid_category(r.event);
    let _ = std::hint::black_box(t.stats().counters());
    t.flush();
    tick(t, status, out);
}

/// Other tabs and the network (`all-calls`): another tab's consent change, offline and online,
/// the follower role, the storage lease (where Web Locks are missing), `reset()` (bit 5).
#[cfg(feature = "all-calls")]
#[inline(never)]
fn other_tabs(t: &mut Floor, now: f64, flags: u8) {
    let key = t.consent().key().to_owned();
    let value = t.storage().get(&key);
    t.on_storage_change(&key, value.as_deref());
    t.set_online(false);
    t.set_online(true);
    t.suspend();
    t.become_follower();
    let prefix = t.config().storage_prefix.clone();
    let tab = t.tab().to_owned();
    let mut lease = omnitrail::lease::Lease::new(&prefix, &tab);
    if lease.tick(t.lease_storage(), now) == omnitrail::lease::LeaseState::Held {
        t.become_leader();
    }
    lease.release(t.lease_storage());
    let _ = t.take_identity_refresh();
    if flags & 32 != 0 {
        t.reset();
    }
}

/// `pagehide`: one more event, the keepalive batch, the hand-over.
#[cfg(feature = "unload")]
#[inline(never)]
fn leave(t: &mut Floor, event: &str, properties: &str, out: &mut String) {
    let _ = t.track(event, Some(properties), &CallOptions::default());
    for send in t.on_hidden(true) {
        record(out, 'U', &send.body, None);
    }
    t.hand_over();
}

/// What is stored after the visit.
#[inline(never)]
fn report(t: &Floor, out: &mut String) {
    for (k, v) in &t.storage().items {
        record(out, 'S', k, Some(v));
    }
    for (k, v) in &t.storage().cookies {
        record(out, 'C', k, Some(v));
    }
}

/// What the browser layer's tick does with the core (src/web/runtime.rs `tick_now`), the
/// requests answered at once with `status`.
#[inline(never)]
fn tick(t: &mut Floor, status: u16, out: &mut String) {
    t.send_auto_page();
    #[cfg(feature = "persist")]
    t.persist();
    #[cfg(feature = "delivery")]
    {
        let mut sent = Vec::new();
        for _ in 0..8 {
            let Some(send) = t.poll() else { break };
            // Gzipped by the browser's CompressionStream where the core says so: the core
            // only hears the size.
            if t.compress(&send) {
                let _ = t.compressed(send.batch_id, send.body.len() / 4);
            }
            record(out, 'B', &send.body, None);
            sent.push(send.batch_id);
        }
        for &id in &sent {
            let _ = t.on_response(id, status, None, Some("gzip"));
            t.answer_read(id);
        }
        let _ = t.settle_flush(!sent.is_empty());
        let _ = t.next_wake();
    }
    #[cfg(not(feature = "delivery"))]
    let _ = (status, out);
}
