//! The shared cart: line items, coupon, currency and `cart_id` as a state-based CRDT, so that
//! two tabs, two devices, or the app and its web view change one cart concurrently and converge
//! whatever order they see each other's state in. Every local operation returns the matching
//! Segment e-commerce v2 event; [`Cart::merge`] never does (the other replica emitted its own).
//!
//! Owns: the cart state ([`Cart`]), its operations, its merge, the `products[]`/totals JSON,
//! and its persisted form under `{prefix}.`[`CART_KEY`] (versioned text, [`Cart::encode`]).
//! Must never: panic on any input (arguments, stored or remote state), grow without bound
//! from local operations (see the limits below and docs/cart-crdt.md), re-emit
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
//!
//! Files: this one holds the types, limits and state; `cart/read.rs` (reading),
//! `cart/operations.rs` (local writes), `cart/events.rs` (event properties, snapshot),
//! `cart/merge.rs` (the join), `cart/codec.rs` (the `C1` form and storage),
//! `cart/vec_map.rs` (generic helpers).

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
/// forgotten, oldest last write first (see docs/cart-crdt.md for the consequence).
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
///
/// `Dot`, `Meta`, `Body`, `Entry` (and tuples of them) are compared with `cmp`, never `<`/`>`:
/// those call the derived `partial_cmp`, a second comparison of each type in the wasm (−46 B
/// gzip; docs/size.md).
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
    Order {
        id: String,
        total: i64,
        currency: String,
        units: u64,
    },
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
    let mut s = String::new();
    for b in id.bytes().take(MAX_REPLICA_LEN) {
        // `& 0x7f` changes no valid byte (all ASCII) and lets the compiler drop `push`'s
        // multi-byte UTF-8 path.
        s.push(if valid_replica_char(b) { char::from(b & 0x7f) } else { '_' });
    }
    if s.is_empty() {
        s.push('_');
    }
    s
}

/// At most `max` bytes of `s`, cut on a character boundary (borrowed: the caller copies it once).
fn cap(s: &str, max: usize) -> &str {
    crate::url::truncate(s, max)
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
        Cart {
            replica: sanitize_replica(replica_id),
            entries: VecMap::default(),
            vv: VecMap::default(),
            max_ts: 0,
            key: String::new(),
            dirty: false,
        }
    }

    /// The replica id (sanitized).
    pub fn replica(&self) -> &str {
        &self.replica
    }
}

/// Whether the version vector `vv` covers dot `d`.
fn has_seen(vv: &VecMap<String, Seen>, d: &Dot) -> bool {
    vv.get(d.r.as_str()).is_some_and(|s| s.ctr >= d.c)
}

mod codec;
mod events;
mod merge;
mod operations;
mod read;
mod vec_map;

use codec::push_micros;
use events::units;
use vec_map::{insertion_sort, VecMap};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
