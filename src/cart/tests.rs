use super::*;
use crate::json::{validate, Kind};
use crate::testing::MemoryStorage;

const T0: f64 = 1_795_000_000_000.0;

fn shirt() -> Product<'static> {
    Product {
        product_id: "sku-1",
        variant: "M",
        name: "T-shirt",
        price: 19.99,
        currency: "EUR",
        properties: r#"{"category":"Apparel","brand":"Omni","price":1}"#,
    }
}

fn mug() -> Product<'static> {
    Product { product_id: "mug", variant: "", name: "Mug", price: 0.1, currency: "EUR", properties: "" }
}

fn ev(r: Result<Option<CartEvent>, InputError>) -> CartEvent {
    r.expect("valid input").expect("an event")
}

/// The properties as a serde value (tests only).
fn props(e: &CartEvent) -> serde_json::Value {
    assert_eq!(validate(&e.properties), Some(Kind::Object), "{}", e.properties);
    serde_json::from_str(&e.properties).unwrap()
}

fn joined(a: &Cart, b: &Cart) -> Cart {
    let mut m = a.clone();
    m.merge(b);
    m
}

#[test]
fn add_emits_product_added_with_spec_properties() {
    let mut c = Cart::new("tab-a");
    let e = ev(c.add(&shirt(), 2, T0));
    assert_eq!(e.name, "Product Added");
    let p = props(&e);
    assert_eq!(p["cart_id"], "tab-a-1");
    assert_eq!(p["product_id"], "sku-1");
    assert_eq!(p["variant"], "M");
    assert_eq!(p["name"], "T-shirt");
    assert_eq!(p["price"], 19.99, "the line's price wins over a `price` property");
    assert_eq!(p["quantity"], 2);
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["category"], "Apparel");
    assert_eq!(p["brand"], "Omni");
    assert_eq!(c.quantity("sku-1", "M"), 2);
    // A second add reports the quantity added, the line holds the sum.
    let p = props(&ev(c.add(&shirt(), 3, T0 + 1.0)));
    assert_eq!(p["quantity"], 3);
    assert_eq!(c.quantity("sku-1", "M"), 5);
    // Another variant is another line.
    c.add(&Product { variant: "L", ..shirt() }, 1, T0 + 2.0).unwrap();
    assert_eq!(c.items(), vec![("sku-1".into(), "M".into(), 5), ("sku-1".into(), "L".into(), 1)]);
}

#[test]
fn bad_input_is_an_input_error_and_changes_nothing() {
    let mut c = Cart::new("a");
    assert_eq!(c.add(&Product { product_id: "", ..shirt() }, 1, T0), Err(InputError::MissingName("product_id")));
    assert_eq!(c.add(&Product { properties: "[1]", ..shirt() }, 1, T0), Err(InputError::NotAnObject("properties")));
    assert_eq!(c.add(&Product { properties: "{\"a\":", ..shirt() }, 1, T0), Err(InputError::NotAnObject("properties")));
    let long = "x".repeat(MAX_ID_LEN + 1);
    assert_eq!(c.add(&Product { product_id: &long, ..shirt() }, 1, T0), Err(InputError::NameTooLong("product_id")));
    let big = ["{\"a\":\"", &"x".repeat(MAX_PROPS_LEN), "\"}"].concat();
    assert_eq!(c.add(&Product { properties: &big, ..shirt() }, 1, T0), Err(InputError::TooLarge));
    assert_eq!(c.add(&shirt(), 0, T0), Ok(None));
    assert_eq!(c.remove("nope", "", None, T0), Ok(None));
    assert_eq!(c.set_quantity("nope", "", 3, T0), Ok(None));
    assert_eq!(c.update_properties("nope", "", "{}", T0), Ok(false));
    assert_eq!(c.order_completed(&Order::default(), T0), Err(InputError::MissingName("order_id")));
    assert_eq!(c.entry_count(), 0);
    // Odd numbers do not panic and do not poison totals.
    c.add(&Product { price: f64::NAN, ..mug() }, u32::MAX, f64::NAN).unwrap();
    c.add(&Product { product_id: "x", price: f64::INFINITY, ..mug() }, 1, -5.0).unwrap();
    c.add(&Product { product_id: "y", price: -3.0, ..mug() }, 1, 1e300).unwrap();
    assert_eq!(c.quantity("mug", ""), MAX_QUANTITY);
    assert_eq!(validate(&c.snapshot_json()), Some(Kind::Object));
}

#[test]
fn remove_set_quantity_and_properties() {
    let mut c = Cart::new("a");
    c.add(&shirt(), 5, T0).unwrap();
    let p = props(&ev(c.remove("sku-1", "M", Some(2), T0 + 1.0)));
    assert_eq!((p["quantity"].as_u64(), p["name"].as_str()), (Some(2), Some("T-shirt")));
    assert_eq!(c.quantity("sku-1", "M"), 3);
    let e = ev(c.set_quantity("sku-1", "M", 7, T0 + 2.0));
    assert_eq!((e.name, props(&e)["quantity"].as_u64()), ("Product Added", Some(4)));
    let e = ev(c.set_quantity("sku-1", "M", 1, T0 + 3.0));
    assert_eq!((e.name, props(&e)["quantity"].as_u64()), ("Product Removed", Some(6)));
    assert_eq!(c.set_quantity("sku-1", "M", 1, T0 + 4.0), Ok(None), "unchanged: no event");
    assert_eq!(c.update_properties("sku-1", "M", r#"{"brand":"Other","coupon":"X"}"#, T0 + 5.0), Ok(true));
    let p = props(&c.view());
    assert_eq!(p["products"][0]["brand"], "Other");
    assert_eq!(p["products"][0]["category"], "Apparel");
    // An add without description keeps the line's.
    c.add(&Product { product_id: "sku-1", variant: "M", price: f64::NAN, ..Product::default() }, 1, T0 + 6.0).unwrap();
    let p = props(&c.view());
    assert_eq!((p["products"][0]["name"].as_str(), p["products"][0]["price"].as_f64()), (Some("T-shirt"), Some(19.99)));
    // Removing more than there is removes the line and reports what there was.
    let p = props(&ev(c.remove("sku-1", "M", Some(50), T0 + 7.0)));
    assert_eq!(p["quantity"], 2);
    assert!(c.is_empty());
    assert_eq!(c.entry_count(), 1, "only the cart id is left");
    // Set quantity 0 removes.
    c.add(&mug(), 2, T0 + 8.0).unwrap();
    assert_eq!(ev(c.set_quantity("mug", "", 0, T0 + 9.0)).name, "Product Removed");
    assert!(c.is_empty());
}

#[test]
fn cart_viewed_checkout_and_order_completed() {
    let mut c = Cart::new("a");
    c.add(&shirt(), 2, T0).unwrap();
    c.add(&mug(), 3, T0 + 1.0).unwrap();
    assert_eq!(ev(c.apply_coupon("SUMMER", T0 + 2.0)).name, "Coupon Applied");
    let v = props(&c.view());
    assert_eq!(c.view().name, "Cart Viewed");
    assert_eq!(v["cart_id"], "a-1");
    assert_eq!(v["products"].as_array().unwrap().len(), 2);
    assert_eq!(v["products"][1]["product_id"], "mug");
    let cs = c.checkout_started();
    assert_eq!(cs.name, "Checkout Started");
    let p = props(&cs);
    // 2 × 19.99 + 3 × 0.1 = 40.28, exactly (micro-units, no float drift).
    assert!(cs.properties.contains("\"value\":40.28,"), "{}", cs.properties);
    assert_eq!((p["currency"].as_str(), p["coupon"].as_str()), (Some("EUR"), Some("SUMMER")));
    let o = c.order_completed(&Order { order_id: "o-1", shipping: 4.9, tax: 0.0, discount: 5.0 }, T0 + 3.0).unwrap();
    assert_eq!(o.name, "Order Completed");
    let p = props(&o);
    assert_eq!(p["order_id"], "o-1");
    assert_eq!(p["cart_id"], "a-1");
    assert!(
        o.properties.contains("\"subtotal\":40.28,\"revenue\":35.28,\"total\":40.18,\"shipping\":4.9,\"tax\":0,\"discount\":5,"),
        "{}",
        o.properties
    );
    assert_eq!((p["coupon"].as_str(), p["currency"].as_str()), (Some("SUMMER"), Some("EUR")));
    assert_eq!(p["products"][0]["quantity"], 2);
    // The cart is empty, the order recorded, the coupon gone; the next write starts a new cart.
    assert!(c.is_empty());
    assert_eq!(c.coupon(), "");
    assert_eq!(c.cart_id(), "");
    let rec = c.orders();
    assert_eq!((rec.len(), rec[0].order_id.as_str(), rec[0].total_micros, rec[0].units), (1, "o-1", 40_180_000, 5));
    let p = props(&ev(c.add(&mug(), 1, T0 + 4.0)));
    assert_ne!(p["cart_id"], "a-1");
    assert!(c.view().properties.starts_with("{\"cart_id\":\"a-"));
}

#[test]
fn coupon_is_last_writer_wins_and_remove_is_observed() {
    let mut a = Cart::new("a");
    a.add(&mug(), 1, T0).unwrap();
    let mut b = a.clone_as("b");
    a.apply_coupon("A10", T0 + 10.0).unwrap();
    b.apply_coupon("B20", T0 + 20.0).unwrap();
    let (ab, ba) = (joined(&a, &b), joined(&b, &a));
    assert_eq!((ab.coupon(), ba.coupon()), ("B20", "B20"));
    // Removal of what a replica saw: a concurrent apply elsewhere survives.
    let mut a2 = ab.clone_as("a");
    assert_eq!(a2.remove_coupon(T0 + 30.0).unwrap().name, "Coupon Removed");
    let mut b2 = ab.clone_as("b");
    b2.apply_coupon("C30", T0 + 25.0).unwrap();
    assert_eq!(joined(&a2, &b2).coupon(), "C30");
    assert_eq!(joined(&a2, &ab).coupon(), "");
}

impl Cart {
    /// The same state as another replica (a tab that loaded the stored cart).
    fn clone_as(&self, replica: &str) -> Cart {
        let mut c = self.clone();
        c.replica = sanitize_replica(replica);
        c
    }
}

#[test]
fn concurrent_adds_of_the_same_item_both_count() {
    let mut a = Cart::new("a");
    a.add(&shirt(), 1, T0).unwrap();
    let mut b = a.clone_as("b");
    a.add(&shirt(), 2, T0 + 5.0).unwrap();
    b.add(&shirt(), 3, T0 + 5.0).unwrap();
    assert_eq!(joined(&a, &b).quantity("sku-1", "M"), 6);
    assert_eq!(joined(&b, &a).quantity("sku-1", "M"), 6);
    // Two devices that each start a cart with the same product: both count too.
    let mut c = Cart::new("c");
    let mut d = Cart::new("d");
    c.add(&mug(), 1, T0).unwrap();
    d.add(&mug(), 1, T0 + 1.0).unwrap();
    assert_eq!(joined(&c, &d).quantity("mug", ""), 2);
    // The older cart's id wins.
    assert_eq!((joined(&c, &d).cart_id(), joined(&d, &c).cart_id()), ("c-1", "c-1"));
}

#[test]
fn a_removal_removes_what_the_remover_saw_only() {
    let mut a = Cart::new("a");
    a.add(&shirt(), 2, T0).unwrap();
    let mut b = a.clone_as("b");
    // b adds one more; a, not having seen it, removes the line.
    b.add(&shirt(), 1, T0 + 1.0).unwrap();
    a.remove("sku-1", "M", None, T0 + 2.0).unwrap();
    for m in [joined(&a, &b), joined(&b, &a)] {
        assert_eq!(m.quantity("sku-1", "M"), 1, "b's unseen add survives");
        let p = props(&m.view());
        assert_eq!(p["products"][0]["name"], "T-shirt", "with its description");
    }
    // Having seen it, the removal takes everything.
    let mut a2 = joined(&a, &b);
    a2.remove("sku-1", "M", None, T0 + 3.0).unwrap();
    assert!(joined(&a2, &b).is_empty());
    // The same for clear and checkout: a concurrent add survives.
    let mut c = Cart::new("c");
    c.add(&shirt(), 1, T0).unwrap();
    let mut d = c.clone_as("d");
    d.add(&mug(), 1, T0 + 1.0).unwrap();
    let removed = c.clear(T0 + 2.0);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].name, "Product Removed");
    assert_eq!(joined(&c, &d).items(), vec![("mug".into(), String::new(), 1)]);
    let mut e = c.clone_as("e");
    e.add(&shirt(), 4, T0 + 3.0).unwrap();
    let mut f = e.clone_as("f");
    e.order_completed(&Order { order_id: "o", ..Order::default() }, T0 + 4.0).unwrap();
    f.add(&mug(), 1, T0 + 4.0).unwrap();
    let m = joined(&e, &f);
    assert_eq!(m.items(), vec![("mug".into(), String::new(), 1)]);
    assert_eq!(m.orders().len(), 1);
}

#[test]
fn concurrent_partial_removals_both_count_and_never_go_negative() {
    let mut a = Cart::new("a");
    a.add(&shirt(), 3, T0).unwrap();
    let mut b = a.clone_as("b");
    a.remove("sku-1", "M", Some(2), T0 + 1.0).unwrap();
    b.remove("sku-1", "M", Some(2), T0 + 1.0).unwrap();
    let mut m = joined(&a, &b);
    assert_eq!(m.quantity("sku-1", "M"), 0, "3 - 2 - 2 is shown as no line");
    assert!(m.is_empty());
    // Adding again starts from what the shopper sees (nothing), not from -1.
    m.add(&shirt(), 1, T0 + 2.0).unwrap();
    assert_eq!(m.quantity("sku-1", "M"), 1);
}

#[test]
fn set_quantity_is_last_writer_wins_by_timestamp_then_replica() {
    let mut a = Cart::new("a");
    a.add(&shirt(), 1, T0).unwrap();
    let mut b = a.clone_as("b");
    a.set_quantity("sku-1", "M", 5, T0 + 10.0).unwrap();
    b.set_quantity("sku-1", "M", 3, T0 + 20.0).unwrap();
    assert_eq!(joined(&a, &b).quantity("sku-1", "M"), 3);
    assert_eq!(joined(&b, &a).quantity("sku-1", "M"), 3);
    // Same timestamp: the larger replica id wins.
    let mut c = a.clone_as("c");
    let mut d = a.clone_as("d");
    let t = T0 + 100.0;
    c.set_quantity("sku-1", "M", 7, t).unwrap();
    d.set_quantity("sku-1", "M", 8, t).unwrap();
    assert_eq!(joined(&c, &d).quantity("sku-1", "M"), 8);
    // A set made after seeing another wins even with a clock behind (hybrid timestamps).
    let mut e = joined(&c, &d).clone_as("e");
    e.set_quantity("sku-1", "M", 2, T0).unwrap();
    assert_eq!(joined(&joined(&c, &d), &e).quantity("sku-1", "M"), 2);
    // An add the setter had not seen counts on top of the set.
    let mut f = e.clone_as("f");
    let mut g = e.clone_as("g");
    f.set_quantity("sku-1", "M", 10, T0 + 1000.0).unwrap();
    g.add(&shirt(), 1, T0 + 1000.0).unwrap();
    assert_eq!(joined(&f, &g).quantity("sku-1", "M"), 11);
}

#[test]
fn merge_emits_nothing_and_is_idempotent() {
    let mut a = Cart::new("a");
    a.add(&shirt(), 1, T0).unwrap();
    let mut b = Cart::new("b");
    assert!(b.merge(&a));
    assert!(!b.merge(&a), "nothing new");
    assert_eq!(b, a);
    // b's next event is its own and carries the merged cart id.
    let p = props(&ev(b.add(&mug(), 1, T0 + 1.0)));
    assert_eq!(p["cart_id"], "a-1");
}

#[test]
fn encode_decode_round_trip() {
    let mut c = Cart::new("tab\t1");
    assert_eq!(c.replica(), "tab_1");
    c.add(&Product { name: "Tab\tnew\nline \\ back", properties: r#"{"x":"a\tb"}"#, ..shirt() }, 2, T0).unwrap();
    c.add(&mug(), 1, T0 + 1.0).unwrap();
    c.remove("mug", "", Some(1), T0 + 2.0).unwrap();
    c.add(&mug(), 4, T0 + 3.0).unwrap();
    c.set_quantity("sku-1", "M", 3, T0 + 4.0).unwrap();
    c.apply_coupon("C", T0 + 5.0).unwrap();
    c.set_currency("USD", T0 + 6.0).unwrap();
    let mut other = Cart::new("other");
    other.add(&mug(), 1, T0 + 7.0).unwrap();
    c.merge(&other);
    let text = c.encode();
    assert!(text.starts_with("C1\t"));
    let d = Cart::decode(&text, "tab_1").unwrap();
    assert_eq!(d, c);
    assert_eq!(d.encode(), text);
    assert_eq!(d.snapshot_json(), c.snapshot_json());
    // The decoded replica goes on counting where it stopped: no dot is reused.
    let mut d2 = d.clone();
    d2.add(&mug(), 1, T0 + 8.0).unwrap();
    let mut c2 = c.clone();
    c2.merge(&d2);
    assert_eq!(c2.quantity("mug", ""), d2.quantity("mug", ""));
    let mut o = c.clone();
    o.order_completed(&Order { order_id: "o\t1", ..Order::default() }, T0 + 9.0).unwrap();
    assert_eq!(Cart::decode(&o.encode(), "x").unwrap(), o);
}

#[test]
fn decode_rejects_garbage_and_never_panics() {
    let mut c = Cart::new("a");
    c.add(&shirt(), 2, T0).unwrap();
    c.add(&mug(), 1, T0 + 1.0).unwrap();
    c.apply_coupon("X", T0 + 2.0).unwrap();
    c.order_completed(&Order { order_id: "o", ..Order::default() }, T0 + 3.0).unwrap();
    c.add(&mug(), 1, T0 + 4.0).unwrap();
    let good = c.encode();
    for bad in [
        "",
        "C1",
        "C2\t5",
        "C1\tx",
        "C1\t5\nv\ta\t1\t1\na\t0\t2\t1\tp\t\t1",
        "C1\t5\na\t0\t1\t1\tp\t\t1",
        "C1\t5\nv\ta\t1\t9",
        "\u{0}",
        "C1\t5\nv\ta\t1\t1\nm\t0\t1\t1\tp\t\tn\t1\t\t1\t[]",
    ] {
        assert!(Cart::decode(bad, "r").is_none(), "{bad:?}");
    }
    // Every truncation and every single-byte change: None or a well-formed cart, no panic.
    let bytes = good.as_bytes();
    let mut accepted = 0;
    for i in 0..bytes.len() {
        let _ = Cart::decode(good.get(..i).unwrap_or(""), "r");
        for sub in [b'\t', b'\n', b'\\', b'-', b'9', b'0', b'{', b'"', b'x', 0xff] {
            let mut v = bytes.to_vec();
            v[i] = sub;
            let s = String::from_utf8_lossy(&v);
            if let Some(d) = Cart::decode(&s, "r") {
                accepted += 1;
                assert_eq!(validate(&d.snapshot_json()), Some(Kind::Object));
                let mut m = c.clone();
                m.merge(&d);
                let _ = (m.view(), m.checkout_started(), m.encode());
            }
        }
    }
    assert!(accepted > 0);
    let huge = ["C1\t1\n", &"x".repeat(MAX_ENCODED_LEN)].concat();
    assert!(Cart::decode(&huge, "r").is_none());
}

#[test]
fn load_persist_and_storage_events() {
    let mut st = MemoryStorage::default();
    let (mut a, status) = Cart::load("ot1", "tab-a", &st);
    assert_eq!(status, LoadStatus::Absent);
    a.add(&shirt(), 1, T0).unwrap();
    a.persist(&mut st).unwrap();
    let stored = st.dump()["ot1.c1"].clone();
    assert_eq!(Cart::decode(&stored, "x").unwrap(), a);
    // A second tab loads it, adds, persists; the first learns through the storage event.
    let (mut b, status) = Cart::load("ot1", "tab-b", &st);
    assert_eq!(status, LoadStatus::Loaded);
    b.add(&mug(), 2, T0 + 1.0).unwrap();
    b.persist(&mut st).unwrap();
    let v = st.dump()["ot1.c1"].clone();
    assert_eq!(a.on_storage_change("ot1.c1", Some(&v)), Some(true));
    assert_eq!(a.on_storage_change("ot1.other", Some(&v)), None);
    assert_eq!(a.quantity("mug", ""), 2);
    assert_eq!(a, b);
    // Both write before seeing the other's write: persist merges what is stored.
    a.add(&shirt(), 1, T0 + 2.0).unwrap();
    b.remove("mug", "", Some(1), T0 + 2.0).unwrap();
    a.persist(&mut st).unwrap();
    b.persist(&mut st).unwrap();
    let (c, _) = Cart::load("ot1", "tab-c", &st);
    assert_eq!((c.quantity("sku-1", "M"), c.quantity("mug", "")), (2, 1));
    // Corrupt storage: reported, replaced by an empty cart on the next persist.
    st.plant("ot1.c1", "C1\tgarbage");
    let (mut d, status) = Cart::load("ot1", "tab-d", &st);
    assert_eq!(status, LoadStatus::Corrupt);
    assert!(d.is_empty());
    d.persist(&mut st).unwrap();
    assert!(Cart::decode(&st.dump()["ot1.c1"], "x").is_some());
    // A corrupt value from another tab is ignored.
    let before = d.clone();
    assert_eq!(d.on_storage_change("ot1.c1", Some("{not a cart")), Some(false));
    assert_eq!(d, before);
    // reset(): gone from memory and storage; another tab empties its cart too, and an old
    // copy merged later does not bring the lines back.
    d.add(&mug(), 1, T0 + 10.0).unwrap();
    d.persist(&mut st).unwrap();
    let (mut e, _) = Cart::load("ot1", "tab-e", &st);
    let old = e.clone();
    assert!(!e.is_empty());
    d.forget(&mut st);
    assert!(d.is_empty());
    assert!(!st.dump().contains_key("ot1.c1"));
    assert_eq!(e.on_storage_change("ot1.c1", None), Some(true));
    assert!(e.is_empty());
    d.merge(&old);
    assert!(d.is_empty());
    // The next write starts a new cart.
    let p = props(&ev(d.add(&mug(), 1, T0 + 11.0)));
    assert_ne!(p["cart_id"], old.cart_id());
}

#[test]
fn state_stays_bounded_under_local_operations() {
    let mut c = Cart::new("a");
    for i in 0..MAX_LINES {
        let id = ["p", &i.to_string()].concat();
        c.add(&Product { product_id: &id, ..mug() }, 1, T0).unwrap();
    }
    assert_eq!(c.add(&Product { product_id: "one-more", ..mug() }, 1, T0), Err(InputError::TooLarge));
    assert!(c.add(&Product { product_id: "p0", ..mug() }, 1, T0).unwrap().is_some(), "an existing line still grows");
    let mut c = Cart::new("a");
    for i in 0..1000 {
        c.add(&mug(), 2, T0 + f64::from(i)).unwrap();
        c.remove("mug", "", Some(1), T0 + f64::from(i)).unwrap();
    }
    assert_eq!(c.quantity("mug", ""), 1000);
    assert!(c.entry_count() <= MAX_QTY_ENTRIES + 3, "{}", c.entry_count());
    for i in 0..(MAX_ORDERS as u32 + 5) {
        c.add(&mug(), 1, T0 + 2000.0).unwrap();
        let id = ["o", &i.to_string()].concat();
        c.order_completed(&Order { order_id: &id, ..Order::default() }, T0 + 2000.0).unwrap();
    }
    assert_eq!(c.orders().len(), MAX_ORDERS);
    assert_eq!(c.orders().last().unwrap().order_id, "o9");
    // Many replicas that come and go: the version vector is capped.
    let mut shared = Cart::new("s");
    for i in 0..(MAX_REPLICAS * 3) {
        let mut tab = shared.clone_as(&["tab", &i.to_string()].concat());
        tab.add(&mug(), 1, T0 + 3000.0 + i as f64).unwrap();
        tab.remove("mug", "", None, T0 + 3000.0 + i as f64).unwrap();
        shared.merge(&tab);
    }
    assert!(shared.replica_count() <= MAX_REPLICAS);
}

#[test]
fn measurements() {
    // Not a benchmark: prints the numbers quoted in docs/cart-crdt.md (`--nocapture`).
    let mut a = Cart::new("3f2a9c1e");
    for i in 0..10 {
        let id = ["sku-", &i.to_string()].concat();
        let p = Product {
            product_id: &id,
            variant: "M",
            name: "Organic cotton T-shirt",
            price: 19.99,
            currency: "EUR",
            properties: r#"{"category":"Apparel","brand":"Omni"}"#,
        };
        a.add(&p, 1, T0 + f64::from(i)).unwrap();
    }
    let mut b = a.clone_as("7b41d0aa");
    for i in 0..10 {
        let id = ["sku-", &i.to_string()].concat();
        a.add(&Product { product_id: &id, variant: "M", ..Product::default() }, 1, T0 + 100.0).unwrap();
        b.set_quantity(&id, "M", 3, T0 + 100.0).unwrap();
    }
    let enc = a.encode();
    let start = std::time::Instant::now();
    let n = 1000;
    for _ in 0..n {
        let mut m = a.clone();
        m.merge(&b);
        std::hint::black_box(&m);
    }
    let merge_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(Cart::decode(&enc, "x"));
    }
    let decode_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    eprintln!(
        "10-item cart: {} bytes encoded, {} entries, snapshot {} bytes; clone+merge {merge_us:.1} µs; decode {decode_us:.1} µs",
        enc.len(),
        a.entry_count(),
        a.snapshot_json().len()
    );
    assert!(enc.len() < 4096);
    // The largest cart a replica creates: 100 lines, two replicas with concurrent edits.
    let mut a = Cart::new("3f2a9c1e");
    for i in 0..MAX_LINES {
        let id = ["sku-", &i.to_string()].concat();
        a.add(&Product { product_id: &id, name: "Organic cotton T-shirt", price: 19.99, ..Product::default() }, 1, T0).unwrap();
    }
    let mut b = a.clone_as("7b41d0aa");
    for i in 0..MAX_LINES {
        let id = ["sku-", &i.to_string()].concat();
        a.add(&Product { product_id: &id, ..Product::default() }, 1, T0 + 100.0).unwrap();
        b.set_quantity(&id, "", 3, T0 + 100.0).unwrap();
    }
    let start = std::time::Instant::now();
    for _ in 0..100 {
        let mut m = a.clone();
        m.merge(&b);
        std::hint::black_box(&m);
    }
    let merge_us = start.elapsed().as_secs_f64() * 1e6 / 100.0;
    let start = std::time::Instant::now();
    for _ in 0..100 {
        std::hint::black_box(a.add(&Product { product_id: "sku-50", ..Product::default() }, 1, T0 + 200.0).unwrap());
    }
    let add_us = start.elapsed().as_secs_f64() * 1e6 / 100.0;
    // What a tick renders for `cart.onChange` listeners (web/cart_runtime.rs: only when a
    // listener is registered).
    let start = std::time::Instant::now();
    for _ in 0..100 {
        std::hint::black_box(a.snapshot_json());
    }
    let snapshot_us = start.elapsed().as_secs_f64() * 1e6 / 100.0;
    eprintln!(
        "100-line cart: {} bytes encoded, {} entries; clone+merge {merge_us:.0} µs; add {add_us:.0} µs; snapshot {} bytes in {snapshot_us:.0} µs",
        a.encode().len(),
        a.entry_count(),
        a.snapshot_json().len()
    );
}

#[test]
fn two_writers_sharing_a_replica_id_still_merge_deterministically() {
    let mut base = Cart::new("dup");
    base.add(&mug(), 1, T0).unwrap();
    let (mut a, mut b) = (base.clone(), base.clone());
    // Both take the same next dot for different writes.
    a.add(&shirt(), 1, T0 + 1.0).unwrap();
    b.add(&Product { product_id: "other", ..mug() }, 2, T0 + 1.0).unwrap();
    let (ab, ba) = (joined(&a, &b), joined(&b, &a));
    assert_eq!(ab, ba);
    assert_eq!(joined(&ab, &a), ab);
    // After the merge the counter is past both: the next write takes a fresh dot.
    let mut c = ab.clone();
    c.add(&mug(), 1, T0 + 2.0).unwrap();
    assert_eq!(c.quantity("mug", ""), ab.quantity("mug", "") + 1);
}

/// An encoded state of `n` concurrent coupon entries written by replica `r` at times
/// `t0 + i` (no local operation makes that many; a hostile or broken replica can).
fn many_entries(r: &str, n: u64, t0: u64) -> String {
    let mut s = format!("C1\t{}\nv\t{r}\t{n}\t{}\n", t0 + n, t0 + n);
    for i in 1..=n {
        s.push_str(&format!("c\t0\t{i}\t{}\t{r}-{i}\n", t0 + i));
    }
    s
}

#[test]
fn a_merge_never_holds_more_entries_than_decode_accepts_and_replicas_agree_on_what_goes() {
    let n = MAX_ENTRIES as u64;
    let a = Cart::decode(&many_entries("a", n, 1_000), "x").expect("a full state decodes");
    let b = Cart::decode(&many_entries("b", n, 5_000), "y").expect("a full state decodes");
    let mut ab = a.clone();
    ab.merge(&b);
    let mut ba = b.clone();
    ba.merge(&a);
    assert_eq!(ab.entries.len(), MAX_ENTRIES);
    assert!(ab == ba, "both orders keep the same entries");
    assert_eq!(ab.encode(), ba.encode());
    let decoded = Cart::decode(&ab.encode(), "z").expect("the merged state still decodes");
    assert!(decoded == ab);
    // The oldest went: the newest MAX_ENTRIES of both by (ts, dot) stayed.
    let mut all: Vec<(u64, Dot)> = a.entries.iter().chain(b.entries.iter()).map(|(d, e)| (e.ts, d.clone())).collect();
    all.sort();
    let kept: Vec<(u64, Dot)> = ab.entries.iter().map(|(d, e)| (e.ts, d.clone())).collect();
    let mut expected = all.split_off(all.len() - MAX_ENTRIES);
    expected.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(kept, expected, "oldest dropped first");
    // What went stays gone: merging `a` again adds nothing back (its dots are seen).
    let mut again = ab.clone();
    assert!(!again.merge(&a));
    assert!(again == ab);
    // Associative with a third replica's small state.
    let c = Cart::decode(&many_entries("c", 3, 9_000_000), "w").unwrap();
    let mut left = ab.clone();
    left.merge(&c);
    let mut bc = b.clone();
    bc.merge(&c);
    let mut right = a.clone();
    right.merge(&bc);
    assert!(left == right, "(a ∪ b) ∪ c == a ∪ (b ∪ c) under the cap");
    assert_eq!(left.entries.len(), MAX_ENTRIES);
}

#[test]
fn ties_at_the_cut_off_time_go_in_dot_order() {
    let n = MAX_ENTRIES as u64;
    // Every entry of both states at the same time: the cut falls inside one timestamp.
    let same_time = |r: &str| {
        let mut s = format!("C1\t50\nv\t{r}\t{n}\t50\n");
        for i in 1..=n {
            s.push_str(&format!("c\t0\t{i}\t50\t{r}-{i}\n"));
        }
        s
    };
    let a = Cart::decode(&same_time("a"), "x").unwrap();
    let b = Cart::decode(&same_time("b"), "y").unwrap();
    let mut ab = a.clone();
    ab.merge(&b);
    let mut ba = b;
    ba.merge(&a);
    assert_eq!(ab.entries.len(), MAX_ENTRIES);
    assert!(ab == ba);
    assert!(ab.entries.iter().all(|(d, _)| d.r == "b"), "dots sort by replica: all of a's go first");
}
