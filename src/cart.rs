//! The shared cart: line items, coupon, currency and `cart_id` as a state-based CRDT, so that
//! two tabs, two devices, or the app and its web view change one cart concurrently and converge
//! whatever order they see each other's state in. Every local operation returns the matching
//! Segment e-commerce v2 event; [`Cart::merge`] never does (the other replica emitted its own).
//!
//! Owns: the cart state ([`Cart`]), its operations, its merge, the `products[]`/totals JSON,
//! and its persisted form under `{prefix}.`[`CART_KEY`] (versioned text, [`Cart::encode`]).
//! Must never: panic on any input (arguments, stored or remote state), grow without bound
//! from local operations (see the limits below and ARCHITECTURE.md "Cart CRDT"), re-emit
//! another replica's events, or touch storage outside [`Cart::load`], [`Cart::persist`],
//! [`Cart::on_storage_change`] and [`Cart::forget`].
//!
//! The design in one paragraph: the state is a *dot store*. Every write creates an entry
//! tagged with a fresh dot `(replica, counter)` and a hybrid timestamp; a version vector (the
//! causal context) records every dot the replica has seen. An entry seen but no longer held
//! was removed, so "remove" deletes the entries the remover holds (observed-remove) and merge
//! keeps an entry iff both hold it or the side that lacks it has never seen it. A line's
//! quantity is the winning set-quantity entry (last writer by `(ts, replica, counter)`) plus
//! the live add/remove deltas; name, price, currency and properties are one last-writer-wins
//! entry per line; coupon, currency and `cart_id` are last-writer-wins entries of the cart.
//!
//! Integration (tracker and web layer):
//! - start-up: `Cart::load(prefix, replica_id, storage)`; a [`LoadStatus::Corrupt`] is
//!   reported once (console warning / stats) and the cart starts empty and overwrites it;
//! - API calls: the operation methods, with `now_ms` from the clock; an `Ok(Some(event))` is
//!   tracked as `track(event.name, event.properties)`; an `Err(InputError)` is the usual
//!   rate-limited warning; `Ok(None)` changed nothing and emits nothing;
//! - the once-per-task persist: [`Cart::persist`]; a `storage` event (or a BroadcastChannel
//!   message carrying [`Cart::encode`]): [`Cart::on_storage_change`] or
//!   [`Cart::merge_encoded`]; the collector's cart endpoint: send [`Cart::encode`], merge the
//!   answer with [`Cart::merge_encoded`]; login: merge the guest cart into the customer's;
//! - `reset()` / consent revoked: [`Cart::forget`].

use std::borrow::Borrow;

use crate::error::{InputError, StorageError};
use crate::json::{self, push_key, push_str, push_u64};
use crate::ports::Storage;
use crate::text;

/// Storage key suffix: the cart lives under `{prefix}.c1`. Bump the version when the encoding
/// changes incompatibly (an old value then reads as corrupt and is replaced by an empty cart).
pub const CART_KEY: &str = "c1";
/// First token of the encoding (the same version).
const HEADER: &str = "C1";
/// Lines a local add may create (visible lines); more is [`InputError::TooLarge`].
pub const MAX_LINES: usize = 100;
/// Largest quantity of a line and of one operation (larger values are clamped).
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Longest product id, variant, coupon, order id, replica id part (bytes).
pub const MAX_ID_LEN: usize = 200;
/// Longest product name (bytes; cut on a character boundary).
pub const MAX_NAME_LEN: usize = 500;
/// Longest currency code (bytes).
pub const MAX_CURRENCY_LEN: usize = 16;
/// Largest free-form properties object of a line, as JSON text (bytes).
pub const MAX_PROPS_LEN: usize = 4096;
/// Largest price (major units); larger prices are clamped, negative ones become 0.
pub const MAX_PRICE: f64 = 1_000_000_000.0;
/// Longest replica id kept (bytes); other characters than `[A-Za-z0-9._:-]` become `_`.
pub const MAX_REPLICA_LEN: usize = 64;
/// Replicas remembered in the version vector; past it, replicas with no live entry are
/// forgotten, oldest last write first (see ARCHITECTURE.md for the consequence).
pub const MAX_REPLICAS: usize = 64;
/// Live quantity deltas of one replica on one line before its next write folds them into one.
pub const MAX_QTY_ENTRIES: usize = 8;
/// Order records kept (the latest by timestamp).
pub const MAX_ORDERS: usize = 5;
/// A stored or received value longer than this is rejected as corrupt.
pub const MAX_ENCODED_LEN: usize = 1024 * 1024;
/// Live entries accepted by [`Cart::decode`].
pub const MAX_ENTRIES: usize = 8192;

/// Largest time stored (15 digits: year 33658).
const MAX_MS: u64 = 999_999_999_999_999;
const MICROS: i64 = 1_000_000;
/// Largest absolute value of one delta entry (folded deltas may exceed [`MAX_QUANTITY`]).
const MAX_DELTA: i64 = 1_000_000_000_000;

/// The storage key of the cart for a storage prefix (`ot1` → `ot1.c1`).
pub fn storage_key(prefix: &str) -> String {
    [prefix, ".", CART_KEY].concat()
}

/// A Segment e-commerce event produced by a local operation: `track(name, properties)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartEvent {
    /// `Product Added`, `Product Removed`, `Cart Viewed`, `Coupon Applied`, `Coupon Removed`,
    /// `Checkout Started` or `Order Completed`.
    pub name: &'static str,
    /// The properties as JSON object text.
    pub properties: String,
}

/// A product as the page describes it to [`Cart::add`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Product<'a> {
    /// Required, non-empty.
    pub product_id: &'a str,
    /// The line is keyed by `product_id` + `variant` (empty: no variant).
    pub variant: &'a str,
    pub name: &'a str,
    /// Major units (`19.99`), rounded to 6 decimals (micro-units), at most [`MAX_PRICE`].
    /// Non-finite or negative: the line's current price (0 for a new line).
    pub price: f64,
    /// ISO 4217 code of the price; empty: the cart's currency.
    pub currency: &'a str,
    /// Free-form Segment product properties (`sku`, `category`, `brand`, `url`, `image_url`,
    /// …) as JSON object text. Empty `name`, `currency` or `properties` keep the line's
    /// current value (a new line: none).
    pub properties: &'a str,
}

/// The extra amounts of an order ([`Cart::order_completed`]); amounts in major units.
#[derive(Clone, Copy, Debug, Default)]
pub struct Order<'a> {
    /// Required, non-empty.
    pub order_id: &'a str,
    pub shipping: f64,
    pub tax: f64,
    pub discount: f64,
}

/// What [`Cart::load`] found in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStatus {
    /// No stored cart: a new, empty one.
    Absent,
    Loaded,
    /// The stored value was not a well-formed cart of this version: replaced by an empty cart
    /// (written back on the next persist). Report it once.
    Corrupt,
}

/// A recorded order (kept so that every replica learns the cart was checked out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    pub order_id: String,
    /// `total` in micro-units (millionths of the major unit).
    pub total_micros: i64,
    pub currency: String,
    /// Units bought.
    pub units: u64,
    /// When (the order entry's timestamp, ms).
    pub at_ms: u64,
}

// ---------------------------------------------------------------------------------------------
// State

/// The identity of a write: the replica that made it and that replica's counter.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Dot {
    r: String,
    c: u64,
}

/// What a replica has seen of another (the version vector entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    /// Every dot `(replica, 1..=ctr)` has been seen.
    ctr: u64,
    /// Timestamp of that replica's latest write seen (orders forgetting).
    last: u64,
}

/// A line key: product id and variant.
type Key = (String, String);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Meta {
    name: String,
    price: i64,
    currency: String,
    props: String,
    /// When the line was created (its position in `products[]`).
    since: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Body {
    /// Quantity added (positive) or partially removed (negative).
    Delta(Key, i64),
    /// Set quantity: last writer wins among the live ones; re-bases the line.
    Set(Key, i64),
    /// Name, price, currency, properties of a line: last writer wins.
    Meta(Key, Meta),
    Coupon(String),
    Currency(String),
    /// The earliest live one wins (a cart keeps its id when another replica's cart merges in).
    CartId(String),
    Order { id: String, total: i64, currency: String, units: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    ts: u64,
    body: Body,
}

impl Entry {
    fn key(&self) -> Option<&Key> {
        match &self.body {
            Body::Delta(k, _) | Body::Set(k, _) | Body::Meta(k, _) => Some(k),
            _ => None,
        }
    }
}

/// The cart of one replica (a tab, an app, a device).
#[derive(Clone, Debug)]
pub struct Cart {
    replica: String,
    entries: VecMap<Dot, Entry>,
    vv: VecMap<String, Seen>,
    /// Largest timestamp seen: local writes are stamped after it (hybrid logical clock).
    max_ts: u64,
    /// Storage key (`{prefix}.c1`); empty for a memory-only cart.
    key: String,
    /// Changed since the last successful persist.
    dirty: bool,
}

/// Equal replicated state (entries, version vector, clock); the replica id, storage key and
/// dirty flag are ignored.
impl PartialEq for Cart {
    fn eq(&self, o: &Cart) -> bool {
        self.entries == o.entries && self.vv == o.vv && self.max_ts == o.max_ts
    }
}

/// One visible (or not) line, computed from the live entries.
#[derive(Clone, Copy, Default)]
struct Acc<'a> {
    set: Option<(u64, &'a Dot, i64)>,
    sum: i64,
    meta: Option<(u64, &'a Dot, &'a Meta)>,
    first: u64,
    qty_entries: usize,
}

impl Acc<'_> {
    fn qty(&self) -> i64 {
        self.set.map_or(0, |s| s.2).saturating_add(self.sum).clamp(0, i64::from(MAX_QUANTITY))
    }
    fn since(&self) -> u64 {
        self.meta.map_or(self.first, |m| m.2.since)
    }
}

/// A visible line as rendered in events.
struct Line<'a> {
    key: &'a Key,
    qty: i64,
    meta: Option<&'a Meta>,
    /// Its position in `products[]` (sorted in place by it: no second vector).
    since: u64,
}

fn to_ms(now_ms: f64) -> u64 {
    if now_ms.is_finite() && now_ms > 0.0 {
        (now_ms as u64).min(MAX_MS)
    } else {
        0
    }
}

fn to_micros(v: f64) -> i64 {
    if v.is_finite() && v > 0.0 {
        (v.min(MAX_PRICE) * 1e6).round() as i64
    } else {
        0
    }
}

fn valid_replica_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

/// The replica id as kept: at most 64 bytes of `[A-Za-z0-9._:-]` (others become `_`).
pub fn sanitize_replica(id: &str) -> String {
    let mut s: String = id.bytes().take(MAX_REPLICA_LEN).map(|b| if valid_replica_char(b) { b as char } else { '_' }).collect();
    if s.is_empty() {
        s.push('_');
    }
    s
}

fn cap(s: &str, max: usize) -> String {
    crate::url::truncate(s, max).to_owned()
}

fn check_id(s: &str, what: &'static str) -> Result<(), InputError> {
    if s.is_empty() {
        Err(InputError::MissingName(what))
    } else if s.len() > MAX_ID_LEN {
        Err(InputError::NameTooLong(what))
    } else {
        Ok(())
    }
}

fn check_props(s: &str) -> Result<&str, InputError> {
    if s.trim().is_empty() {
        return Ok("{}");
    }
    if s.len() > MAX_PROPS_LEN {
        return Err(InputError::TooLarge);
    }
    match json::validate(s) {
        Some(json::Kind::Object) => Ok(s.trim()),
        _ => Err(InputError::NotAnObject("properties")),
    }
}

impl Cart {
    /// An empty, memory-only cart of replica `replica_id` (see [`sanitize_replica`]).
    /// [`Cart::load`] gives one that persists. The id must be unique per concurrent writer and
    /// should be fresh per page load or app start (the page's outbox writer id): a replica
    /// that lost its state (corrupt storage) and came back under the same id would reuse dots
    /// that other replicas already saw.
    pub fn new(replica_id: &str) -> Cart {
        Cart { replica: sanitize_replica(replica_id), entries: VecMap::default(), vv: VecMap::default(), max_ts: 0, key: String::new(), dirty: false }
    }

    /// The replica id (sanitized).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    // --- reading -------------------------------------------------------------------------

    /// Every line with live entries (or only `only`), in no particular order.
    fn accs(&self, only: Option<&Key>) -> Vec<(&Key, Acc<'_>)> {
        let mut m: Vec<(&Key, Acc<'_>)> = Vec::new();
        for (d, e) in self.entries.iter() {
            let Some(k) = e.key() else { continue };
            if only.is_some_and(|o| o != k) {
                continue;
            }
            let i = match m.iter().position(|(x, _)| *x == k) {
                Some(i) => i,
                None => {
                    m.push((k, Acc::default()));
                    m.len() - 1
                }
            };
            let Some((_, a)) = m.get_mut(i) else { continue };
            match &e.body {
                Body::Delta(_, n) | Body::Set(_, n) => {
                    a.qty_entries += 1;
                    a.first = if a.qty_entries == 1 { e.ts } else { a.first.min(e.ts) };
                    if let Body::Set(..) = e.body {
                        if a.set.map_or(true, |(ts, sd, _)| (e.ts, d) > (ts, sd)) {
                            a.set = Some((e.ts, d, *n));
                        }
                    } else {
                        a.sum = a.sum.saturating_add(*n);
                    }
                }
                Body::Meta(_, meta) if a.meta.map_or(true, |(ts, md, _)| (e.ts, d) > (ts, md)) => a.meta = Some((e.ts, d, meta)),
                _ => {}
            }
        }
        m
    }

    /// Visible lines (quantity > 0), in the order they were created.
    fn lines(&self) -> Vec<Line<'_>> {
        let mut v: Vec<Line<'_>> = self
            .accs(None)
            .into_iter()
            .filter(|(_, a)| a.qty() > 0)
            .map(|(key, a)| Line { key, qty: a.qty(), meta: a.meta.map(|m| m.2), since: a.since() })
            .collect();
        insertion_sort(&mut v, |a, b| (a.since, a.key) < (b.since, b.key));
        v
    }

    fn acc_of(&self, key: &Key) -> Acc<'_> {
        self.accs(Some(key)).into_iter().next().map(|(_, a)| a).unwrap_or_default()
    }

    /// The winning live entry of a cart-level register (`pick` selects the kind).
    /// `pick` is a plain function pointer, not a generic: one copy of this loop in the wasm.
    fn register(&self, pick: fn(&Body) -> Option<&String>, earliest: bool) -> Option<&str> {
        let mut best: Option<(u64, &Dot, &str)> = None;
        for (d, e) in self.entries.iter() {
            if let Some(v) = pick(&e.body) {
                let better = match best {
                    None => true,
                    Some((ts, bd, _)) if earliest => (e.ts, d) < (ts, bd),
                    Some((ts, bd, _)) => (e.ts, d) > (ts, bd),
                };
                if better {
                    best = Some((e.ts, d, v));
                }
            }
        }
        best.map(|b| b.2)
    }

    /// The cart's id: empty until the first operation (then `{replica}-{counter}`, unique);
    /// a new one after [`Cart::order_completed`]. When two carts merge, the older id wins.
    pub fn cart_id(&self) -> &str {
        self.register(|b| if let Body::CartId(s) = b { Some(s) } else { None }, true).unwrap_or("")
    }

    /// The coupon applied (empty: none).
    pub fn coupon(&self) -> &str {
        self.register(|b| if let Body::Coupon(s) = b { Some(s) } else { None }, false).unwrap_or("")
    }

    /// The cart's currency: the one set, else the first line's, else empty.
    pub fn currency(&self) -> &str {
        if let Some(c) = self.register(|b| if let Body::Currency(s) = b { Some(s) } else { None }, false) {
            return c;
        }
        self.lines().iter().filter_map(|l| l.meta).map(|m| m.currency.as_str()).find(|c| !c.is_empty()).unwrap_or("")
    }

    /// Quantity of a line (0 when absent).
    pub fn quantity(&self, product_id: &str, variant: &str) -> u32 {
        let k = (product_id.to_owned(), variant.to_owned());
        u32::try_from(self.acc_of(&k).qty()).unwrap_or(0)
    }

    /// Visible lines as (product id, variant, quantity), in `products[]` order.
    pub fn items(&self) -> Vec<(String, String, u32)> {
        self.lines().iter().map(|l| (l.key.0.clone(), l.key.1.clone(), u32::try_from(l.qty).unwrap_or(0))).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.lines().is_empty()
    }

    /// Σ price × quantity in micro-units (exact integer arithmetic, saturating).
    pub fn subtotal_micros(&self) -> i64 {
        self.lines().iter().fold(0i64, |s, l| s.saturating_add(l.meta.map_or(0, |m| m.price).saturating_mul(l.qty)))
    }

    /// Orders recorded (latest [`MAX_ORDERS`]), oldest first.
    pub fn orders(&self) -> Vec<OrderRecord> {
        let mut v: Vec<OrderRecord> = self
            .entries
            .iter()
            .filter_map(|(_, e)| match &e.body {
                Body::Order { id, total, currency, units } => {
                    Some(OrderRecord { order_id: id.clone(), total_micros: *total, currency: currency.clone(), units: *units, at_ms: e.ts })
                }
                _ => None,
            })
            .collect();
        insertion_sort(&mut v, |a, b| (a.at_ms, &a.order_id) < (b.at_ms, &b.order_id));
        v
    }

    /// Live entries (a measure of the state's size).
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Replicas in the version vector.
    pub fn replica_count(&self) -> usize {
        self.vv.len()
    }

    // --- rendering -----------------------------------------------------------------------

    fn push_line(&self, out: &mut String, l: &Line<'_>, qty: i64) {
        out.push('{');
        push_key(out, "product_id");
        push_str(out, &l.key.0);
        if !l.key.1.is_empty() {
            out.push(',');
            push_key(out, "variant");
            push_str(out, &l.key.1);
        }
        if let Some(m) = l.meta {
            if !m.name.is_empty() {
                out.push(',');
                push_key(out, "name");
                push_str(out, &m.name);
            }
            out.push(',');
            push_key(out, "price");
            push_micros(out, m.price);
        }
        out.push(',');
        push_key(out, "quantity");
        push_u64(out, u64::try_from(qty).unwrap_or(0));
        let currency = l.meta.map(|m| m.currency.as_str()).filter(|c| !c.is_empty());
        if let Some(c) = currency {
            out.push(',');
            push_key(out, "currency");
            push_str(out, c);
        }
        if let Some(members) = l.meta.and_then(|m| json::members(&m.props)) {
            const OURS: [&str; 6] = ["\"product_id\"", "\"variant\"", "\"name\"", "\"price\"", "\"quantity\"", "\"currency\""];
            for (k, v) in members {
                if OURS.contains(&k) || (k == "\"cart_id\"") {
                    continue;
                }
                out.push(',');
                out.push_str(k);
                out.push(':');
                out.push_str(v);
            }
        }
        out.push('}');
    }

    fn push_products(&self, out: &mut String, lines: &[Line<'_>]) {
        push_key(out, "products");
        out.push('[');
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.push_line(out, l, l.qty);
        }
        out.push(']');
    }

    fn open_props(&self, cart_id: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push('{');
        if !cart_id.is_empty() {
            push_key(&mut out, "cart_id");
            push_str(&mut out, cart_id);
            out.push(',');
        }
        out
    }

    /// `Product Added`/`Product Removed`: the line's product properties with the quantity
    /// changed, plus `cart_id`.
    fn product_event(&self, name: &'static str, key: &Key, qty: i64) -> CartEvent {
        let acc = self.acc_of(key);
        let line = Line { key, qty, meta: acc.meta.map(|m| m.2), since: 0 };
        let mut out = self.open_props(self.cart_id());
        // `push_line` writes an object: splice its members after `cart_id`.
        let mut obj = String::with_capacity(128);
        self.push_line(&mut obj, &line, qty);
        out.push_str(obj.get(1..).unwrap_or("}"));
        CartEvent { name, properties: out }
    }

    /// The cart as JSON: `{"cart_id":…,"currency":…,"coupon":…,"products":[…],"quantity":units,
    /// "value":subtotal}` (`cart_id`, `currency`, `coupon` only when set). Prices and the
    /// value are printed exactly (6 decimals at most).
    pub fn snapshot_json(&self) -> String {
        let lines = self.lines();
        let mut out = self.open_props(self.cart_id());
        self.push_money_members(&mut out);
        self.push_products(&mut out, &lines);
        out.push(',');
        push_key(&mut out, "quantity");
        push_u64(&mut out, lines.iter().map(|l| u64::try_from(l.qty).unwrap_or(0)).sum());
        out.push(',');
        push_key(&mut out, "value");
        push_micros(&mut out, self.subtotal_micros());
        out.push('}');
        out
    }

    /// `"currency":…,"coupon":…,` when known.
    fn push_money_members(&self, out: &mut String) {
        let currency = self.currency();
        if !currency.is_empty() {
            push_key(out, "currency");
            push_str(out, currency);
            out.push(',');
        }
        let coupon = self.coupon();
        if !coupon.is_empty() {
            push_key(out, "coupon");
            push_str(out, coupon);
            out.push(',');
        }
    }

    // --- local writes --------------------------------------------------------------------

    /// A fresh dot and timestamp for a local write: `ts = max(now, largest seen + 1)`, so a
    /// write made after seeing another always wins over it.
    fn stamp(&mut self, now_ms: f64) -> (Dot, u64) {
        let ts = to_ms(now_ms).max(self.max_ts.saturating_add(1)).min(MAX_MS);
        self.max_ts = ts;
        let seen = self.vv.get_or_insert(&self.replica, Seen { ctr: 0, last: 0 });
        seen.ctr = seen.ctr.saturating_add(1);
        seen.last = seen.last.max(ts);
        self.dirty = true;
        (Dot { r: self.replica.clone(), c: seen.ctr }, ts)
    }

    fn write(&mut self, now_ms: f64, body: Body) {
        let (d, ts) = self.stamp(now_ms);
        self.entries.insert(d, Entry { ts, body });
    }

    /// Gives the cart an id if it has none (first write, or first write after an order).
    fn ensure_cart_id(&mut self, now_ms: f64) {
        if !self.cart_id().is_empty() {
            return;
        }
        let (d, ts) = self.stamp(now_ms);
        let mut id = d.r.clone();
        id.push('-');
        push_u64(&mut id, d.c);
        self.entries.insert(d, Entry { ts, body: Body::CartId(id) });
    }

    /// Adds `n` to a line as a delta of this replica. Past [`MAX_QTY_ENTRIES`] live deltas of
    /// this replica on the line, they are folded into the new one: only this replica's own, so
    /// that two replicas folding concurrently never count a delta twice. Returns the timestamp.
    fn write_delta(&mut self, key: &Key, n: i64, now_ms: f64) -> u64 {
        let own: Vec<(Dot, i64)> = self
            .entries
            .iter()
            .filter_map(|(d, e)| match &e.body {
                Body::Delta(k, x) if k == key && d.r == self.replica => Some((d.clone(), *x)),
                _ => None,
            })
            .collect();
        let mut v = n;
        if own.len() >= MAX_QTY_ENTRIES {
            for (d, x) in own {
                self.entries.remove(&d);
                v = v.saturating_add(x);
            }
        }
        let (d, ts) = self.stamp(now_ms);
        if v != 0 {
            self.entries.insert(d, Entry { ts, body: Body::Delta(key.clone(), v.clamp(-MAX_DELTA, MAX_DELTA)) });
        }
        ts
    }

    /// Observed-remove: drops the live entries `f` selects (the version vector remembers them).
    /// `f` is a trait object, not a generic: one `retain` in the wasm instead of one per caller.
    fn remove_where(&mut self, f: &dyn Fn(&Entry) -> bool) {
        let before = self.entries.len();
        self.entries.0.retain(|(_, e)| !f(e));
        if self.entries.len() != before {
            self.dirty = true;
        }
    }

    fn remove_qty(&mut self, key: &Key) {
        self.remove_where(&|e| matches!(&e.body, Body::Delta(k, _) | Body::Set(k, _) if k == key));
    }

    fn remove_line(&mut self, key: &Key) {
        self.remove_where(&|e| e.key() == Some(key));
    }

    /// Writes the line's description: a new last-writer entry if it changed, else the winning
    /// one re-asserted with its own timestamp (so that a concurrent genuine update still wins,
    /// and the line keeps a description if another replica removed what it saw).
    fn put_meta(&mut self, key: &Key, meta: Meta, now_ms: f64) {
        let current = self.acc_of(key).meta.map(|(ts, _, m)| (ts, m.clone()));
        let (d, ts) = self.stamp(now_ms);
        let ts = match current {
            Some((old_ts, old)) if old == meta => old_ts,
            _ => ts,
        };
        self.remove_where(&|e| matches!(&e.body, Body::Meta(k, _) if k == key));
        self.entries.insert(d, Entry { ts, body: Body::Meta(key.clone(), meta) });
    }

    /// Adds `quantity` (1..=1,000,000, clamped) of a product: `Product Added` with the
    /// quantity added. Concurrent adds of the same line on two replicas both count. A new
    /// line past [`MAX_LINES`] is refused ([`InputError::TooLarge`]).
    pub fn add(&mut self, p: &Product<'_>, quantity: u32, now_ms: f64) -> Result<Option<CartEvent>, InputError> {
        check_id(p.product_id, "product_id")?;
        if p.variant.len() > MAX_ID_LEN {
            return Err(InputError::NameTooLong("variant"));
        }
        let props = check_props(p.properties)?;
        let n = i64::from(quantity.min(MAX_QUANTITY));
        if n == 0 {
            return Ok(None);
        }
        let key: Key = (p.product_id.to_owned(), p.variant.to_owned());
        let acc = self.acc_of(&key);
        let qty = acc.qty();
        let since = acc.meta.map(|m| m.2.since);
        if qty == 0 && self.accs(None).iter().filter(|(_, a)| a.qty() > 0).count() >= MAX_LINES {
            return Err(InputError::TooLarge);
        }
        // On an existing line, what the call leaves out keeps its current value.
        let old = acc.meta.filter(|_| qty > 0).map(|m| m.2);
        let keep = |given: &str, cur: Option<&String>| if given.is_empty() { cur.cloned().unwrap_or_default() } else { given.to_owned() };
        let mut meta = Meta {
            name: keep(&cap(p.name, MAX_NAME_LEN), old.map(|m| &m.name)),
            price: match old {
                Some(m) if !(p.price.is_finite() && p.price >= 0.0) => m.price,
                _ => to_micros(p.price),
            },
            currency: keep(&cap(p.currency, MAX_CURRENCY_LEN), old.map(|m| &m.currency)),
            props: keep(if p.properties.trim().is_empty() { "" } else { props }, old.map(|m| &m.props)),
            since: 0,
        };
        if meta.props.is_empty() {
            meta.props.push_str("{}");
        }
        self.ensure_cart_id(now_ms);
        if qty <= 0 {
            // Re-base: an invisible line (nothing, or quantity ≤ 0 after concurrent partial
            // removals) starts again from what this add says, not from a debt.
            self.remove_qty(&key);
        }
        let ts = self.write_delta(&key, n, now_ms);
        meta.since = if qty <= 0 { ts } else { since.unwrap_or(ts) };
        self.put_meta(&key, meta, now_ms);
        Ok(Some(self.product_event("Product Added", &key, n)))
    }

    /// Removes `quantity` of a line (`None` or at least the line's quantity: the whole line):
    /// `Product Removed` with the quantity removed. Removing the whole line removes the adds
    /// this replica has seen, not concurrent ones it has not.
    pub fn remove(&mut self, product_id: &str, variant: &str, quantity: Option<u32>, now_ms: f64) -> Result<Option<CartEvent>, InputError> {
        check_id(product_id, "product_id")?;
        let key: Key = (product_id.to_owned(), variant.to_owned());
        let qty = self.acc_of(&key).qty();
        if qty == 0 {
            return Ok(None);
        }
        let n = quantity.map_or(qty, |q| i64::from(q.min(MAX_QUANTITY)));
        if n == 0 {
            return Ok(None);
        }
        self.ensure_cart_id(now_ms);
        // Rendered before the write so that the event carries the line's description.
        let ev = self.product_event("Product Removed", &key, n.min(qty));
        if n >= qty {
            self.remove_line(&key);
        } else {
            self.write_delta(&key, -n, now_ms);
        }
        Ok(Some(ev))
    }

    /// Sets a line's quantity (0 removes the line). Last writer wins against a concurrent
    /// set-quantity (by timestamp, then replica id); an add this replica has not seen still
    /// counts on top. Emits `Product Added`/`Product Removed` with the difference; nothing
    /// for an unknown line or an unchanged quantity.
    pub fn set_quantity(&mut self, product_id: &str, variant: &str, quantity: u32, now_ms: f64) -> Result<Option<CartEvent>, InputError> {
        check_id(product_id, "product_id")?;
        let key: Key = (product_id.to_owned(), variant.to_owned());
        let acc = self.acc_of(&key);
        let (qty, meta) = (acc.qty(), acc.meta.map(|m| m.2.clone()));
        let q = i64::from(quantity.min(MAX_QUANTITY));
        if qty == 0 || q == qty {
            return Ok(None);
        }
        if q == 0 {
            return self.remove(product_id, variant, None, now_ms);
        }
        self.ensure_cart_id(now_ms);
        self.remove_qty(&key);
        self.write(now_ms, Body::Set(key.clone(), q));
        if let Some(m) = meta {
            self.put_meta(&key, m, now_ms);
        }
        Ok(Some(if q > qty {
            self.product_event("Product Added", &key, q - qty)
        } else {
            self.product_event("Product Removed", &key, qty - q)
        }))
    }

    /// Merges `patch` (JSON object text) into a line's free-form properties (last writer wins
    /// for the line's description). No Segment event exists for it: returns `Ok(false)` for an
    /// unknown line, `Ok(true)` when updated.
    pub fn update_properties(&mut self, product_id: &str, variant: &str, patch: &str, now_ms: f64) -> Result<bool, InputError> {
        check_id(product_id, "product_id")?;
        let patch = check_props(patch)?;
        let key: Key = (product_id.to_owned(), variant.to_owned());
        let acc = self.acc_of(&key);
        let Some(mut meta) = acc.meta.filter(|_| acc.qty() > 0).map(|m| m.2.clone()) else { return Ok(false) };
        let merged = json::merge_objects(&meta.props, patch);
        if merged.len() > MAX_PROPS_LEN {
            return Err(InputError::TooLarge);
        }
        meta.props = merged;
        self.ensure_cart_id(now_ms);
        self.put_meta(&key, meta, now_ms);
        Ok(true)
    }

    /// Applies a coupon (last writer wins): `Coupon Applied` with `cart_id`, `coupon_id`.
    pub fn apply_coupon(&mut self, code: &str, now_ms: f64) -> Result<Option<CartEvent>, InputError> {
        check_id(code, "coupon")?;
        if self.coupon() == code {
            return Ok(None);
        }
        self.ensure_cart_id(now_ms);
        self.remove_where(&|e| matches!(e.body, Body::Coupon(_)));
        self.write(now_ms, Body::Coupon(code.to_owned()));
        Ok(Some(self.coupon_event("Coupon Applied", code)))
    }

    /// Removes the coupon this replica sees (a concurrent apply elsewhere survives):
    /// `Coupon Removed`; nothing without a coupon.
    pub fn remove_coupon(&mut self, now_ms: f64) -> Option<CartEvent> {
        let code = self.coupon().to_owned();
        if code.is_empty() {
            return None;
        }
        self.ensure_cart_id(now_ms);
        self.remove_where(&|e| matches!(e.body, Body::Coupon(_)));
        Some(self.coupon_event("Coupon Removed", &code))
    }

    fn coupon_event(&self, name: &'static str, code: &str) -> CartEvent {
        let mut out = self.open_props(self.cart_id());
        push_key(&mut out, "coupon_id");
        push_str(&mut out, code);
        out.push('}');
        CartEvent { name, properties: out }
    }

    /// Sets the cart's currency (ISO 4217; last writer wins). No event.
    pub fn set_currency(&mut self, code: &str, now_ms: f64) -> Result<bool, InputError> {
        check_id(code, "currency")?;
        if code.len() > MAX_CURRENCY_LEN {
            return Err(InputError::NameTooLong("currency"));
        }
        if self.register(|b| if let Body::Currency(s) = b { Some(s) } else { None }, false) == Some(code) {
            return Ok(false);
        }
        self.remove_where(&|e| matches!(e.body, Body::Currency(_)));
        self.write(now_ms, Body::Currency(code.to_owned()));
        Ok(true)
    }

    /// Empties the cart: removes every line and the coupon this replica sees (lines added
    /// concurrently elsewhere survive). One `Product Removed` per line removed.
    pub fn clear(&mut self, now_ms: f64) -> Vec<CartEvent> {
        let keys: Vec<(Key, i64)> = self.lines().iter().map(|l| (l.key.clone(), l.qty)).collect();
        if !keys.is_empty() {
            self.ensure_cart_id(now_ms);
        }
        let events = keys.iter().map(|(k, q)| self.product_event("Product Removed", k, *q)).collect();
        self.remove_where(&|e| e.key().is_some() || matches!(e.body, Body::Coupon(_)));
        events
    }

    /// `Cart Viewed` with `cart_id` and `products[]` (explicit: the page calls it).
    pub fn view(&self) -> CartEvent {
        let lines = self.lines();
        let mut out = self.open_props(self.cart_id());
        self.push_products(&mut out, &lines);
        out.push('}');
        CartEvent { name: "Cart Viewed", properties: out }
    }

    /// `Checkout Started` with `cart_id`, `value`/`revenue` (the subtotal), `currency`,
    /// `coupon`, `products[]`. Does not change the cart.
    pub fn checkout_started(&self) -> CartEvent {
        let lines = self.lines();
        let mut out = self.open_props(self.cart_id());
        let sub = self.subtotal_micros();
        for k in ["value", "revenue"] {
            push_key(&mut out, k);
            push_micros(&mut out, sub);
            out.push(',');
        }
        self.push_money_members(&mut out);
        self.push_products(&mut out, &lines);
        out.push('}');
        CartEvent { name: "Checkout Started", properties: out }
    }

    /// The order is placed: `Order Completed` with `cart_id`, `order_id`, `subtotal`,
    /// `revenue` (subtotal − discount), `total` (revenue + shipping + tax), `shipping`, `tax`,
    /// `discount`, `coupon`, `currency`, `products[]`. Then the cart is emptied as by
    /// [`Cart::clear`], the order recorded, and the cart gets a new `cart_id` on its next write.
    pub fn order_completed(&mut self, order: &Order<'_>, now_ms: f64) -> Result<CartEvent, InputError> {
        check_id(order.order_id, "order_id")?;
        self.ensure_cart_id(now_ms);
        let lines = self.lines();
        let sub = self.subtotal_micros();
        let discount = to_micros(order.discount);
        let (shipping, tax) = (to_micros(order.shipping), to_micros(order.tax));
        let revenue = sub.saturating_sub(discount).max(0);
        let total = revenue.saturating_add(shipping).saturating_add(tax);
        let units: u64 = lines.iter().map(|l| u64::try_from(l.qty).unwrap_or(0)).sum();
        let mut out = self.open_props(self.cart_id());
        push_key(&mut out, "order_id");
        push_str(&mut out, order.order_id);
        for (k, v) in [("subtotal", sub), ("revenue", revenue), ("total", total), ("shipping", shipping), ("tax", tax), ("discount", discount)] {
            out.push(',');
            push_key(&mut out, k);
            push_micros(&mut out, v);
        }
        out.push(',');
        self.push_money_members(&mut out);
        self.push_products(&mut out, &lines);
        out.push('}');
        let currency = self.currency().to_owned();
        self.remove_where(&|e| e.key().is_some() || matches!(e.body, Body::Coupon(_) | Body::CartId(_)));
        self.write(now_ms, Body::Order { id: order.order_id.to_owned(), total, currency, units });
        self.prune_orders();
        Ok(CartEvent { name: "Order Completed", properties: out })
    }

    /// Keeps the latest [`MAX_ORDERS`] order entries (by timestamp, then dot): drops the
    /// earliest while there are more (a scan per order dropped, rather than a sorted copy).
    fn prune_orders(&mut self) {
        loop {
            let mut n = 0;
            let mut first: Option<(u64, &Dot)> = None;
            for (d, e) in self.entries.iter() {
                if matches!(e.body, Body::Order { .. }) {
                    n += 1;
                    if first.map_or(true, |f| (e.ts, d) < f) {
                        first = Some((e.ts, d));
                    }
                }
            }
            let Some((_, d)) = first.filter(|_| n > MAX_ORDERS) else { return };
            let d = d.clone();
            self.entries.remove(&d);
        }
    }

    /// Past [`MAX_ENTRIES`] live entries — only a join of two large states gets there; local
    /// operations stay far below — drops the oldest by `(ts, dot)` until [`MAX_ENTRIES`]
    /// remain, so every merged state still decodes. Deterministic (the same entries go on
    /// every replica that joins the same states), and a dropped dot stays in the version
    /// vector, so it reads as removed everywhere and the replicas still converge. No sort
    /// (bytes): the cut-off time is found by bisection (linear scans), ties go in dot order.
    fn cap_entries(&mut self) {
        let excess = self.entries.len().saturating_sub(MAX_ENTRIES);
        if excess == 0 {
            return;
        }
        let (mut lo, mut hi) = (0u64, u64::MAX);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entries.iter().filter(|(_, e)| e.ts <= mid).count() >= excess {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let tied = core::cell::Cell::new(excess - self.entries.iter().filter(|(_, e)| e.ts < lo).count());
        // `remove_where` visits entries in dot order.
        self.remove_where(&|e| {
            let tie = e.ts == lo && tied.get() > 0;
            if tie {
                tied.set(tied.get() - 1);
            }
            e.ts < lo || tie
        });
    }

    // --- merge ---------------------------------------------------------------------------

    /// Merges another replica's state into this one (the join of the two states: commutative,
    /// associative, idempotent). Emits no event. Returns true if this state changed.
    pub fn merge(&mut self, other: &Cart) -> bool {
        self.join(other.clone())
    }

    /// [`Cart::merge`] of a state this replica owns (decoded from storage, another tab, the
    /// collector): its entries move instead of being cloned, so the wasm, which only merges
    /// decoded states, holds no `Entry` clone.
    fn join(&mut self, other: Cart) -> bool {
        let mut changed = false;
        // One pass over both dot-sorted lists. An entry both hold stays (the same dot with two
        // contents only happens when two writers share a replica id: the larger wins,
        // deterministically); one that only one side holds stays iff the other side has
        // never seen its dot (seen and not held means removed there).
        let mine = std::mem::take(&mut self.entries.0);
        let mut out: Vec<(Dot, Entry)> = Vec::with_capacity(mine.len().max(other.entries.len()));
        let mut theirs = other.entries.0.into_iter().peekable();
        for (d, e) in mine {
            while let Some((od, oe)) = theirs.next_if(|(od, _)| *od < d) {
                if !has_seen(&self.vv, &od) {
                    out.push((od, oe));
                    changed = true;
                }
            }
            match theirs.next_if(|(od, _)| *od == d) {
                Some((_, oe)) if oe > e => {
                    changed = true;
                    out.push((d, oe));
                }
                Some(_) => out.push((d, e)),
                None if has_seen(&other.vv, &d) => changed = true,
                None => out.push((d, e)),
            }
        }
        for (od, oe) in theirs {
            if !has_seen(&self.vv, &od) {
                out.push((od, oe));
                changed = true;
            }
        }
        self.entries.0 = out;
        for (r, s) in other.vv.iter() {
            let mine = self.vv.get_or_insert(r, Seen { ctr: 0, last: 0 });
            if s.ctr > mine.ctr || s.last > mine.last {
                mine.ctr = mine.ctr.max(s.ctr);
                mine.last = mine.last.max(s.last);
                changed = true;
            }
        }
        if other.max_ts > self.max_ts {
            self.max_ts = other.max_ts;
            changed = true;
        }
        self.prune_orders();
        self.cap_entries();
        self.forget_replicas();
        self.dirty |= changed;
        changed
    }

    /// Past [`MAX_REPLICAS`], forgets replicas that hold no live entry, oldest last write
    /// first (never this replica).
    fn forget_replicas(&mut self) {
        while self.vv.len() > MAX_REPLICAS {
            let victim = self
                .vv
                .iter()
                .filter(|(r, _)| **r != self.replica && !self.entries.iter().any(|(d, _)| &d.r == *r))
                .min_by(|a, b| (a.1.last, a.0).cmp(&(b.1.last, b.0)))
                .map(|(r, _)| r.clone());
            match victim {
                Some(r) => {
                    self.vv.remove(r.as_str());
                }
                None => return,
            }
        }
    }

    /// Merges a state received as [`Cart::encode`] text (another tab, the collector).
    /// `None` when the text is corrupt (nothing changes); else whether this state changed.
    pub fn merge_encoded(&mut self, text: &str) -> Option<bool> {
        let other = Cart::decode(text, "_")?;
        Some(self.join(other))
    }

    // --- persistence ---------------------------------------------------------------------

    /// The persisted form, one record per line, tab-separated fields:
    /// `C1 <max_ts>`, then `v <replica> <counter> <last_ts>` per replica (index = order),
    /// then one line per live entry: `<kind> <replica index> <counter> <ts> <fields…>` with
    /// kinds `a` (delta: product id, variant, signed quantity), `s` (set: product id,
    /// variant, quantity), `m` (description: product id, variant, name, price in
    /// micro-units, currency, since, properties JSON), `c` coupon, `u` currency, `i` cart id,
    /// `o` order (id, total micro-units, currency, units). `\`, tab, CR, LF in text are
    /// escaped (`\\`, `\t`, `\r`, `\n`).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(64 + self.vv.len() * 48 + self.entries.len() * 96);
        s.push_str(HEADER);
        s.push('\t');
        push_u64(&mut s, self.max_ts);
        s.push('\n');
        for (r, seen) in self.vv.iter() {
            s.push_str("v\t");
            s.push_str(r);
            s.push('\t');
            push_u64(&mut s, seen.ctr);
            s.push('\t');
            push_u64(&mut s, seen.last);
            s.push('\n');
        }
        for (d, e) in self.entries.iter() {
            let tag = match &e.body {
                Body::Delta(..) => 'a',
                Body::Set(..) => 's',
                Body::Meta(..) => 'm',
                Body::Coupon(_) => 'c',
                Body::Currency(_) => 'u',
                Body::CartId(_) => 'i',
                Body::Order { .. } => 'o',
            };
            s.push(tag);
            s.push('\t');
            push_u64(&mut s, self.vv.find(d.r.as_str()).map_or(u64::MAX, |i| i as u64));
            s.push('\t');
            push_u64(&mut s, d.c);
            s.push('\t');
            push_u64(&mut s, e.ts);
            match &e.body {
                Body::Delta(k, n) | Body::Set(k, n) => {
                    push_fields(&mut s, &[&k.0, &k.1]);
                    s.push('\t');
                    push_i64(&mut s, *n);
                }
                Body::Meta(k, m) => {
                    push_fields(&mut s, &[&k.0, &k.1, &m.name]);
                    s.push('\t');
                    push_i64(&mut s, m.price);
                    push_fields(&mut s, &[&m.currency]);
                    s.push('\t');
                    push_u64(&mut s, m.since);
                    push_fields(&mut s, &[&m.props]);
                }
                Body::Coupon(v) | Body::Currency(v) | Body::CartId(v) => push_fields(&mut s, &[v]),
                Body::Order { id, total, currency, units } => {
                    push_fields(&mut s, &[id]);
                    s.push('\t');
                    push_i64(&mut s, *total);
                    push_fields(&mut s, &[currency]);
                    s.push('\t');
                    push_u64(&mut s, *units);
                }
            }
            s.push('\n');
        }
        s
    }

    /// Reads [`Cart::encode`]'s output back as replica `replica_id`. `None` when the text is
    /// not a well-formed cart of this version (wrong header, unknown kind, a dot the version
    /// vector does not cover, a duplicate, a field out of its bounds, properties that are not
    /// a JSON object, more than [`MAX_ENTRIES`] entries or [`MAX_ENCODED_LEN`] bytes); never
    /// panics.
    pub fn decode(text: &str, replica_id: &str) -> Option<Cart> {
        if text.len() > MAX_ENCODED_LEN {
            return None;
        }
        let mut lines = text.split('\n');
        let mut head = Fields(lines.next()?.split('\t'));
        if head.str()? != HEADER {
            return None;
        }
        let max_ts = head.u64()?;
        head.end()?;
        let mut cart = Cart::new(replica_id);
        cart.max_ts = max_ts;
        let mut names: Vec<&str> = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let mut f = Fields(line.split('\t'));
            let tag = f.str()?;
            if tag == "v" {
                if !cart.entries.is_empty() || names.len() >= MAX_ENTRIES {
                    return None;
                }
                let r = f.str()?;
                if r.is_empty() || r.len() > MAX_REPLICA_LEN || !r.bytes().all(valid_replica_char) || cart.vv.get(r).is_some() {
                    return None;
                }
                let (ctr, last) = (f.u64()?, f.u64()?);
                f.end()?;
                if last > max_ts {
                    return None;
                }
                // `get_or_insert`, not `insert`: the version vector is only ever searched by `&str`
                // (one `find` in the wasm); `r` is new (checked above).
                *cart.vv.get_or_insert(r, Seen { ctr, last }) = Seen { ctr, last };
                names.push(r);
                continue;
            }
            if cart.entries.len() >= MAX_ENTRIES {
                return None;
            }
            let r = *names.get(usize::try_from(f.u64()?).ok()?)?;
            let c = f.u64()?;
            let ts = f.u64()?;
            let seen = cart.vv.get(r)?;
            if c == 0 || c > seen.ctr || ts > max_ts {
                return None;
            }
            let body = match tag {
                "a" | "s" => {
                    let key = f.key()?;
                    let n = f.i64()?;
                    let lim = i64::from(MAX_QUANTITY);
                    if tag == "a" && n != 0 && (-MAX_DELTA..=MAX_DELTA).contains(&n) {
                        Body::Delta(key, n)
                    } else if tag == "s" && (1..=lim).contains(&n) {
                        Body::Set(key, n)
                    } else {
                        return None;
                    }
                }
                "m" => {
                    let key = f.key()?;
                    let name = f.string(MAX_NAME_LEN)?;
                    let price = f.i64()?;
                    if !(0..=to_micros(MAX_PRICE)).contains(&price) {
                        return None;
                    }
                    let currency = f.string(MAX_CURRENCY_LEN)?;
                    let since = f.u64()?;
                    let props = f.string(MAX_PROPS_LEN)?;
                    if json::validate(&props) != Some(json::Kind::Object) || since > max_ts {
                        return None;
                    }
                    Body::Meta(key, Meta { name, price, currency, props, since })
                }
                "c" | "u" | "i" => {
                    let v = f.string(if tag == "u" { MAX_CURRENCY_LEN } else { MAX_ID_LEN + MAX_REPLICA_LEN + 16 })?;
                    if v.is_empty() {
                        return None;
                    }
                    match tag {
                        "c" => Body::Coupon(v),
                        "u" => Body::Currency(v),
                        _ => Body::CartId(v),
                    }
                }
                "o" => {
                    let id = f.string(MAX_ID_LEN)?;
                    let total = f.i64()?;
                    let currency = f.string(MAX_CURRENCY_LEN)?;
                    let units = f.u64()?;
                    if id.is_empty() || total < 0 {
                        return None;
                    }
                    Body::Order { id, total, currency, units }
                }
                _ => return None,
            };
            f.end()?;
            let dot = Dot { r: r.to_owned(), c };
            if cart.entries.insert(dot, Entry { ts, body }).is_some() {
                return None;
            }
        }
        Some(cart)
    }

    /// Loads the cart stored under `{prefix}.c1` as replica `replica_id`; it persists there.
    /// A corrupt value gives an empty cart (written back on the next persist) and
    /// [`LoadStatus::Corrupt`], to report.
    pub fn load(prefix: &str, replica_id: &str, storage: &dyn Storage) -> (Cart, LoadStatus) {
        let key = storage_key(prefix);
        let (mut cart, status) = match storage.get(&key) {
            None => (Cart::new(replica_id), LoadStatus::Absent),
            Some(v) => match Cart::decode(&v, replica_id) {
                Some(c) => (c, LoadStatus::Loaded),
                None => {
                    let mut c = Cart::new(replica_id);
                    c.dirty = true;
                    (c, LoadStatus::Corrupt)
                }
            },
        };
        cart.key = key;
        (cart, status)
    }

    /// Writes the cart if it changed since the last successful write (call it from the
    /// tracker's once-per-task persist). A failed write is retried on the next call. Another
    /// tab's newer value is merged, not overwritten: read, merge, write (the merge is
    /// idempotent, so a race between two tabs loses nothing the next round does not restore).
    /// `Ok(true)` when the stored value brought changes this replica had not seen.
    pub fn persist(&mut self, storage: &mut dyn Storage) -> Result<bool, StorageError> {
        if !self.dirty || self.key.is_empty() {
            return Ok(false);
        }
        let merged = storage.get(&self.key).and_then(|v| Cart::decode(&v, "_")).is_some_and(|other| self.join(other));
        storage.set(&self.key, &self.encode())?;
        self.dirty = false;
        Ok(merged)
    }

    /// Changed since the last successful [`Cart::persist`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Another tab wrote the cart. `None` if `key` is not the cart's, else whether this cart
    /// changed. The value is merged (no events); a corrupt value is ignored (this tab's state
    /// is written back on the next persist); a removed value (`reset()` or consent revoked in
    /// another tab) empties this cart too.
    pub fn on_storage_change(&mut self, key: &str, value: Option<&str>) -> Option<bool> {
        if self.key.is_empty() || key != self.key {
            return None;
        }
        Some(match value.map(|v| Cart::decode(v, "_")) {
            Some(Some(other)) => {
                // Changed relative to the stored value: write the join back. Compared by
                // encoding (one text per state, see `encode`), so that `other` can move into
                // the join and the wasm holds no `Cart` equality.
                let stored = other.encode();
                let changed = self.join(other);
                self.dirty = self.encode() != stored;
                changed
            }
            Some(None) => {
                self.dirty = true;
                false
            }
            None => {
                let had = !self.entries.0.is_empty();
                self.entries.0.clear();
                self.dirty = false;
                had
            }
        })
    }

    /// Forgets the cart in memory and storage (`reset()`, consent revoked): every entry goes;
    /// the version vector and clock stay (ids and counters only), so this replica never reuses
    /// a dot and an old copy of the cart merged later cannot bring the entries back.
    pub fn forget(&mut self, storage: &mut dyn Storage) {
        self.entries.0.clear();
        self.dirty = false;
        if !self.key.is_empty() {
            storage.remove(&self.key);
        }
    }
}

/// Whether the version vector `vv` covers dot `d`.
fn has_seen(vv: &VecMap<String, Seen>, d: &Dot) -> bool {
    vv.get(d.r.as_str()).is_some_and(|s| s.ctr >= d.c)
}

/// A map kept as a vector sorted by key: the cart's maps are small, and this is far smaller in
/// the wasm than the `BTreeMap` instantiations it replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, k: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(x, _)| x.borrow().cmp(k))
    }

    fn get<Q: Ord + ?Sized>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(k).ok().and_then(|i| self.0.get(i)).map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the replaced value.
    fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => self.0.get_mut(i).map(|slot| std::mem::replace(&mut slot.1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }

    fn remove<Q: Ord + ?Sized>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(k).ok()?;
        Some(self.0.remove(i).1)
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V> VecMap<String, V> {
    fn get_or_insert(&mut self, k: &str, default: V) -> &mut V {
        let i = match self.find(k) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (k.to_owned(), default));
                i
            }
        };
        // `i` is in bounds: found, or just inserted there.
        &mut self.0[i].1
    }
}

/// Sorts a short slice (lines, orders) by `less`: one small loop instead of another instance of
/// the standard library's sort in the wasm.
fn insertion_sort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Appends micro-units as an exact decimal (`19990000` → `19.99`).
fn push_micros(out: &mut String, m: i64) {
    if m < 0 {
        out.push('-');
    }
    let a = m.unsigned_abs();
    crate::json::push_micro_units(out, a / MICROS as u64, a % MICROS as u64);
}

fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

fn push_fields(out: &mut String, fields: &[&str]) {
    for f in fields {
        out.push('\t');
        text::push_escaped(out, f);
    }
}

/// The tab-separated fields of a record of the persisted form, read in order. Small
/// functions rather than `next()?` and a parse at each of the decoder's two dozen reads.
struct Fields<'a>(std::str::Split<'a, char>);

impl<'a> Fields<'a> {
    fn str(&mut self) -> Option<&'a str> {
        self.0.next()
    }
    /// Decimal digits only, at most 18.
    fn u64(&mut self) -> Option<u64> {
        parse_u64(self.0.next()?)
    }
    fn i64(&mut self) -> Option<i64> {
        parse_i64(self.0.next()?)
    }
    /// Unescaped; `None` on a dangling or unknown escape or more than `max` bytes.
    fn string(&mut self, max: usize) -> Option<String> {
        text::unescape(self.0.next()?, max, false)
    }
    /// A line key (product id, variant); the product id is not empty.
    fn key(&mut self) -> Option<Key> {
        let pid = self.string(MAX_ID_LEN)?;
        let variant = self.string(MAX_ID_LEN)?;
        (!pid.is_empty()).then_some((pid, variant))
    }
    /// `Some` when every field was read.
    fn end(&mut self) -> Option<()> {
        self.0.next().is_none().then_some(())
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    text::parse_u64(s, 18)
}

fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => parse_u64(rest).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        None => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod proptests;
