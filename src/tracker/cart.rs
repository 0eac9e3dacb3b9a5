//! The tracker's cart: the shared cart CRDT ([`crate::cart`]) wired to the API, events,
//! storage, other tabs, the native app and the collector's cart endpoint
//! ([`crate::cart_sync`]).
//!
//! Owns: the `cart.*` calls (argument shapes: Segment product objects in, e-commerce v2
//! events out), when the cart is stored (its consent category, `necessary` by default), the
//! sync credentials, forgetting the cart (reset, another user, consent withdrawn), and
//! which changes the web layer must pass on ([`CartChanges`]).
//! Must never: emit events for changes merged from elsewhere (the other replica emitted its
//! own), or write the cart where its consent category is not granted.

use super::*;
use crate::cart::{Cart, CartEvent, Order, Product};
use crate::cart_sync::{CartRequest, Credentials, SyncOutcome};

/// Where cart changes came from since the web layer last asked ([`Tracker::take_cart_changes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CartChanges {
    /// A `cart.*` call here.
    pub local: bool,
    /// Another tab (storage event or BroadcastChannel).
    pub tab: bool,
    /// The collector (another device).
    pub device: bool,
    /// The native app.
    pub app: bool,
}

impl CartChanges {
    pub fn any(&self) -> bool {
        self.local || self.tab || self.device || self.app
    }
    /// Other tabs have not seen these changes.
    pub fn for_tabs(&self) -> bool {
        self.local || self.device || self.app
    }
    /// The native app has not seen these changes.
    pub fn for_app(&self) -> bool {
        self.local || self.device
    }
}

/// Where a remote cart state comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CartSource {
    Tab,
    App,
}

/// A quantity argument: a non-negative integer (larger than the cart's limit is clamped).
fn quantity(v: f64, what: &'static str) -> Result<u32, InputError> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 {
        Ok(v.min(f64::from(crate::cart::MAX_QUANTITY)) as u32)
    } else {
        Err(InputError::InvalidNumber(what))
    }
}

/// A string member (or a number, as Segment accepts numeric ids), decoded.
fn text(raw: &str) -> Option<String> {
    if raw.starts_with('"') {
        json::string_value(raw)
    } else {
        json::parse_decimal(raw).map(|_| raw.to_owned())
    }
}

/// An object argument's members: its id (`product_id` of a line, `order_id` of an order),
/// a line's `variant`, the `known` members the caller reads (raw JSON), and the rest.
struct Parsed<'a> {
    id: String,
    variant: String,
    known: Vec<(&'a str, &'a str)>,
    /// The remaining members as a JSON object.
    rest: String,
}

/// Splits the object `obj` into [`Parsed`]; `id_key` names its id member. One member loop
/// for the lines and the order.
fn parse<'a>(obj: &'a str, what: &'static str, id_key: &str, id_what: &'static str, known: &[&str]) -> Result<Parsed<'a>, InputError> {
    let members = json::members(obj).ok_or(InputError::NotAnObject(what))?;
    let line = id_key == "product_id";
    let mut p = Parsed { id: String::new(), variant: String::new(), known: Vec::new(), rest: String::from("{") };
    for &(k, v) in &members {
        let name = k.get(1..k.len() - 1).unwrap_or_default();
        if name == id_key {
            p.id = text(v).ok_or(InputError::MissingName(id_what))?;
        } else if line && name == "variant" {
            p.variant = if v == "null" { String::new() } else { text(v).ok_or(InputError::MissingName("cart: variant"))? };
        } else if known.contains(&name) {
            p.known.push((name, v));
        } else {
            if p.rest.len() > 1 {
                p.rest.push(',');
            }
            p.rest.push_str(k);
            p.rest.push(':');
            p.rest.push_str(v);
        }
    }
    p.rest.push('}');
    // A line needs its product id; an order's is checked by the cart (`order_id`).
    if line && p.id.is_empty() {
        return Err(InputError::MissingName(id_what));
    }
    Ok(p)
}

/// A product line named by an object `{product_id, variant?, …}`; the other members.
fn parse_line<'a>(obj: &'a str, what: &'static str, id_what: &'static str, known: &[&str]) -> Result<Parsed<'a>, InputError> {
    parse(obj, what, "product_id", id_what, known)
}

impl<'a> Parsed<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.known.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).filter(|v| *v != "null")
    }
    fn number(&self, name: &str, what: &'static str) -> Result<Option<f64>, InputError> {
        self.get(name).map(|v| json::parse_decimal(v).ok_or(InputError::InvalidNumber(what))).transpose()
    }
    fn string(&self, name: &str, what: &'static str) -> Result<String, InputError> {
        self.get(name).map_or(Ok(String::new()), |v| text(v).ok_or(InputError::MissingName(what)))
    }
}

/// `extra` members (JSON object) the computed event properties do not already have.
fn with_extras(mut ev: CartEvent, extra: Option<&str>) -> CartEvent {
    if let Some(x) = extra.filter(|x| *x != "{}") {
        ev.properties = json::merge_objects(x, &ev.properties);
    }
    ev
}

impl<S: Storage, C: Clock, I: IdSource> Tracker<S, C, I> {
    /// The cart (read-only).
    pub fn cart(&self) -> &Cart {
        &self.cart.state
    }

    /// Whether the cart may be stored and synced (its consent category is granted).
    pub fn cart_allowed(&self) -> bool {
        self.cart.allowed(&self.store)
    }

    /// Which cart changes happened since the last call (for `cart.onChange`, other tabs and
    /// the app).
    pub fn take_cart_changes(&mut self) -> CartChanges {
        std::mem::take(&mut self.cart.changes)
    }

    /// The stored cart was corrupt and replaced by an empty one (true once).
    pub fn take_cart_corrupt(&mut self) -> bool {
        std::mem::take(&mut self.cart.corrupt)
    }

    fn cart_local_change(&mut self, now: f64) {
        self.cart.local_change(now);
    }

    /// Tracks the events of a local cart operation.
    fn cart_events(&mut self, events: &[CartEvent], opts: &CallOptions<'_>) -> Result<(), InputError> {
        let mut result = Ok(());
        for ev in events {
            let r = self.enqueue(&Body::Track { event: ev.name, properties: &ev.properties }, opts);
            result = result.and(r);
        }
        result
    }

    /// A local operation that changed the cart (`Some` event) or did nothing (`None`).
    fn cart_changed(&mut self, ev: Option<CartEvent>, now: f64, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let Some(ev) = ev else { return Ok(()) };
        self.cart_local_change(now);
        self.cart_events(&[ev], opts)
    }

    /// `cart.add(product, quantity?)`: `product` is a Segment product object (`product_id`
    /// required; `variant`, `name`, `price`, `currency`, `quantity`; every other member —
    /// `sku`, `category`, `brand`, `url`, `image_url`, … — is kept with the line). The
    /// quantity argument, else `product.quantity`, else 1. Emits `Product Added`.
    pub fn cart_add(&mut self, product: &str, qty: Option<f64>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let p = parse_line(product, "cart.add(): product", "cart.add(): product.product_id", &["name", "price", "currency", "quantity"])?;
        let n = match qty {
            Some(q) => Some(q),
            None => p.number("quantity", "cart.add(): product.quantity")?,
        };
        let n = quantity(n.unwrap_or(1.0), "cart.add(): quantity")?;
        let price = p.number("price", "cart.add(): product.price")?;
        if price.is_some_and(|v| v < 0.0) {
            return Err(InputError::InvalidNumber("cart.add(): product.price"));
        }
        let (name, currency) = (p.string("name", "cart.add(): product.name")?, p.string("currency", "cart.add(): product.currency")?);
        let now = self.clock.now_ms();
        let product = Product {
            product_id: &p.id,
            variant: &p.variant,
            name: &name,
            price: price.unwrap_or(f64::NAN),
            currency: &currency,
            properties: if p.rest == "{}" { "" } else { &p.rest },
        };
        let ev = self.cart.state.add(&product, n, now)?;
        self.cart_changed(ev, now, opts)
    }

    /// `cart.remove(line, quantity?)`: `line` is `{product_id, variant?, quantity?}`; without
    /// a quantity the whole line goes. Emits `Product Removed`.
    pub fn cart_remove(&mut self, line: &str, qty: Option<f64>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let p = parse_line(line, "cart.remove(): line", "cart.remove(): product_id", &["quantity"])?;
        let n = match qty {
            Some(q) => Some(q),
            None => p.number("quantity", "cart.remove(): quantity")?,
        };
        let n = n.map(|q| quantity(q, "cart.remove(): quantity")).transpose()?;
        let now = self.clock.now_ms();
        let ev = self.cart.state.remove(&p.id, &p.variant, n, now)?;
        self.cart_changed(ev, now, opts)
    }

    /// `cart.setQuantity(line, quantity)`: `Product Added`/`Product Removed` with the difference.
    pub fn cart_set_quantity(&mut self, line: &str, qty: f64, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let p = parse_line(line, "cart.setQuantity(): line", "cart.setQuantity(): product_id", &[])?;
        let n = quantity(qty, "cart.setQuantity(): quantity")?;
        let now = self.clock.now_ms();
        let ev = self.cart.state.set_quantity(&p.id, &p.variant, n, now)?;
        self.cart_changed(ev, now, opts)
    }

    /// `cart.update(line, properties)`: merges free-form product properties into a line. No event.
    pub fn cart_update(&mut self, line: &str, properties: &str) -> Result<(), InputError> {
        let p = parse_line(line, "cart.update(): line", "cart.update(): product_id", &[])?;
        let now = self.clock.now_ms();
        if self.cart.state.update_properties(&p.id, &p.variant, properties, now)? {
            self.cart_local_change(now);
        }
        Ok(())
    }

    /// `cart.applyCoupon(code)`: `Coupon Applied`.
    pub fn cart_apply_coupon(&mut self, code: &str, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let now = self.clock.now_ms();
        let ev = self.cart.state.apply_coupon(code, now)?;
        self.cart_changed(ev, now, opts)
    }

    /// `cart.removeCoupon()`: `Coupon Removed`.
    pub fn cart_remove_coupon(&mut self, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let now = self.clock.now_ms();
        let ev = self.cart.state.remove_coupon(now);
        self.cart_changed(ev, now, opts)
    }

    /// `cart.setCurrency(code)`. No event.
    pub fn cart_set_currency(&mut self, code: &str) -> Result<(), InputError> {
        let now = self.clock.now_ms();
        if self.cart.state.set_currency(code, now)? {
            self.cart_local_change(now);
        }
        Ok(())
    }

    /// `cart.clear()`: one `Product Removed` per line.
    pub fn cart_clear(&mut self, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let had_coupon = !self.cart.state.coupon().is_empty();
        let now = self.clock.now_ms();
        let events = self.cart.state.clear(now);
        if events.is_empty() && !had_coupon {
            return Ok(());
        }
        self.cart_local_change(now);
        self.cart_events(&events, opts)
    }

    /// `cart.view(properties?)`: `Cart Viewed`.
    pub fn cart_view(&mut self, extra: Option<&str>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let ev = with_extras(self.cart.state.view(), extra);
        self.cart_events(&[ev], opts)
    }

    /// `cart.checkout(properties?)`: `Checkout Started`.
    pub fn cart_checkout(&mut self, extra: Option<&str>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let ev = with_extras(self.cart.state.checkout_started(), extra);
        self.cart_events(&[ev], opts)
    }

    /// `cart.orderCompleted({order_id, shipping?, tax?, discount?, …})`: `Order Completed`
    /// (other members — `affiliation`, `checkout_id`, … — are added to its properties), then
    /// the cart is emptied on every replica.
    pub fn cart_order_completed(&mut self, order: &str, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let p =
            parse(order, "cart.orderCompleted(): order", "order_id", "cart.orderCompleted(): order_id", &["shipping", "tax", "discount"])?;
        const WHAT: &str = "cart.orderCompleted(): amounts";
        let amount = |name| match p.number(name, WHAT)? {
            Some(a) if a < 0.0 => Err(InputError::InvalidNumber(WHAT)),
            a => Ok(a.unwrap_or(0.0)),
        };
        let o = Order { order_id: &p.id, shipping: amount("shipping")?, tax: amount("tax")?, discount: amount("discount")? };
        let now = self.clock.now_ms();
        let ev = with_extras(self.cart.state.order_completed(&o, now)?, Some(&p.rest));
        self.cart_changed(Some(ev), now, opts)
    }

    /// `cart.connect(token)`: syncs the cart with the collector as the signed-in user, with
    /// the token the site's backend minted for them. The local (guest) cart is sent first and
    /// merges into the user's saved cart.
    pub fn cart_connect(&mut self, token: &str) -> Result<(), InputError> {
        let Some(user_id) = self.visitor.identity.user_id.clone() else { return Err(InputError::NotIdentified("cart.connect()")) };
        if !crate::cart_sync::valid_token(token) {
            return Err(InputError::MissingName("cart.connect(): token (printable, at most 512 characters)"));
        }
        if !self.cart_allowed() {
            return Ok(()); // the visitor did not allow the cart's category
        }
        let creds = Credentials { user_id, token: token.to_owned() };
        let now = self.clock.now_ms();
        self.cart.connect(creds, &mut self.store, now);
        Ok(())
    }

    /// `cart.sync()`: exchange with the collector now. The id of the request whose answer
    /// settles it; `None` when not connected.
    pub fn cart_sync_now(&mut self) -> Option<u64> {
        let now = self.clock.now_ms();
        self.cart.sync.sync_now(now)
    }

    /// The page became visible again: fetch what other devices did.
    pub fn on_visible(&mut self) {
        let now = self.clock.now_ms();
        self.cart.sync.pull(now);
    }

    /// The cart request to perform now, if any.
    pub fn cart_poll(&mut self) -> Option<CartRequest> {
        let now = self.clock.now_ms();
        let c = &mut self.cart;
        c.sync.poll(now, || c.state.encode())
    }

    /// A cart push the hidden page should still send (`keepalive`).
    pub fn cart_on_hidden(&mut self) -> Option<CartRequest> {
        let c = &mut self.cart;
        c.sync.on_hidden(|| c.state.encode())
    }

    /// The answer to a cart request; merges the collector's cart. Returns the outcome (the web
    /// layer warns on refusals).
    pub fn on_cart_response(&mut self, id: u64, status: u16, retry_after: Option<&str>, body: Option<&str>) -> SyncOutcome {
        let now = self.clock.now_ms();
        let unit = self.ids.unit();
        let outcome = self.cart.sync.on_response(id, status, retry_after, body, now, unit);
        match &outcome {
            SyncOutcome::Merged(state) if self.cart.state.merge_encoded(state) == Some(true) => self.cart.changes.device = true,
            SyncOutcome::Refused(_) => self.cart.erase_credentials(&mut self.store),
            _ => {}
        }
        outcome
    }

    /// A cart state from another tab (BroadcastChannel) or the native app. Returns whether
    /// this cart changed; `None` when the state is corrupt.
    pub fn cart_merge_remote(&mut self, state: &str, source: CartSource) -> Option<bool> {
        let changed = self.cart.state.merge_encoded(state)?;
        if changed {
            match source {
                CartSource::Tab => self.cart.changes.tab = true,
                CartSource::App => {
                    self.cart.changes.app = true;
                    // The collector has not seen what the app did.
                    let now = self.clock.now_ms();
                    self.cart.sync.local_change(now);
                }
            }
        }
        Some(changed)
    }

    /// The cart's state as text (for other tabs, the app and the collector).
    pub fn cart_state(&self) -> String {
        self.cart.state.encode()
    }

    /// Forgets the cart here and in storage, and stops syncing (reset).
    pub(super) fn forget_cart(&mut self) {
        self.cart.forget(&mut self.store);
    }

    /// The signed-in user changed from `before` (see `CartComponent::after_user_change`).
    pub(super) fn cart_after_user_change(&mut self, before: Option<&str>, same_customer: bool) {
        let now = self.visitor.identity.user_id.as_deref();
        self.cart.after_user_change(before, now, same_customer, &mut self.store);
    }
}

#[cfg(test)]
mod tests;
