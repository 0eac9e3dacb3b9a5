//! The attribution component alone, with the fakes.

use super::*;
use crate::consent::{Collection, ConsentConfig, Signals};
use crate::testing::{MemoryStorage, SeqIds};

fn setup() -> (Attribution, Store<MemoryStorage>, MemoryStorage) {
    let cfg = Config::new("wk", "http://127.0.0.1:9").validated().unwrap();
    let st = MemoryStorage::default();
    let store = Store::new(st.clone(), "ot1", &ConsentConfig::default(), Signals::default());
    let journey = Journey::load("ot1", cfg.max_touches, store.read());
    (Attribution::new(&cfg, journey), store, st)
}

fn page(url: &str) -> PageContext {
    PageContext { url: url.to_owned(), ..PageContext::default() }
}

const START: Mark = Mark { id: 1_000.0, start: true };

#[test]
fn a_campaign_page_view_records_a_touch_and_renders_the_members() {
    let (mut a, _, _) = setup();
    let p = page("https://shop.example.com/?utm_source=news&utm_medium=email&token=secret");
    let clean = a.redacted(&p);
    assert!(!clean.url.contains("secret"), "redacted: {}", clean.url);
    a.set_page(p, Some(&clean.url));
    assert!(a.take_auto_page(), "the load's page view is due");
    assert!(!a.take_auto_page(), "once");
    a.on_page_view(1_000.0, START);
    let m = a.members(None);
    assert!(m.starts_with(",\"campaign\":{") && m.contains("\"omnitrail\":{"), "{m}");
    assert_eq!(a.journey.total(), 1);
}

#[test]
fn route_changes_are_deduplicated_and_carry_the_previous_url_as_referrer() {
    let (mut a, _, _) = setup();
    a.set_page(page("https://shop.example.com/a"), None);
    assert_eq!(a.route_change("https://shop.example.com/a#x"), None, "same URL without the fragment");
    assert_eq!(a.route_change("https://shop.example.com/b").as_deref(), Some("https://shop.example.com/a"));
}

#[test]
fn the_journey_is_stored_and_erased_when_consent_is_revoked() {
    let (mut a, mut store, st) = setup();
    let p = page("https://shop.example.com/?utm_source=news&utm_medium=email");
    let url = a.redacted(&p).url;
    a.set_page(p, Some(&url));
    a.on_page_view(1_000.0, START);
    Component::<MemoryStorage>::persist(&mut a, &mut store.scope(Category::Collection), 1_000.0);
    let key = crate::journey::storage_key("ot1");
    assert!(st.get(&key).is_some());
    let change = ConsentChange { before: Collection::Allowed, now: Collection::Denied, keep_last: false };
    a.on_consent(change, &mut store, &mut SeqIds::default(), 2_000.0);
    assert!(st.get(&key).is_none());
    assert!(!a.members(None).contains("omnitrail"), "no touch is carried any more");
}
