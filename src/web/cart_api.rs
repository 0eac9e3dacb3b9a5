//! The `cart.*` JavaScript calls: methods `cartAdd`, `cartRemove`, … of the wasm class, which
//! the loader and the npm wrapper expose as `omnitrail.cart.add`, `omnitrail.cart.remove`, ….
//!
//! Owns: converting the cart calls' arguments (a product object, a line given as an id or an
//! object, quantities), `cart.get()`, `cart.onChange(fn)` and `cart.sync()`.
//! Must never: throw, hold a cart rule (those live in `tracker/cart.rs` and `cart.rs`), or
//! run page code while the state is borrowed.

use wasm_bindgen::prelude::*;

use super::api::Omnitrail;
use super::convert;
use super::runtime::{schedule, tick_now, with};
use crate::error::InputError;
use crate::tracker::CallOptions;

/// A cart call, by its method name (also what the snippet queues).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CartOp {
    Add,
    Remove,
    SetQuantity,
    Update,
    ApplyCoupon,
    RemoveCoupon,
    SetCurrency,
    Clear,
    View,
    Checkout,
    OrderCompleted,
    Connect,
}

impl CartOp {
    pub fn parse(method: &str) -> Option<CartOp> {
        Some(match method {
            "cartAdd" => CartOp::Add,
            "cartRemove" => CartOp::Remove,
            "cartSetQuantity" => CartOp::SetQuantity,
            "cartUpdate" => CartOp::Update,
            "cartApplyCoupon" => CartOp::ApplyCoupon,
            "cartRemoveCoupon" => CartOp::RemoveCoupon,
            "cartSetCurrency" => CartOp::SetCurrency,
            "cartClear" => CartOp::Clear,
            "cartView" => CartOp::View,
            "cartCheckout" => CartOp::Checkout,
            "cartOrderCompleted" => CartOp::OrderCompleted,
            "cartConnect" => CartOp::Connect,
            _ => return None,
        })
    }
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
/// a conversion per call: the twelve calls share one copy of the conversion code.
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
        CartOp::RemoveCoupon | CartOp::Clear => (Nothing, "", Nothing, ""),
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
    /// `cart.add(product, quantity?)`: `Product Added`.
    #[wasm_bindgen(js_name = cartAdd)]
    pub fn cart_add(&self, product: JsValue, quantity: JsValue) {
        self.cart_call(CartOp::Add, &product, &quantity, None);
    }
    /// `cart.remove(line, quantity?)`: `Product Removed` (the whole line without a quantity).
    #[wasm_bindgen(js_name = cartRemove)]
    pub fn cart_remove(&self, line: JsValue, quantity: JsValue) {
        self.cart_call(CartOp::Remove, &line, &quantity, None);
    }
    /// `cart.setQuantity(line, quantity)`.
    #[wasm_bindgen(js_name = cartSetQuantity)]
    pub fn cart_set_quantity(&self, line: JsValue, quantity: JsValue) {
        self.cart_call(CartOp::SetQuantity, &line, &quantity, None);
    }
    /// `cart.update(line, properties)`: merges product properties into a line.
    #[wasm_bindgen(js_name = cartUpdate)]
    pub fn cart_update(&self, line: JsValue, properties: JsValue) {
        self.cart_call(CartOp::Update, &line, &properties, None);
    }
    /// `cart.applyCoupon(code)`: `Coupon Applied`.
    #[wasm_bindgen(js_name = cartApplyCoupon)]
    pub fn cart_apply_coupon(&self, code: JsValue) {
        self.cart_call(CartOp::ApplyCoupon, &code, &JsValue::UNDEFINED, None);
    }
    /// `cart.removeCoupon()`: `Coupon Removed`.
    #[wasm_bindgen(js_name = cartRemoveCoupon)]
    pub fn cart_remove_coupon(&self) {
        self.cart_call(CartOp::RemoveCoupon, &JsValue::UNDEFINED, &JsValue::UNDEFINED, None);
    }
    /// `cart.setCurrency(code)`.
    #[wasm_bindgen(js_name = cartSetCurrency)]
    pub fn cart_set_currency(&self, code: JsValue) {
        self.cart_call(CartOp::SetCurrency, &code, &JsValue::UNDEFINED, None);
    }
    /// `cart.clear()`: `Product Removed` per line.
    #[wasm_bindgen(js_name = cartClear)]
    pub fn cart_clear(&self) {
        self.cart_call(CartOp::Clear, &JsValue::UNDEFINED, &JsValue::UNDEFINED, None);
    }
    /// `cart.view(properties?)`: `Cart Viewed`.
    #[wasm_bindgen(js_name = cartView)]
    pub fn cart_view(&self, properties: JsValue) {
        self.cart_call(CartOp::View, &properties, &JsValue::UNDEFINED, None);
    }
    /// `cart.checkout(properties?)`: `Checkout Started`.
    #[wasm_bindgen(js_name = cartCheckout)]
    pub fn cart_checkout(&self, properties: JsValue) {
        self.cart_call(CartOp::Checkout, &properties, &JsValue::UNDEFINED, None);
    }
    /// `cart.orderCompleted(order)`: `Order Completed`, then the cart is empty.
    #[wasm_bindgen(js_name = cartOrderCompleted)]
    pub fn cart_order_completed(&self, order: JsValue) {
        self.cart_call(CartOp::OrderCompleted, &order, &JsValue::UNDEFINED, None);
    }
    /// `cart.connect(token)`: sync the signed-in user's cart with the collector.
    #[wasm_bindgen(js_name = cartConnect)]
    pub fn cart_connect(&self, token: JsValue) {
        self.cart_call(CartOp::Connect, &token, &JsValue::UNDEFINED, None);
    }

    /// `cart.get()`: `{cart_id?, currency?, coupon?, products: [...], quantity, value}`.
    #[wasm_bindgen(js_name = cartGet)]
    pub fn cart_get(&self) -> JsValue {
        with(&self.rt, |r| r.core.cart().snapshot_json())
            .and_then(|s| js_sys::JSON::parse(&s).ok())
            .unwrap_or(JsValue::NULL)
    }

    /// `cart.onChange(fn)`: `fn(cart)` after every change, here or elsewhere (tabs, devices, app).
    #[wasm_bindgen(js_name = cartOnChange)]
    pub fn cart_on_change(&self, callback: JsValue) {
        match callback.dyn_into::<js_sys::Function>() {
            Ok(f) => drop(with(&self.rt, |r| r.cart.listeners.push(f))),
            Err(_) => self.warn(InputError::NotAnObject("cart.onChange(): callback")),
        }
    }

    /// `cart.sync()`: exchanges the cart with the collector now. Resolves `true` once merged,
    /// `false` if not connected or the attempt failed (it is retried).
    #[wasm_bindgen(js_name = cartSync)]
    pub fn cart_sync(&self) -> js_sys::Promise {
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

impl Omnitrail {
    /// Runs a cart call; `replay_ts` is the time a snippet-queued call was made.
    pub(super) fn cart_call(&self, op: CartOp, a: &JsValue, b: &JsValue, replay_ts: Option<f64>) {
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
                }
            })
            .unwrap_or(Ok(()))
        });
        match result {
            Ok(()) => schedule(&self.rt),
            Err(e) => self.warn(e),
        }
    }
}
