//! The visitor component alone, with the fakes.

use super::*;
use crate::consent::{Collection, ConsentConfig, Signals};
use crate::identity::CookieConfig;
use crate::testing::{MemoryStorage, SeqIds};

fn setup() -> (Visitor, Store<MemoryStorage>, MemoryStorage, SeqIds) {
    let st = MemoryStorage::default();
    st.set_host("shop.example.com");
    let mut store = Store::new(st.clone(), "ot1", &ConsentConfig::default(), Signals::default());
    let mut ids = SeqIds::seeded(3);
    let cookie =
        CookieConfig { name: "ot_aid".to_owned(), domain: None, max_age_s: 86_400, host: "shop.example.com".to_owned(), disabled: false };
    let identity = Identity::load("ot1", cookie, &mut store.scope(Category::Collection), &mut ids);
    let session = Session::load("ot1", 1_800_000.0, store.read());
    (Visitor::new(identity, session, "A", true), store, st, ids)
}

#[test]
fn a_session_start_is_announced_and_asks_for_the_cookie_refresh() {
    let (mut v, _, _, _) = setup();
    let m = v.begin(1_000.0);
    assert!(m.start && v.session_started && v.refresh_due);
    v.refresh_due = false;
    assert!(!v.begin(2_000.0).start);
    assert!(!v.refresh_due, "once per session");
}

#[test]
fn persists_its_keys_and_forgets_them_when_consent_is_revoked() {
    let (mut v, mut store, st, mut ids) = setup();
    v.begin(1_000.0);
    Component::<MemoryStorage>::persist(&mut v, &mut store.scope(Category::Collection), 1_000.0);
    assert!(st.get("ot1.sess").is_some());
    let aid = v.identity.anonymous_id.clone();
    assert_eq!(st.get("ot1.aid").as_deref(), Some(aid.as_str()));
    let change = ConsentChange { before: Collection::Allowed, now: Collection::Denied, keep_last: false };
    v.on_consent(change, &mut store, &mut ids, 2_000.0);
    assert!(st.get("ot1.sess").is_none() && st.get("ot1.aid").is_none());
    assert_ne!(v.identity.anonymous_id, aid, "a new visitor in memory");
}

#[test]
fn another_tabs_session_is_merged() {
    let (mut v, mut store, _, _) = setup();
    v.begin(1_000.0);
    assert!(v.on_storage_change("ot1.sess", Some("5000 6000"), &mut store, 6_000.0));
    assert_eq!(v.session.id, 5_000.0);
    assert!(!v.on_storage_change("ot1.other", Some("x"), &mut store, 6_000.0));
}
