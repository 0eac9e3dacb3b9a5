//! Reading the cart: lines (quantities as the merge of their entries), registers (coupon,
//! currency, `cart_id`), the line list, subtotal and order records.
//!
//! Owns: deriving what the cart holds from its entries. Must never: write.

use super::*;

impl Cart {
    /// Every line with live entries (or only `only`), in no particular order.
    pub(super) fn accs(&self, only: Option<&Key>) -> Vec<(&Key, Acc<'_>)> {
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
                        if a.set.map_or(true, |(ts, sd, _)| (e.ts, d).cmp(&(ts, sd)).is_gt()) {
                            a.set = Some((e.ts, d, *n));
                        }
                    } else {
                        a.sum = a.sum.saturating_add(*n);
                    }
                }
                Body::Meta(_, meta) if a.meta.map_or(true, |(ts, md, _)| (e.ts, d).cmp(&(ts, md)).is_gt()) => {
                    a.meta = Some((e.ts, d, meta))
                }
                _ => {}
            }
        }
        m
    }

    /// Visible lines (quantity > 0), in the order they were created.
    pub(super) fn lines(&self) -> Vec<Line<'_>> {
        // A loop, not `into_iter().filter().map().collect()`: that chain brings the in-place
        // collect machinery for one more element type into the wasm.
        let mut v: Vec<Line<'_>> = Vec::new();
        for (key, a) in self.accs(None) {
            let qty = a.qty();
            if qty > 0 {
                v.push(Line { key, qty, meta: a.meta.map(|m| m.2), since: a.since() });
            }
        }
        insertion_sort(&mut v, |a, b| (a.since, a.key) < (b.since, b.key));
        v
    }

    pub(super) fn acc_of(&self, key: &Key) -> Acc<'_> {
        self.accs(Some(key)).first().map_or_else(Acc::default, |(_, a)| *a)
    }

    /// The winning live entry of a cart-level register (`pick` selects the kind).
    /// `pick` is a plain function pointer, not a generic: one copy of this loop in the wasm.
    pub(super) fn register(&self, pick: fn(&Body) -> Option<&String>, earliest: bool) -> Option<&str> {
        let mut best: Option<(u64, &Dot, &str)> = None;
        for (d, e) in self.entries.iter() {
            if let Some(v) = pick(&e.body) {
                let better = match best {
                    None => true,
                    Some((ts, bd, _)) if earliest => (e.ts, d).cmp(&(ts, bd)).is_lt(),
                    Some((ts, bd, _)) => (e.ts, d).cmp(&(ts, bd)).is_gt(),
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
        for m in self.lines().iter().filter_map(|l| l.meta) {
            if !m.currency.is_empty() {
                return &m.currency;
            }
        }
        ""
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
}
