//! The cart's persisted and exchanged form (`C1` text: tab-separated records) and its
//! storage: load, persist (read, merge, write), storage events, forget.
//!
//! Owns: `encode`/`decode` (the only format tabs, the app and the collector exchange) and
//! the cart's storage key. Must never: accept a record it cannot fully validate, or touch
//! storage outside `load`, `persist`, `on_storage_change` and `forget`.

use super::*;

impl Cart {
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
            // The kind as a byte: one-byte comparisons, not string ones.
            let tag = match f.str()?.as_bytes() {
                [b] => *b,
                _ => return None,
            };
            if tag == b'v' {
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
                b'a' | b's' => {
                    let key = f.key()?;
                    let n = f.i64()?;
                    let lim = i64::from(MAX_QUANTITY);
                    if tag == b'a' && n != 0 && (-MAX_DELTA..=MAX_DELTA).contains(&n) {
                        Body::Delta(key, n)
                    } else if tag == b's' && (1..=lim).contains(&n) {
                        Body::Set(key, n)
                    } else {
                        return None;
                    }
                }
                b'm' => {
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
                b'c' | b'u' | b'i' => {
                    let v = f.string(if tag == b'u' { MAX_CURRENCY_LEN } else { MAX_ID_LEN + MAX_REPLICA_LEN + 16 })?;
                    if v.is_empty() {
                        return None;
                    }
                    match tag {
                        b'c' => Body::Coupon(v),
                        b'u' => Body::Currency(v),
                        _ => Body::CartId(v),
                    }
                }
                b'o' => {
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

/// Appends micro-units as an exact decimal (`19990000` → `19.99`).
pub(super) fn push_micros(out: &mut String, m: i64) {
    if m < 0 {
        out.push('-');
    }
    let a = m.unsigned_abs();
    crate::json::push_micro_units(out, a / MICROS as u64, a % MICROS as u64);
}

pub(super) fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

pub(super) fn push_fields(out: &mut String, fields: &[&str]) {
    for f in fields {
        out.push('\t');
        text::push_escaped(out, f);
    }
}

/// The tab-separated fields of a record of the persisted form, read in order. Small
/// functions rather than `next()?` and a parse at each of the decoder's two dozen reads.
pub(super) struct Fields<'a>(pub(super) std::str::Split<'a, char>);

impl<'a> Fields<'a> {
    pub(super) fn str(&mut self) -> Option<&'a str> {
        self.0.next()
    }
    /// Decimal digits only, at most 18.
    pub(super) fn u64(&mut self) -> Option<u64> {
        parse_u64(self.0.next()?)
    }
    pub(super) fn i64(&mut self) -> Option<i64> {
        parse_i64(self.0.next()?)
    }
    /// Unescaped; `None` on a dangling or unknown escape or more than `max` bytes.
    pub(super) fn string(&mut self, max: usize) -> Option<String> {
        text::unescape(self.0.next()?, max, false)
    }
    /// A line key (product id, variant); the product id is not empty.
    pub(super) fn key(&mut self) -> Option<Key> {
        let pid = self.string(MAX_ID_LEN)?;
        let variant = self.string(MAX_ID_LEN)?;
        (!pid.is_empty()).then_some((pid, variant))
    }
    /// `Some` when every field was read.
    pub(super) fn end(&mut self) -> Option<()> {
        self.0.next().is_none().then_some(())
    }
}

pub(super) fn parse_u64(s: &str) -> Option<u64> {
    text::parse_u64(s, 18)
}

pub(super) fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(rest) => parse_u64(rest).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        None => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}
