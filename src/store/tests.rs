//! Consent by construction: a handle writes only while its category is allowed, and every
//! component, given the handle of its category, writes nothing while that category is not
//! allowed (opt-in before the decision, or a category the visitor denied).

use super::*;
use crate::cart::{Cart, Product};
use crate::consent::Mode;
use crate::identity::{CookieConfig, Identity};
use crate::journey::{AttributionConfig, Journey, PageView};
use crate::lease::Lease;
use crate::outbox::Outbox;
use crate::session::Session;
use crate::testing::{MemoryStorage, SeqIds};

const P: &str = "ot1";

fn opt_in() -> ConsentConfig {
    ConsentConfig { mode: Mode::OptIn, ..ConsentConfig::default() }
}

/// A store before the visitor decided (opt-in): only `necessary` is allowed.
fn pending() -> (Store<MemoryStorage>, MemoryStorage) {
    let st = MemoryStorage::default();
    st.set_host("shop.example.com");
    (Store::new(st.clone(), P, &opt_in(), Signals::default()), st)
}

fn assert_untouched(st: &MemoryStorage) {
    assert!(st.dump().is_empty(), "stored: {:?}", st.dump());
    assert!(st.cookies().is_empty(), "cookies: {:?}", st.cookies());
}

#[test]
fn a_handle_writes_only_while_its_category_is_allowed() {
    let (mut store, st) = pending();
    assert!(!store.allows(Category::Collection));
    assert!(!store.allows(Category::Named("marketing")));
    assert!(store.allows(Category::Necessary));
    let spec = CookieSpec { domain: None, max_age_s: 60 };
    for cat in [Category::Collection, Category::Named("marketing"), Category::Named("analytics")] {
        let mut h = store.scope(cat);
        assert!(!h.allowed());
        assert_eq!(h.set("ot1.x", "1"), Err(StorageError::Unavailable));
        assert!(!h.set_cookie("c", "v", &spec));
    }
    assert_untouched(&st);
    // The gate follows the consent state: nothing to open by hand.
    assert!(store.set_consent(&[("analytics".to_owned(), true)]));
    assert!(store.allows(Category::Collection));
    assert!(!store.allows(Category::Named("marketing")));
    assert!(store.scope(Category::Collection).set("ot1.x", "1").is_ok());
    assert_eq!(store.scope(Category::Named("marketing")).set("ot1.m", "1"), Err(StorageError::Unavailable));
    assert!(store.set_consent(&[("analytics".to_owned(), false)]));
    store.scope(Category::Collection).remove("ot1.x");
    assert_eq!(st.get("ot1.x").as_deref(), Some("1"), "a closed handle removes nothing either");
}

#[test]
fn the_consent_record_is_necessary_and_the_only_write_before_a_decision() {
    let (mut store, st) = pending();
    store.set_consent(&[("marketing".to_owned(), false)]);
    assert_eq!(st.dump().keys().cloned().collect::<Vec<_>>(), vec!["ot1.consent".to_owned()]);
}

#[test]
fn the_eraser_deletes_and_never_writes() {
    let (mut store, st) = pending();
    st.plant("ot1.a", "1");
    let mut e = store.eraser();
    assert_eq!(e.set("ot1.b", "1"), Err(StorageError::Unavailable));
    assert!(!e.set_cookie("c", "v", &CookieSpec { domain: None, max_age_s: 60 }));
    e.remove("ot1.a");
    assert_untouched(&st);
}

#[test]
fn identity_writes_nothing_without_collection() {
    let (mut store, st) = pending();
    let mut ids = SeqIds::seeded(1);
    let cookie =
        CookieConfig { name: "ot_aid".to_owned(), domain: None, max_age_s: 86_400, host: "shop.example.com".to_owned(), disabled: false };
    let mut id = Identity::load(P, cookie, &mut store.scope(Category::Collection), &mut ids);
    let mut h = store.scope(Category::Collection);
    id.identify(Some("u1"), "{\"a\":1}", &mut h, &mut ids);
    id.group("g1", &mut h);
    id.alias("u2", &mut h);
    id.set_anonymous_id("aid-2", &mut h);
    id.refresh_cookie();
    id.store(&mut h);
    id.persist(&mut h, "A");
    assert_untouched(&st);
}

#[test]
fn session_writes_nothing_without_collection() {
    let (mut store, st) = pending();
    let mut s = Session::load(P, 1_800_000.0, store.read());
    s.touch(1_000.0);
    s.persist(&mut store.scope(Category::Collection));
    assert_untouched(&st);
}

#[test]
fn journey_writes_nothing_without_collection() {
    let (mut store, st) = pending();
    let cfg = crate::Config::new("wk", "http://127.0.0.1:9");
    let attribution = AttributionConfig {
        classifier: crate::channel::Classifier::new(cfg.channels.clone()),
        redact_params: Vec::new(),
        max_touches: 5,
        conversion_events: Vec::new(),
    };
    let mut j = Journey::load(P, 5, store.read());
    let pv = PageView {
        url: "https://shop.example.com/?utm_source=news&utm_medium=email",
        referrer: "",
        at_ms: 1_000.0,
        session_id: 1_000.0,
        session_start: true,
    };
    assert!(j.on_page_view(&attribution, &pv).recorded);
    assert!(j.persist(&mut store.scope(Category::Collection)).is_err());
    assert_untouched(&st);
}

#[test]
fn outbox_and_lease_write_nothing_without_collection() {
    let (mut store, st) = pending();
    let mut q = Outbox::new(P, "A", 1 << 20, 1 << 20);
    q.push("{\"type\":\"track\"}".to_owned(), 1_000.0);
    let mut h = store.scope(Category::Collection);
    assert!(q.persist_now(&mut h, 1_000.0).is_err());
    let mut lease = Lease::new(P, "A");
    lease.tick(&mut h, 1_000.0);
    lease.tick(&mut h, 2_000.0);
    assert_untouched(&st);
}

#[test]
fn cart_writes_nothing_where_its_category_is_not_granted() {
    let (mut store, st) = pending();
    let (mut cart, _) = Cart::load(P, "A", store.read());
    let p = Product { product_id: "p1", variant: "", name: "Shoe", price: 10.0, currency: "EUR", properties: "" };
    cart.add(&p, 1, 1_000.0).unwrap();
    assert!(cart.persist(&mut store.scope(Category::Named("marketing"))).is_err());
    assert_untouched(&st);
    // Its default category, `necessary`, is always granted.
    assert_eq!(cart.persist(&mut store.scope(Category::Necessary)), Ok(false));
    assert!(st.get("ot1.c1").is_some());
}

/// Through the tracker: every component's write path (identity, session, journey, outbox,
/// cart and its sync credentials) with collection pending and the cart's category denied.
#[test]
fn no_component_writes_through_the_tracker_before_consent() {
    use crate::message::{Environment, PageContext};
    use crate::testing::ManualClock;
    use crate::tracker::{CallOptions, Tracker};
    let st = MemoryStorage::default();
    let mut cfg = crate::Config::new("wk", "http://127.0.0.1:9");
    cfg.consent = opt_in();
    cfg.cart.category = "marketing".to_owned();
    let cfg = cfg.validated().unwrap();
    let env = Environment { host: "shop.example.com".to_owned(), ..Environment::default() };
    let mut t = Tracker::new(cfg, st.clone(), ManualClock::at(1_000_000.0), SeqIds::seeded(1), "A", env);
    let o = CallOptions::default();
    t.set_page(PageContext { url: "https://shop.example.com/?utm_source=a&utm_medium=email".to_owned(), ..PageContext::default() });
    t.page_view(None, None, None, &o).unwrap();
    t.identify(Some("u1"), Some("{\"a\":1}"), &o).unwrap();
    t.group("g", None, &o).unwrap();
    t.track("E", None, &o).unwrap();
    // The small core (no `cart` feature) has no cart calls; the rest holds for it too.
    #[cfg(feature = "cart")]
    {
        t.cart_add("{\"product_id\":\"p1\",\"price\":3}", None, &o).unwrap();
        t.cart_connect("tok").unwrap();
    }
    t.adopt_native(Some("aid-native-1"), Some("u1"));
    t.become_leader();
    t.persist();
    let _ = t.poll();
    let _ = t.on_hidden(true);
    t.reset();
    t.persist();
    assert_untouched(&st);
}
