//! The cart's Segment e-commerce v2 events and its JSON snapshot: `products[]`, totals,
//! `cart_id`, coupon.
//!
//! Owns: the properties of every cart event and of `cart.get()`. Must never: change the
//! state (events are built from what the operations left).

use super::*;

/// Units in the lines (the order's `units`, the snapshot's `quantity`): one loop for both.
pub(super) fn units(lines: &[Line<'_>]) -> u64 {
    let mut n = 0u64;
    for l in lines {
        n += u64::try_from(l.qty).unwrap_or(0);
    }
    n
}

impl Cart {
    pub(super) fn push_line(&self, out: &mut String, l: &Line<'_>, qty: i64) {
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
            for &(k, v) in &members {
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

    pub(super) fn push_products(&self, out: &mut String, lines: &[Line<'_>]) {
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

    pub(super) fn open_props(&self, cart_id: &str) -> String {
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
    pub(super) fn product_event(&self, name: &'static str, key: &Key, qty: i64) -> CartEvent {
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
        push_u64(&mut out, units(&lines));
        out.push(',');
        push_key(&mut out, "value");
        push_micros(&mut out, self.subtotal_micros());
        out.push('}');
        out
    }

    /// `"currency":…,"coupon":…,` when known.
    pub(super) fn push_money_members(&self, out: &mut String) {
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
}
