//! The cart component alone, with the fakes.

use super::*;
use crate::cart::Product;
use crate::consent::{Collection, Mode, Signals};
use crate::testing::{MemoryStorage, SeqIds};

fn setup(category: &str) -> (CartComponent, Store<MemoryStorage>, MemoryStorage) {
    let mut cfg = Config::new("wk", "http://127.0.0.1:9");
    cfg.consent.mode = Mode::OptIn;
    cfg.cart.category = category.to_owned();
    let cfg = cfg.validated().unwrap();
    let st = MemoryStorage::default();
    let store = Store::new(st.clone(), &cfg.storage_prefix, &cfg.consent, Signals::default());
    (CartComponent::new(&cfg, "A", &store), store, st)
}

fn add(c: &mut CartComponent) {
    let p = Product { product_id: "p1", variant: "", name: "", price: 5.0, currency: "", properties: "" };
    c.state.add(&p, 1, 1_000.0).unwrap();
    c.local_change(1_000.0);
}

fn creds() -> Credentials {
    Credentials { user_id: "u1".to_owned(), token: "tok".to_owned() }
}

fn persist(c: &mut CartComponent, store: &mut Store<MemoryStorage>) {
    if store.allows(Component::<MemoryStorage>::category(c)) {
        Component::<MemoryStorage>::persist(c, &mut store.scope(Category::Named("necessary")), 1_000.0);
    }
}

#[test]
fn a_necessary_cart_is_stored_before_any_consent_decision() {
    let (mut c, mut store, st) = setup("necessary");
    add(&mut c);
    persist(&mut c, &mut store);
    c.connect(creds(), &mut store, 1_000.0);
    assert!(st.get("ot1.c1").is_some() && st.get("ot1.cs").is_some());
    assert!(Component::<MemoryStorage>::owns_key(&c, "ot1.c1") && Component::<MemoryStorage>::owns_key(&c, "ot1.cs"));
}

#[test]
fn a_marketing_cart_writes_nothing_until_granted_and_is_forgotten_when_withdrawn() {
    let (mut c, mut store, st) = setup("marketing");
    add(&mut c);
    assert!(!c.allowed(&store));
    c.connect(creds(), &mut store, 1_000.0);
    assert!(st.dump().is_empty(), "{:?}", st.dump());
    store.set_consent(&[("marketing".to_owned(), true)]);
    let change = ConsentChange { before: Collection::Pending, now: Collection::Denied, keep_last: false };
    c.on_consent(change, &mut store, &mut SeqIds::default(), 1_000.0);
    let mut h = store.scope(Component::<MemoryStorage>::category(&c));
    Component::<MemoryStorage>::persist(&mut c, &mut h, 1_000.0);
    c.connect(creds(), &mut store, 1_000.0);
    assert!(st.get("ot1.c1").is_some() && st.get("ot1.cs").is_some());
    store.set_consent(&[("marketing".to_owned(), false)]);
    c.on_consent(change, &mut store, &mut SeqIds::default(), 2_000.0);
    assert!(st.get("ot1.c1").is_none() && st.get("ot1.cs").is_none());
    assert!(c.state.is_empty() && c.changes.local);
}

#[test]
fn another_users_sign_in_forgets_the_cart_but_a_guest_cart_carries_over() {
    let (mut c, mut store, _) = setup("necessary");
    add(&mut c);
    c.after_user_change(None, Some("u1"), false, &mut store);
    assert!(!c.state.is_empty(), "guest → customer keeps the cart");
    c.after_user_change(Some("u1"), Some("u2"), false, &mut store);
    assert!(c.state.is_empty(), "another customer's cart does not carry over");
}

#[test]
fn credentials_written_by_another_tab_count_only_for_the_same_user() {
    let (mut c, _, _) = setup("necessary");
    let v = creds().encode();
    assert!(c.on_credentials_change("ot1.cs", Some(&v), Some("u2"), 1_000.0));
    assert!(c.sync.credentials().is_none());
    assert!(c.on_credentials_change("ot1.cs", Some(&v), Some("u1"), 1_000.0));
    assert_eq!(c.sync.credentials(), Some(&creds()));
    assert!(!c.on_credentials_change("ot1.other", None, Some("u1"), 1_000.0));
}
