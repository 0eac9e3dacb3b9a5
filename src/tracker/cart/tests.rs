use super::*;
use crate::cart_sync::SyncOutcome;
use crate::consent::Mode;
use crate::testing::{ManualClock, MemoryStorage, SeqIds};

type T = Tracker<MemoryStorage, ManualClock, SeqIds>;
const O: CallOptions<'static> = CallOptions { timestamp_ms: None, context: None, integrations: None };

fn cfg() -> Config {
    Config::new("wk", "http://127.0.0.1:9").validated().unwrap()
}

fn tab_with(c: Config, st: &MemoryStorage, clock: &ManualClock, name: &str, seed: u8) -> T {
    let mut t = Tracker::new(c, st.clone(), clock.clone(), SeqIds::seeded(seed), name, Environment::default());
    t.become_leader();
    t
}

fn tab(st: &MemoryStorage, clock: &ManualClock, name: &str, seed: u8) -> T {
    tab_with(cfg(), st, clock, name, seed)
}

/// The track events queued so far (sent in one batch), as (event, properties).
fn events(t: &mut T) -> Vec<(String, serde_json::Value)> {
    t.flush();
    let Some(s) = t.poll() else { return Vec::new() };
    t.on_response(s.batch_id, 200, None, None);
    let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    v["batch"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "track")
        .map(|m| (m["event"].as_str().unwrap().to_owned(), m["properties"].clone()))
        .collect()
}

const SHIRT: &str = r#"{"product_id":"sku-1","variant":"M","name":"Shirt","price":19.99,"currency":"EUR","sku":"S-1","category":"Tops","url":"https://shop.test/p/1"}"#;

#[test]
fn add_emits_the_spec_event_and_keeps_the_product_properties() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    t.cart_add(SHIRT, Some(2.0), &O).unwrap();
    t.cart_add(r#"{"product_id":42,"quantity":3,"price":5}"#, None, &O).unwrap();
    assert_eq!(t.cart().quantity("sku-1", "M"), 2);
    assert_eq!(t.cart().quantity("42", ""), 3, "numeric ids and product.quantity");
    let ev = events(&mut t);
    assert_eq!(ev.len(), 2);
    let (name, p) = &ev[0];
    assert_eq!(name, "Product Added");
    assert_eq!(p["product_id"], "sku-1");
    assert_eq!(p["variant"], "M");
    assert_eq!(p["quantity"], 2);
    assert_eq!(p["price"], 19.99);
    assert_eq!(p["sku"], "S-1");
    assert_eq!(p["category"], "Tops");
    assert!(p["cart_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(t.take_cart_changes(), CartChanges { local: true, ..CartChanges::default() });
    assert_eq!(t.take_cart_changes(), CartChanges::default(), "taken");
}

#[test]
fn bad_arguments_are_specific_errors_and_change_nothing() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    let cases: [(&str, Option<f64>, InputError); 6] = [
        ("[1]", None, InputError::NotAnObject("cart.add(): product")),
        (r#"{"name":"x"}"#, None, InputError::MissingName("cart.add(): product.product_id")),
        (r#"{"product_id":""}"#, None, InputError::MissingName("cart.add(): product.product_id")),
        (r#"{"product_id":"a"}"#, Some(1.5), InputError::InvalidNumber("cart.add(): quantity")),
        (r#"{"product_id":"a","quantity":"2"}"#, None, InputError::InvalidNumber("cart.add(): product.quantity")),
        (r#"{"product_id":"a","price":-1}"#, None, InputError::InvalidNumber("cart.add(): product.price")),
    ];
    for (product, q, err) in cases {
        assert_eq!(t.cart_add(product, q, &O), Err(err), "{product}");
    }
    assert_eq!(t.cart_remove(r#"{"product_id":"a"}"#, Some(-1.0), &O), Err(InputError::InvalidNumber("cart.remove(): quantity")));
    assert_eq!(t.cart_set_quantity(r#"{"product_id":"a"}"#, f64::NAN, &O), Err(InputError::InvalidNumber("cart.setQuantity(): quantity")));
    assert_eq!(t.cart_order_completed(r#"{"total":1}"#, &O), Err(InputError::MissingName("order_id")));
    assert_eq!(
        t.cart_order_completed(r#"{"order_id":"o","tax":-2}"#, &O),
        Err(InputError::InvalidNumber("cart.orderCompleted(): amounts"))
    );
    assert_eq!(t.cart_connect("tok"), Err(InputError::NotIdentified("cart.connect()")));
    assert!(t.cart().is_empty());
    assert_eq!(t.take_cart_changes(), CartChanges::default());
    assert!(events(&mut t).is_empty());
}

#[test]
fn remove_set_quantity_coupon_checkout_and_order() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    t.cart_add(SHIRT, Some(3.0), &O).unwrap();
    t.cart_remove(r#"{"product_id":"sku-1","variant":"M"}"#, Some(1.0), &O).unwrap();
    t.cart_set_quantity(r#"{"product_id":"sku-1","variant":"M"}"#, 5.0, &O).unwrap();
    t.cart_apply_coupon("SPRING", &O).unwrap();
    t.cart_update(r#"{"product_id":"sku-1","variant":"M"}"#, r#"{"gift":true}"#).unwrap();
    t.cart_view(None, &O).unwrap();
    t.cart_checkout(Some(r#"{"checkout_id":"c-1","value":-1}"#), &O).unwrap();
    t.cart_order_completed(r#"{"order_id":"o-1","shipping":4.5,"tax":2,"discount":1,"affiliation":"web"}"#, &O).unwrap();
    assert!(t.cart().is_empty(), "an order empties the cart");
    t.cart_remove(r#"{"product_id":"nope"}"#, None, &O).unwrap();
    let ev = events(&mut t);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Product Added", "Product Removed", "Product Added", "Coupon Applied", "Cart Viewed", "Checkout Started", "Order Completed"]
    );
    assert_eq!(ev[1].1["quantity"], 1);
    assert_eq!(ev[2].1["quantity"], 3, "set 2 → 5 adds 3");
    assert_eq!(ev[4].1["products"][0]["gift"], true, "update kept with the line");
    assert_eq!(ev[5].1["checkout_id"], "c-1", "extra members added");
    assert_eq!(ev[5].1["value"], 99.95, "computed members win over extras");
    let order = &ev[6].1;
    assert_eq!(order["order_id"], "o-1");
    assert_eq!(order["revenue"], 98.95);
    assert_eq!(order["total"], 105.45);
    assert_eq!(order["coupon"], "SPRING");
    assert_eq!(order["affiliation"], "web");
    assert_eq!(order["products"][0]["quantity"], 5);
}

#[test]
fn an_order_reads_its_amounts_and_keeps_other_members_even_a_variant() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    t.cart_add(SHIRT, Some(1.0), &O).unwrap();
    assert_eq!(t.cart_order_completed(r#"{"order_id":{}}"#, &O), Err(InputError::MissingName("cart.orderCompleted(): order_id")));
    assert_eq!(t.cart_order_completed(r#"{"order_id":""}"#, &O), Err(InputError::MissingName("order_id")));
    assert_eq!(
        t.cart_order_completed(r#"{"order_id":"o","shipping":"1"}"#, &O),
        Err(InputError::InvalidNumber("cart.orderCompleted(): amounts"))
    );
    t.cart_order_completed(r#"{"order_id":7,"shipping":null,"tax":1,"variant":5,"product_id":"x"}"#, &O).unwrap();
    let ev = events(&mut t);
    let order = &ev.last().unwrap().1;
    assert_eq!(order["order_id"], "7");
    assert_eq!((order["shipping"].as_f64(), order["tax"].as_f64()), (Some(0.0), Some(1.0)));
    assert_eq!((&order["variant"], &order["product_id"]), (&serde_json::json!(5), &serde_json::json!("x")), "not a line's members here");
}

#[test]
fn tabs_share_the_cart_without_repeating_events() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut a = tab(&st, &clock, "A", 1);
    let mut b = tab(&st, &clock, "B", 2);
    a.cart_add(SHIRT, None, &O).unwrap();
    b.cart_add(SHIRT, None, &O).unwrap(); // concurrent: both count
    a.persist();
    b.persist();
    assert!(b.take_cart_changes().tab, "b's persist merged a's write");
    let stored = st.dump()["ot1.c1"].clone();
    a.on_storage_change("ot1.c1", Some(&stored));
    assert_eq!(a.cart().quantity("sku-1", "M"), 2);
    assert_eq!(b.cart().quantity("sku-1", "M"), 2);
    let ch = a.take_cart_changes();
    assert!(ch.tab && ch.local);
    // BroadcastChannel: the same state merged twice changes nothing the second time.
    let state = b.cart_state();
    let mut c = tab(&st, &clock, "C", 3);
    assert_eq!(c.cart_merge_remote(&state, CartSource::Tab), Some(false), "c loaded it from storage");
    assert_eq!(c.cart_merge_remote("garbage", CartSource::Tab), None);
    let added: Vec<String> = events(&mut a).into_iter().map(|e| e.0).collect();
    assert_eq!(added, ["Product Added"], "a emitted only its own add");
    // A new page load (browser restart) finds the cart.
    let d = tab(&st, &clock, "D", 4);
    assert_eq!(d.cart().quantity("sku-1", "M"), 2);
}

#[test]
fn corrupt_stored_cart_is_reported_once_and_replaced() {
    let st = MemoryStorage::default();
    st.plant("ot1.c1", "C1\tnot a cart");
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    assert!(t.take_cart_corrupt());
    assert!(!t.take_cart_corrupt());
    t.persist();
    assert!(crate::cart::Cart::decode(&st.dump()["ot1.c1"], "x").is_some_and(|c| c.is_empty()));
}

#[test]
fn the_cart_is_necessary_by_default_and_follows_its_category_otherwise() {
    // Opt-in, nothing decided: the cart is stored (necessary), its events wait for consent.
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut c = cfg();
    c.consent.mode = Mode::OptIn;
    let mut t = tab_with(c.clone(), &st, &clock, "A", 1);
    t.cart_add(SHIRT, None, &O).unwrap();
    t.persist();
    assert_eq!(st.dump().keys().collect::<Vec<_>>(), ["ot1.c1"], "only the cart");
    assert_eq!(t.poll(), None, "its event waits for consent");
    // Granting then revoking analytics keeps the cart.
    t.set_consent(&[("analytics".into(), true)]);
    t.persist();
    t.set_consent(&[("analytics".into(), false)]);
    assert!(st.dump().contains_key("ot1.c1"));
    assert!(!t.cart().is_empty());

    // Category `marketing`: not stored before it is granted; forgotten when withdrawn.
    let st = MemoryStorage::default();
    c.cart.category = "marketing".into();
    c.consent.categories.push("marketing".into());
    let mut t = tab_with(c, &st, &clock, "B", 2);
    t.cart_add(SHIRT, None, &O).unwrap();
    t.persist();
    assert!(st.dump().is_empty());
    t.set_consent(&[("marketing".into(), true)]);
    t.persist();
    assert!(st.dump().contains_key("ot1.c1"), "stored once allowed");
    t.set_consent(&[("marketing".into(), false)]);
    assert!(!st.dump().contains_key("ot1.c1"));
    assert!(t.cart().is_empty());
}

fn signed_in(st: &MemoryStorage, clock: &ManualClock) -> T {
    let mut t = tab(st, clock, "A", 1);
    t.identify(Some("user 1"), None, &O).unwrap();
    t
}

#[test]
fn reset_and_another_user_forget_the_cart_but_login_and_alias_keep_it() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    t.cart_add(SHIRT, None, &O).unwrap();
    t.identify(Some("user-1"), None, &O).unwrap();
    assert!(!t.cart().is_empty(), "a guest cart survives login");
    t.alias("user-1b", None, &O).unwrap();
    assert!(!t.cart().is_empty(), "alias: the same customer");
    t.identify(Some("user-2"), None, &O).unwrap();
    assert!(t.cart().is_empty(), "another customer's cart does not carry over");
    t.cart_add(SHIRT, None, &O).unwrap();
    t.persist();
    t.take_cart_changes();
    t.reset();
    assert!(t.cart().is_empty());
    assert!(!st.dump().contains_key("ot1.c1"));
    assert!(t.take_cart_changes().local, "the page re-renders after a reset");
}

#[test]
fn connect_syncs_the_guest_cart_and_merges_the_answer() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    t.cart_add(SHIRT, None, &O).unwrap();
    t.identify(Some("user 1"), None, &O).unwrap();
    t.cart_connect("t0k3n").unwrap();
    assert_eq!(st.dump()["ot1.cs"], "user 1\tt0k3n");
    let req = t.cart_poll().expect("due at once");
    assert_eq!(req.url, "http://127.0.0.1:9/v1/cart/user%201?writeKey=wk");
    assert_eq!(req.token, "t0k3n");
    assert_eq!(req.body, t.cart_state(), "the guest cart goes up");
    // The collector answers the union with another device's line.
    let mut other = crate::cart::Cart::new("phone");
    other.merge_encoded(&req.body);
    other.add(&crate::cart::Product { product_id: "mug", price: 8.0, ..Default::default() }, 1, 1_000_500.0).unwrap();
    let mut answer = String::from("{\"state\":");
    json::push_str(&mut answer, &other.encode());
    answer.push('}');
    t.take_cart_changes();
    assert!(matches!(t.on_cart_response(req.id, 200, None, Some(&answer)), SyncOutcome::Merged(_)));
    assert_eq!((t.cart().quantity("sku-1", "M"), t.cart().quantity("mug", "")), (1, 1));
    assert_eq!(t.take_cart_changes(), CartChanges { device: true, ..CartChanges::default() });
    let names: Vec<String> = events(&mut t).into_iter().map(|e| e.0).collect();
    assert_eq!(names.iter().filter(|n| *n == "Product Added").count(), 1, "the remote add is not re-emitted");
    assert_eq!(t.stats().cart_sync.merged, 1);

    // A later page load of the same user resumes syncing; another user's page does not.
    let mut again = signed_in(&st, &clock);
    assert!(again.cart_poll().is_some(), "credentials loaded");
    let mut refused = signed_in(&st, &clock);
    let r = refused.cart_poll().unwrap();
    assert_eq!(refused.on_cart_response(r.id, 403, None, None), SyncOutcome::Refused(403));
    assert!(!st.dump().contains_key("ot1.cs"), "a refused token is dropped");
    let mut other_user = tab(&st, &clock, "Z", 9);
    other_user.identify(Some("user 2"), None, &O).unwrap();
    assert!(other_user.cart_poll().is_none());
}

#[test]
fn changes_from_the_app_are_pushed_to_the_collector_and_local_ones_debounced() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = signed_in(&st, &clock);
    t.cart_connect("tok").unwrap();
    let r = t.cart_poll().unwrap();
    t.on_cart_response(r.id, 200, None, Some("{\"state\":\"C1\\t0\\n\"}"));
    let mut app = crate::cart::Cart::new("ios");
    app.add(&crate::cart::Product { product_id: "mug", ..Default::default() }, 2, 1_000_100.0).unwrap();
    assert_eq!(t.cart_merge_remote(&app.encode(), CartSource::App), Some(true));
    assert!(t.take_cart_changes().app);
    assert!(t.cart_poll().is_none(), "debounced");
    assert_eq!(t.next_wake(), Some(1_001_000.0));
    clock.advance(1_000.0);
    let push = t.cart_poll().expect("the app's change goes up");
    assert!(push.body.contains("mug"));
    assert!(events(&mut t).iter().all(|(n, _)| n != "Product Added"), "no event for the app's add");
}
