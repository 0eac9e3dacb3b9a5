//! The cart's local operations: add, remove, set quantity, update, coupon, currency, clear,
//! view, checkout, order completed. Each writes entries under a fresh dot and returns the
//! matching event (or `None` when it changed nothing).
//!
//! Owns: validating operation arguments and the local writes. Must never: emit an event for
//! a change that did not happen, or let one operation grow the state without bound.

use super::*;

impl Cart {
    /// A fresh dot and timestamp for a local write: `ts = max(now, largest seen + 1)`, so a
    /// write made after seeing another always wins over it.
    pub(super) fn stamp(&mut self, now_ms: f64) -> (Dot, u64) {
        let ts = to_ms(now_ms).max(self.max_ts.saturating_add(1)).min(MAX_MS);
        self.max_ts = ts;
        let seen = self.vv.get_or_insert(&self.replica, Seen { ctr: 0, last: 0 });
        seen.ctr = seen.ctr.saturating_add(1);
        seen.last = seen.last.max(ts);
        self.dirty = true;
        (Dot { r: self.replica.clone(), c: seen.ctr }, ts)
    }

    pub(super) fn write(&mut self, now_ms: f64, body: Body) {
        let (d, ts) = self.stamp(now_ms);
        self.entries.insert(d, Entry { ts, body });
    }

    /// Gives the cart an id if it has none (first write, or first write after an order).
    pub(super) fn ensure_cart_id(&mut self, now_ms: f64) {
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
    pub(super) fn write_delta(&mut self, key: &Key, n: i64, now_ms: f64) -> u64 {
        let mut own: Vec<(Dot, i64)> = Vec::new();
        for (d, e) in self.entries.iter() {
            match &e.body {
                Body::Delta(k, x) if k == key && d.r == self.replica => own.push((d.clone(), *x)),
                _ => {}
            }
        }
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
    pub(super) fn remove_where(&mut self, f: &dyn Fn(&Entry) -> bool) {
        let before = self.entries.len();
        self.entries.0.retain(|(_, e)| !f(e));
        if self.entries.len() != before {
            self.dirty = true;
        }
    }

    pub(super) fn remove_qty(&mut self, key: &Key) {
        self.remove_where(&|e| matches!(&e.body, Body::Delta(k, _) | Body::Set(k, _) if k == key));
    }

    pub(super) fn remove_line(&mut self, key: &Key) {
        self.remove_where(&|e| e.key() == Some(key));
    }

    /// Writes the line's description: a new last-writer entry if it changed, else the winning
    /// one re-asserted with its own timestamp (so that a concurrent genuine update still wins,
    /// and the line keeps a description if another replica removed what it saw).
    pub(super) fn put_meta(&mut self, key: &Key, meta: Meta, now_ms: f64) {
        // The winning description's time if it is this one (compared in place, not cloned).
        let unchanged = self.acc_of(key).meta.and_then(|(ts, _, m)| (*m == meta).then_some(ts));
        let (d, ts) = self.stamp(now_ms);
        let ts = unchanged.unwrap_or(ts);
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
        if qty == 0 && self.lines().len() >= MAX_LINES {
            return Err(InputError::TooLarge);
        }
        // On an existing line, what the call leaves out keeps its current value.
        let old = acc.meta.filter(|_| qty > 0).map(|m| m.2);
        let keep = |given: &str, cur: Option<&String>| if given.is_empty() { cur.cloned().unwrap_or_default() } else { given.to_owned() };
        let mut meta = Meta {
            name: keep(cap(p.name, MAX_NAME_LEN), old.map(|m| &m.name)),
            price: match old {
                Some(m) if !(p.price.is_finite() && p.price >= 0.0) => m.price,
                _ => to_micros(p.price),
            },
            currency: keep(cap(p.currency, MAX_CURRENCY_LEN), old.map(|m| &m.currency)),
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

    pub(super) fn coupon_event(&self, name: &'static str, code: &str) -> CartEvent {
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
        if !self.is_empty() {
            self.ensure_cart_id(now_ms);
        }
        // Rendered from the lines as they are (no copy of their keys), before the removal.
        let mut events = Vec::new();
        for l in self.lines().iter() {
            events.push(self.product_event("Product Removed", l.key, l.qty));
        }
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
        for k in &["value", "revenue"] {
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
        let units = units(&lines);
        let mut out = self.open_props(self.cart_id());
        push_key(&mut out, "order_id");
        push_str(&mut out, order.order_id);
        for &(k, v) in
            &[("subtotal", sub), ("revenue", revenue), ("total", total), ("shipping", shipping), ("tax", tax), ("discount", discount)]
        {
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
    pub(super) fn prune_orders(&mut self) {
        loop {
            let mut n = 0;
            let mut first: Option<(u64, &Dot)> = None;
            for (d, e) in self.entries.iter() {
                if matches!(e.body, Body::Order { .. }) {
                    n += 1;
                    if first.map_or(true, |f| (e.ts, d).cmp(&f).is_lt()) {
                        first = Some((e.ts, d));
                    }
                }
            }
            let Some((_, d)) = first.filter(|_| n > MAX_ORDERS) else { return };
            let d = d.clone();
            self.entries.remove(&d);
        }
    }
}
