//! The `cart.*` JavaScript calls: one method of the wasm class, `cartCall(name, a, b)`, which
//! the loader and the npm wrapper expose as `omnitrail.cart.add(a, b)`, `omnitrail.cart.get()`,
//! … (js/src/namespaces.js). One export, not one per call: each export costs a wasm-bindgen
//! shim (≈ 300 B raw).
//!
//! Owns: the calls' names, converting their arguments (a product object, a line given as an
//! id or an object, quantities), `cart.get()`, `cart.onChange(fn)` and `cart.sync()`.
//! Must never: throw, hold a cart rule (those live in `tracker/cart.rs` and `cart.rs`), or
//! run page code while the state is borrowed.

use wasm_bindgen::prelude::*;

use super::api::Omnitrail;
use super::convert;
use super::runtime::{schedule, tick_now, with};
use crate::error::InputError;
use crate::tracker::CallOptions;

pub use crate::names::CartOp;

/// By the name the snippet queues it under: `"cart"` + the operation (`cart.add` → `"cartadd"`,
/// built without the page's `String.prototype`; `"cartAdd"` from earlier snippets and the
/// types' `ReplayMethod`; [`crate::names::unqueue`]). `get` and `sync` answer something, so the snippet never queues them.
pub fn parse_queued(method: &str) -> Option<CartOp> {
    CartOp::parse(&crate::names::unqueue(method, "cart")?).filter(|op| !op.answers())
}

/// A line argument: a product id (string or number), or an object `{product_id, variant?, …}`;
/// as JSON object text.
fn line(v: &JsValue, what: &'static str) -> Result<String, InputError> {
    if v.is_object() {
        return convert::opt_object(v, what)?.ok_or(InputError::NotAnObject(what));
    }
    let id = convert::id(v, what)?;
    let mut s = String::from("{\"product_id\":");
    crate::json::push_str(&mut s, &id);
    s.push('}');
    Ok(s)
}

/// An optional number argument (`undefined`/`null`: none).
fn opt_number(v: &JsValue, what: &'static str) -> Result<Option<f64>, InputError> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64().map(Some).ok_or(InputError::InvalidNumber(what))
}

/// How a cart call's argument is read (see [`spec`]).
#[derive(Clone, Copy)]
enum Kind {
    /// Not read.
    Nothing,
    /// A plain object, required.
    Object,
    /// A plain object or `undefined`/`null`.
    OptObject,
    /// A line: a product id or an object (see [`line`]).
    Line,
    /// A non-empty id (string or number).
    Id,
    /// A number or `undefined`/`null`.
    OptNumber,
    /// A number, required.
    Number,
}

/// How each call reads its two arguments, and the name of each in a warning. One table, not
/// a conversion per call: the twelve calls that change the cart share one copy of the
/// conversion code.
fn spec(op: CartOp) -> (Kind, &'static str, Kind, &'static str) {
    use Kind::*;
    match op {
        CartOp::Add => (Object, "cart.add(): product", OptNumber, "cart.add(): quantity"),
        CartOp::Remove => (Line, "cart.remove(): line", OptNumber, "cart.remove(): quantity"),
        CartOp::SetQuantity => (Line, "cart.setQuantity(): line", Number, "cart.setQuantity(): quantity"),
        CartOp::Update => (Line, "cart.update(): line", Object, "cart.update(): properties"),
        CartOp::ApplyCoupon => (Id, "cart.applyCoupon(): code", Nothing, ""),
        CartOp::SetCurrency => (Id, "cart.setCurrency(): code", Nothing, ""),
        CartOp::Connect => (Id, "cart.connect(): token", Nothing, ""),
        CartOp::OrderCompleted => (Object, "cart.orderCompleted(): order", Nothing, ""),
        CartOp::View | CartOp::Checkout => (OptObject, "cart: properties", Nothing, ""),
        // `get`, `onChange` and `sync` are answered before the table is read.
        CartOp::RemoveCoupon | CartOp::Clear | CartOp::Get | CartOp::OnChange | CartOp::Sync => (Nothing, "", Nothing, ""),
    }
}

/// A converted argument: text (an object as JSON, a line, an id) and/or a number.
type Arg = (Option<String>, Option<f64>);

fn convert(kind: Kind, v: &JsValue, what: &'static str) -> Result<Arg, InputError> {
    Ok(match kind {
        Kind::Nothing => (None, None),
        Kind::Object => (Some(convert::opt_object(v, what)?.ok_or(InputError::NotAnObject(what))?), None),
        Kind::OptObject => (convert::opt_object(v, what)?, None),
        Kind::Line => (Some(line(v, what)?), None),
        Kind::Id => (Some(convert::id(v, what)?), None),
        Kind::OptNumber => (None, opt_number(v, what)?),
        Kind::Number => (None, Some(opt_number(v, what)?.ok_or(InputError::InvalidNumber(what))?)),
    })
}

#[wasm_bindgen]
impl Omnitrail {
    /// `cart.<name>(a, b)`: runs the call `name` (see [`CartOp::parse`]; an unknown name does
    /// nothing). Returns the cart for `get`, a promise for `sync`, else `undefined`.
    #[wasm_bindgen(js_name = cartCall)]
    pub fn cart_call(&self, name: JsValue, a: JsValue, b: JsValue) -> JsValue {
        match name.as_string().as_deref().and_then(CartOp::parse) {
            Some(op) => self.cart_op(op, &a, &b, None),
            None => JsValue::UNDEFINED,
        }
    }
}

impl Omnitrail {
    /// Runs a cart call; `replay_ts` is the time a snippet-queued call was made.
    pub(super) fn cart_op(&self, op: CartOp, a: &JsValue, b: &JsValue, replay_ts: Option<f64>) -> JsValue {
        match op {
            // `cart.get()`: `{cart_id?, currency?, coupon?, products: [...], quantity, value}`.
            CartOp::Get => {
                return with(&self.rt, |r| r.core.cart().snapshot_json())
                    .and_then(|s| js_sys::JSON::parse(&s).ok())
                    .unwrap_or(JsValue::NULL)
            }
            // `cart.onChange(fn)`: `fn(cart)` after every change, here or elsewhere (tabs,
            // devices, app).
            CartOp::OnChange => {
                match a.clone().dyn_into::<js_sys::Function>() {
                    Ok(f) => drop(with(&self.rt, |r| r.cart.listeners.push(f))),
                    Err(_) => self.warn(InputError::NotAnObject("cart.onChange(): callback")),
                }
                return JsValue::UNDEFINED;
            }
            // `cart.sync()`: exchanges the cart with the collector now. Resolves `true` once
            // merged, `false` if not connected or the attempt failed (it is retried).
            CartOp::Sync => return self.cart_sync().into(),
            _ => {}
        }
        // A cart event carries the page it was made on, as every call does.
        self.catch_up_route();
        // Convert before borrowing: a getter in the arguments may call back into the SDK.
        let (ka, wa, kb, wb) = spec(op);
        let result = convert(ka, a, wa).and_then(|(x, _)| Ok((x, convert(kb, b, wb)?))).and_then(|(x, (y, q))| {
            let o = CallOptions { timestamp_ms: replay_ts, ..CallOptions::default() };
            // Every call that reads a text argument got one (else it returned an error above).
            let t = x.as_deref().unwrap_or_default();
            with(&self.rt, |r| {
                let c = &mut r.core;
                match op {
                    CartOp::Add => c.cart_add(t, q, &o),
                    CartOp::Remove => c.cart_remove(t, q, &o),
                    CartOp::SetQuantity => c.cart_set_quantity(t, q.unwrap_or(f64::NAN), &o),
                    CartOp::OrderCompleted => c.cart_order_completed(t, &o),
                    CartOp::Update => c.cart_update(t, y.as_deref().unwrap_or_default()),
                    CartOp::ApplyCoupon => c.cart_apply_coupon(t, &o),
                    CartOp::SetCurrency => c.cart_set_currency(t),
                    CartOp::Connect => c.cart_connect(t),
                    CartOp::RemoveCoupon => c.cart_remove_coupon(&o),
                    CartOp::Clear => c.cart_clear(&o),
                    CartOp::View => c.cart_view(x.as_deref(), &o),
                    CartOp::Checkout => c.cart_checkout(x.as_deref(), &o),
                    CartOp::Get | CartOp::OnChange | CartOp::Sync => Ok(()),
                }
            })
            .unwrap_or(Ok(()))
        });
        match result {
            Ok(()) => schedule(&self.rt),
            Err(e) => self.warn(e),
        }
        JsValue::UNDEFINED
    }

    fn cart_sync(&self) -> js_sys::Promise {
        let rt = self.rt.clone();
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            let waiting = with(&rt, |r| {
                let ticket = r.core.cart_sync_now();
                if let Some(t) = ticket {
                    r.cart.waiters.push((t, resolve.clone()));
                }
                ticket.is_some()
            });
            if waiting != Some(true) {
                let _ = resolve.call1(&JsValue::UNDEFINED, &JsValue::FALSE);
            }
        });
        tick_now(&self.rt);
        promise
    }
}
