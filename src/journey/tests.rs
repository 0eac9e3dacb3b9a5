use super::*;
use crate::json::{validate, Kind};
use crate::testing::MemoryStorage;

const T0: f64 = 1_795_000_000_000.0;
const MIN: f64 = 60_000.0;

fn pv<'a>(url: &'a str, referrer: &'a str, at_ms: f64, session_id: f64, session_start: bool) -> PageView<'a> {
    PageView { url, referrer, at_ms, session_id, session_start }
}

fn touch(i: u64, channel: Channel) -> Touchpoint {
    let mut campaign = Campaign::default();
    if i % 2 == 0 {
        campaign.set("source", "google");
        campaign.set("medium", "cpc");
    }
    Touchpoint {
        at_ms: T0 + (i as f64) * MIN,
        session_id: T0 + (i as f64) * MIN,
        channel,
        campaign,
        landing_url: ["https://shop.example.com/p/", &i.to_string()].concat(),
        referrer_host: "www.google.com".into(),
    }
}

#[test]
fn records_on_session_start_and_new_campaign_only() {
    let cfg = AttributionConfig::default();
    let mut j = Journey::new(10);
    let s1 = T0;
    let steps: &[(PageView, bool, Channel)] = &[
        // Landing from a paid search ad: the session's first touch.
        (
            pv("https://shop.example.com/?utm_source=google&utm_medium=cpc&gclid=x", "https://www.google.com/", T0, s1, true),
            true,
            Channel::PaidSearch,
        ),
        // Internal navigation: nothing new.
        (
            pv("https://shop.example.com/p/1", "https://shop.example.com/?utm_source=google", T0 + MIN, s1, false),
            false,
            Channel::PaidSearch,
        ),
        // Reload of the landing page: the same campaign is not new.
        (
            pv("https://shop.example.com/?gclid=x&utm_medium=cpc&utm_source=google", "https://www.google.com/", T0 + 2.0 * MIN, s1, false),
            false,
            Channel::PaidSearch,
        ),
        // An external referrer without campaign data mid-session: not recorded.
        (pv("https://shop.example.com/p/2", "https://www.bing.com/", T0 + 3.0 * MIN, s1, false), false, Channel::PaidSearch),
        // New campaign data in the same session (a newsletter click): recorded.
        (pv("https://shop.example.com/?utm_source=news&utm_medium=email", "", T0 + 4.0 * MIN, s1, false), true, Channel::Email),
        // A new session, typed URL: recorded as Direct.
        (pv("https://shop.example.com/", "", T0 + 90.0 * MIN, T0 + 90.0 * MIN, true), true, Channel::Direct),
        // The session changed without this page view starting it (another call did): recorded.
        (pv("https://shop.example.com/a", "https://shop.example.com/", T0 + 200.0 * MIN, T0 + 199.0 * MIN, false), true, Channel::Internal),
        // New session from organic search.
        (
            pv("https://shop.example.com/b", "https://www.google.de/", T0 + 300.0 * MIN, T0 + 300.0 * MIN, true),
            true,
            Channel::OrganicSearch,
        ),
    ];
    for (i, (view, recorded, channel)) in steps.iter().enumerate() {
        let out = j.on_page_view(&cfg, view);
        assert_eq!(out.recorded, *recorded, "step {i}");
        assert_eq!(out.campaign, Campaign::from_url(view.url), "step {i}");
        assert_eq!(j.current().map(|t| t.channel), Some(*channel), "step {i}");
    }
    assert_eq!(j.total(), 5);
    assert_eq!(j.first().map(|t| t.channel), Some(Channel::PaidSearch));
    assert_eq!(j.last_non_direct().map(|t| t.channel), Some(Channel::OrganicSearch));
    let channels: Vec<_> = j.recent().map(|t| t.channel).collect();
    assert_eq!(channels, [Channel::PaidSearch, Channel::Email, Channel::Direct, Channel::Internal, Channel::OrganicSearch]);
    let first = j.first().cloned().unwrap_or_else(|| touch(0, Channel::Unassigned));
    assert_eq!(first.referrer_host, "www.google.com");
    assert_eq!(first.campaign.get("gclid"), Some("x"));
    assert_eq!(first.session_id, s1);
}

#[test]
fn direct_and_internal_do_not_replace_last_non_direct() {
    let mut j = Journey::new(10);
    j.record(touch(1, Channel::Email));
    j.record(touch(2, Channel::Direct));
    j.record(touch(3, Channel::Internal));
    assert_eq!(j.last_non_direct().map(|t| t.channel), Some(Channel::Email));
    j.record(touch(4, Channel::Unassigned));
    assert_eq!(j.last_non_direct().map(|t| t.channel), Some(Channel::Unassigned));
    let mut d = Journey::new(10);
    d.record(touch(1, Channel::Direct));
    assert!(d.last_non_direct().is_none());
    assert_eq!(d.first().map(|t| t.channel), Some(Channel::Direct));
}

#[test]
fn recent_touches_are_bounded() {
    let mut j = Journey::new(10);
    for i in 0..25 {
        j.record(touch(i, Channel::Referral));
    }
    assert_eq!(j.recent().count(), 10);
    assert_eq!(j.total(), 25);
    assert_eq!(j.first().map(|t| t.at_ms), Some(T0));
    assert_eq!(j.recent().next().map(|t| t.at_ms), Some(T0 + 15.0 * MIN));
    assert_eq!(Journey::new(0).max_touches, 1);
    assert_eq!(Journey::new(1_000_000).max_touches, MAX_TOUCHES_LIMIT);
    let mut one = Journey::new(1);
    one.record(touch(1, Channel::Email));
    one.record(touch(2, Channel::Direct));
    assert_eq!(one.recent().count(), 1);
    assert_eq!(one.current().map(|t| t.channel), Some(Channel::Direct));
}

#[test]
fn fields_are_capped() {
    let mut j = Journey::new(3);
    let mut t = touch(1, Channel::Referral);
    t.landing_url = "é".repeat(5_000);
    t.referrer_host = "h".repeat(5_000);
    j.record(t);
    let cur = j.current().cloned().unwrap_or_else(|| touch(0, Channel::Unassigned));
    assert!(cur.landing_url.len() <= MAX_URL_LEN && cur.landing_url.len() >= MAX_URL_LEN - 1);
    assert_eq!(cur.referrer_host.len(), MAX_HOST_LEN);
    let long = ["https://shop.example.com/?utm_source=", &"x".repeat(10_000)].concat();
    let mut j = Journey::new(3);
    j.on_page_view(&AttributionConfig::default(), &pv(&long, "", T0, T0, true));
    assert_eq!(j.current().and_then(|t| t.campaign.source()).map(str::len), Some(crate::campaign::MAX_VALUE_LEN));
}

#[test]
fn redacts_urls_before_anything_is_kept() {
    let cfg = AttributionConfig::default();
    let mut j = Journey::new(10);
    let out = j.on_page_view(
        &cfg,
        &pv(
            "https://shop.example.com/welcome?Email=a%40b.c&utm_source=crm&utm_medium=email&token=s3cret#code=1",
            "https://accounts.example.org/login?password=hunter2&next=/",
            T0,
            T0,
            true,
        ),
    );
    assert!(out.recorded);
    let cur = j.current().cloned().unwrap_or_else(|| touch(0, Channel::Unassigned));
    assert_eq!(cur.landing_url, "https://shop.example.com/welcome?utm_source=crm&utm_medium=email");
    assert_eq!(cur.referrer_host, "accounts.example.org");
    assert_eq!(cur.channel, Channel::Email);
    let stored = j.encode();
    for secret in ["a%40b.c", "s3cret", "hunter2", "code=1"] {
        assert!(!stored.contains(secret), "{secret}");
        assert!(!j.touch_json().unwrap_or_default().contains(secret), "{secret}");
    }
    // A redacted parameter that is also campaign data is not captured either.
    let cfg = AttributionConfig { redact_params: vec!["utm_term".into()], ..AttributionConfig::default() };
    let out = Journey::new(1).on_page_view(&cfg, &pv("https://a.com/?utm_term=private&utm_source=x", "", T0, T0, true));
    assert_eq!(out.campaign.get("term"), None);
    assert_eq!(cfg.redact("https://a.com/?utm_term=private&email=kept"), "https://a.com/?email=kept");
}

#[test]
fn json_for_context() {
    let mut j = Journey::new(10);
    assert_eq!(j.touch_json(), None);
    let mut s = String::new();
    assert!(!j.push_context_members(&mut s, true, &Campaign::default()));
    assert!(s.is_empty());
    j.push_journey_json(&mut s);
    assert_eq!(s, r#"{"touches":[],"touchCount":0}"#);

    let cfg = AttributionConfig::default();
    j.on_page_view(&cfg, &pv("https://shop.example.com/?utm_source=google&utm_medium=cpc", "https://www.google.com/", T0, T0, true));
    assert_eq!(
        j.touch_json(),
        Some(concat!(
            r#"{"channel":"paid_search","at":"2026-11-18T11:06:40.000Z","sessionId":1795000000000,"#,
            r#""campaign":{"source":"google","medium":"cpc"},"referrerHost":"www.google.com"}"#
        ))
    );
    j.on_page_view(&cfg, &pv("https://shop.example.com/\"quoted\"\n", "", T0 + 90.0 * MIN, T0 + 90.0 * MIN, true));
    assert_eq!(j.current().map(|t| t.channel), Some(Channel::Direct));
    let touch = j.touch_json().unwrap_or_default();
    assert!(!touch.contains("referrerHost"));
    assert_eq!(validate(touch), Some(Kind::Object));

    let mut ctx = String::from("{");
    assert!(j.push_context_members(&mut ctx, false, &Campaign::default()));
    ctx.push('}');
    let v: serde_json::Value = serde_json::from_str(&ctx).unwrap_or_default();
    assert_eq!(v["touch"]["channel"], "direct");
    assert!(v.get("journey").is_none());

    let mut ctx = String::from("{");
    j.push_context_members(&mut ctx, true, &Campaign::default());
    ctx.push('}');
    let v: serde_json::Value = serde_json::from_str(&ctx).unwrap_or_default();
    assert_eq!(v["journey"]["first"]["channel"], "paid_search");
    assert_eq!(v["journey"]["lastNonDirect"]["channel"], "paid_search");
    assert_eq!(v["journey"]["touches"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["journey"]["touches"][1]["channel"], "direct");
    assert_eq!(v["journey"]["touchCount"], 2);
    assert_eq!(v["journey"]["first"]["campaign"]["source"], "google");
    // The landing URL (up to 1 KB) travels in the journey only, not in every message's touch.
    assert_eq!(v["journey"]["first"]["landingUrl"], "https://shop.example.com/?utm_source=google&utm_medium=cpc");
    assert_eq!(v["journey"]["touches"][1]["landingUrl"], "https://shop.example.com/\"quoted\"\n");
    assert!(v["touch"].get("landingUrl").is_none());
    assert!(!j.touch_json().unwrap_or_default().contains("landingUrl"));
}

#[test]
fn the_touch_leaves_out_only_a_campaign_equal_to_the_messages() {
    let cfg = AttributionConfig::default();
    let mut j = Journey::new(10);
    let landing = "https://shop.example.com/?utm_source=google&utm_medium=cpc";
    j.on_page_view(&cfg, &pv(landing, "https://www.google.com/", T0, T0, true));
    let touch = |j: &Journey, page_campaign: &Campaign| {
        let mut ctx = String::from("{");
        assert!(j.push_context_members(&mut ctx, false, page_campaign));
        ctx.push('}');
        serde_json::from_str::<serde_json::Value>(&ctx).unwrap_or_default()["touch"].clone()
    };
    // On the landing page the message's `context.campaign` is the touch's: no copy.
    let same = touch(&j, &Campaign::from_url(landing));
    assert_eq!((same["channel"].as_str(), same.get("campaign")), (Some("paid_search"), None));
    // Elsewhere (no campaign, or another one) the touch keeps its own.
    assert_eq!(touch(&j, &Campaign::default())["campaign"]["source"], "google");
    assert_eq!(touch(&j, &Campaign::from_url("https://shop.example.com/?utm_source=news"))["campaign"]["medium"], "cpc");
    // A touch without campaign data under a page with some says so (`{}`), not by absence.
    j.on_page_view(&cfg, &pv("https://shop.example.com/", "", T0 + 90.0 * MIN, T0 + 90.0 * MIN, true));
    assert_eq!(touch(&j, &Campaign::from_url(landing))["campaign"], serde_json::json!({}));
    assert!(touch(&j, &Campaign::default()).get("campaign").is_none());
}

#[test]
fn conversion_events() {
    let cfg = AttributionConfig::default();
    assert!(cfg.is_conversion("Order Completed"));
    assert!(!cfg.is_conversion("order completed"));
    assert!(!cfg.is_conversion("Product Viewed"));
}

#[test]
fn persists_across_sessions() {
    let cfg = AttributionConfig::default();
    let mut storage = MemoryStorage::default();
    // Page load 1: a social ad.
    let mut j = Journey::load("ot1", 10, &storage);
    assert!(j.is_empty());
    let out =
        j.on_page_view(&cfg, &pv("https://shop.example.com/?utm_source=facebook&utm_medium=paid", "https://l.facebook.com/", T0, T0, true));
    assert!(out.recorded);
    assert_eq!(j.persist(&mut storage), Ok(()));
    assert!(storage.get("ot1.j1").is_some());
    assert_eq!(storage_key("ot1"), "ot1.j1");

    // Page load 2, same session: the stored touch is current, nothing new is recorded.
    let mut j = Journey::load("ot1", 10, &storage);
    assert_eq!(j.current().map(|t| t.channel), Some(Channel::PaidSocial));
    assert!(!j.on_page_view(&cfg, &pv("https://shop.example.com/cart", "https://shop.example.com/", T0 + MIN, T0, false)).recorded);

    // Page load 3, days later: a new session from organic search.
    let mut j = Journey::load("ot1", 10, &storage);
    let later = T0 + 3.0 * 86_400_000.0;
    assert!(j.on_page_view(&cfg, &pv("https://shop.example.com/", "https://duckduckgo.com/", later, later, true)).recorded);
    assert_eq!(j.persist(&mut storage), Ok(()));

    // Page load 4: conversion carries both touches.
    let j = Journey::load("ot1", 10, &storage);
    assert_eq!(j.total(), 2);
    assert_eq!(j.first().map(|t| t.channel), Some(Channel::PaidSocial));
    assert_eq!(j.current().map(|t| t.channel), Some(Channel::OrganicSearch));
    assert_eq!(j.last_non_direct().map(|t| t.channel), Some(Channel::OrganicSearch));
    assert!(j.touch_json().is_some());

    // Another prefix sees nothing; a corrupt value loads as empty; a smaller bound keeps the newest.
    assert!(Journey::load("other", 10, &storage).is_empty());
    let small = Journey::load("ot1", 1, &storage);
    assert_eq!(small.recent().count(), 1);
    assert_eq!(small.current().map(|t| t.channel), Some(Channel::OrganicSearch));
    assert_eq!(small.first().map(|t| t.channel), Some(Channel::PaidSocial));
    storage.plant("ot1.j1", "J1 garbage");
    assert!(Journey::load("ot1", 10, &storage).is_empty());
}

#[test]
fn persist_writes_only_changes_and_retries_failures() {
    let mut storage = MemoryStorage::default();
    let mut j = Journey::load("ot1", 10, &storage);
    assert_eq!(j.persist(&mut storage), Ok(()));
    assert_eq!(storage.writes(), 0);
    storage.set_mode(crate::testing::StorageMode::Full);
    j.record(touch(1, Channel::Email));
    assert_eq!(j.persist(&mut storage), Err(StorageError::Full));
    storage.set_mode(crate::testing::StorageMode::Normal);
    assert_eq!(j.persist(&mut storage), Ok(()));
    let writes = storage.writes();
    assert_eq!(j.persist(&mut storage), Ok(()));
    assert_eq!(storage.writes(), writes);
    assert_eq!(Journey::load("ot1", 10, &storage), j);
    // A memory-only journey never writes.
    let mut m = Journey::new(10);
    m.record(touch(1, Channel::Email));
    assert_eq!(m.persist(&mut storage), Ok(()));
    assert_eq!(storage.writes(), writes);
    // Clearing removes the stored value.
    j.clear(&mut storage);
    assert!(j.is_empty() && j.touch_json().is_none() && j.total() == 0);
    assert!(storage.get("ot1.j1").is_none());
}

#[test]
fn other_tabs_writes_are_adopted() {
    let mut storage = MemoryStorage::default();
    let mut a = Journey::load("ot1", 10, &storage);
    let mut b = Journey::load("ot1", 10, &storage);
    a.record(touch(1, Channel::Email));
    assert_eq!(a.persist(&mut storage), Ok(()));
    let stored = storage.get("ot1.j1");
    assert!(!b.on_storage_change("ot1.sess", stored.as_deref()));
    assert!(b.on_storage_change("ot1.j1", stored.as_deref()));
    assert_eq!(b, a);
    assert_eq!(b.touch_json(), a.touch_json());
    // A corrupt or older value does not replace this tab's; it is written back.
    b.record(touch(2, Channel::Direct));
    assert!(b.on_storage_change("ot1.j1", Some("garbage")));
    assert!(b.on_storage_change("ot1.j1", stored.as_deref()));
    assert_eq!(b.total(), 2);
    assert_eq!(b.persist(&mut storage), Ok(()));
    assert_eq!(Journey::load("ot1", 10, &storage).total(), 2);
    // Removal in another tab (consent revoked) empties this one.
    assert!(b.on_storage_change("ot1.j1", None));
    assert!(b.is_empty() && b.touch_json().is_none());
    // A memory-only journey ignores storage events.
    assert!(!Journey::new(10).on_storage_change("ot1.j1", None));
}

/// A small deterministic generator (no `rand` dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let n = self.next() as usize % items.len();
        items.get(n).copied().unwrap_or("")
    }
}

const PIECES: &[&str] =
    &["a", "\t", "\n", "\r", "\\", "\\t", "é", "😀", "=", "@", " ", "%20", "?", "#", "F ", "R ", "J1 ", "\u{0}", "\"", "x=y"];

fn random_text(r: &mut Lcg, max_pieces: u64) -> String {
    (0..r.next() % max_pieces).map(|_| r.pick(PIECES)).collect()
}

fn random_journey(r: &mut Lcg) -> Journey {
    let mut j = Journey::new(1 + (r.next() % 12) as usize);
    for _ in 0..r.next() % 20 {
        let mut campaign = Campaign::default();
        for _ in 0..r.next() % 5 {
            let key = crate::campaign::KEYS.get(r.next() as usize % crate::campaign::KEYS.len()).map_or("name", |k| k.1);
            campaign.set(key, &random_text(r, 6));
        }
        j.record(Touchpoint {
            at_ms: (r.next() % 2_000_000_000_000) as f64,
            session_id: (r.next() % 2_000_000_000_000) as f64,
            channel: Channel::ALL.get(r.next() as usize % Channel::ALL.len()).copied().unwrap_or(Channel::Direct),
            campaign,
            landing_url: random_text(r, 10),
            referrer_host: random_text(r, 4),
        });
    }
    j
}

#[test]
fn encode_decode_round_trip() {
    let mut r = Lcg(7);
    for _ in 0..500 {
        let j = random_journey(&mut r);
        let text = j.encode();
        let back = Journey::decode(&text, j.max_touches);
        assert_eq!(back.as_ref(), Some(&j), "{text:?}");
        assert_eq!(back.map(|b| b.encode()), Some(text));
    }
    // Empty journey.
    let e = Journey::new(10);
    assert_eq!(e.encode(), "J1 0\n");
    assert_eq!(Journey::decode("J1 0\n", 10), Some(e.clone()));
    assert_eq!(Journey::decode("J1 0", 10), Some(e));
}

#[test]
fn first_and_last_are_stored_by_reference_when_recent() {
    let mut j = Journey::new(10);
    j.record(touch(1, Channel::Email));
    j.record(touch(2, Channel::Direct));
    let text = j.encode();
    assert!(text.starts_with("J1 2\nF @0\nL @0\nR "), "{text}");
    for i in 3..15 {
        j.record(touch(i, Channel::Direct));
    }
    let text = j.encode();
    assert!(text.contains("\nF 1795000060000\t"), "{text}");
    assert_eq!(Journey::decode(&text, 10).as_ref(), Some(&j));
}

#[test]
fn corrupted_input_is_rejected_without_panic() {
    let mut j = Journey::new(10);
    j.record(touch(1, Channel::Email));
    j.record(touch(2, Channel::PaidSearch));
    let good = j.encode();
    let t = "1795000000000\t1795000000000\temail\th\thttps://a/";
    let bad = [
        "".to_string(),
        "J2 1\n".into(),
        "J1\n".into(),
        "J1 x\n".into(),
        "J1 -1\n".into(),
        "J1 9999999999999999\n".into(),
        ["J1 1\nR ", t, "\tbogus=1\n"].concat(),
        ["J1 1\nR ", t, "\tsource=a\tsource=b\n"].concat(),
        ["J1 1\nR ", t, "\tsource\n"].concat(),
        "J1 1\nR 1\t2\tnot_a_channel\th\tu\n".into(),
        "J1 1\nR 1\t2\temail\th\n".into(),
        "J1 1\nR 1.5\t2\temail\th\tu\n".into(),
        "J1 1\nR \t2\temail\th\tu\n".into(),
        ["J1 1\nR ", t, "\\x\n"].concat(),
        ["J1 1\nR ", t, "\\\n"].concat(),
        ["J1 1\nF @1\nR ", t, "\n"].concat(),
        ["J1 1\nF @0\nF @0\nR ", t, "\n"].concat(),
        ["J1 1\nR ", t, "\nF @0\n"].concat(),
        ["J1 1\nR @0\n"].concat(),
        ["J1 1\nX ", t, "\n"].concat(),
        ["J1 1\nR", t, "\n"].concat(),
        ["J1 0\nF @0\nR ", t, "\n"].concat(),
        ["J1 1\nR ", t, "\n"].concat(), // recent without a first touch
        ["J1 1\nF ", t, "\n"].concat(), // a first touch without recent ones
        "\u{0}\u{1}\u{2}".into(),
        "😀😀😀".into(),
        good.replace('\t', " "),
        good.replace("email", "Email"),
    ];
    for b in &bad {
        assert_eq!(Journey::decode(b, 10), None, "{b:?}");
    }
    // Too many recent lines, and anything huge.
    let mut many = String::from("J1 1000\nF @0\n");
    for _ in 0..=MAX_TOUCHES_LIMIT {
        many.push_str("R ");
        many.push_str(t);
        many.push('\n');
    }
    assert_eq!(Journey::decode(&many, 10), None);
    let huge = ["J1 1\nF @0\nR ", t, &"a".repeat(MAX_ENCODED_LEN), "\n"].concat();
    assert_eq!(Journey::decode(&huge, 10), None);
    // A long (but not huge) field is capped, not rejected.
    let long = ["J1 1\nF @0\nR ", t, &"a".repeat(5_000), "\n"].concat();
    let d = Journey::decode(&long, 10);
    assert_eq!(d.and_then(|d| d.current().map(|c| c.landing_url.len())), Some(MAX_URL_LEN));
    // Every truncation and every single-byte change of a good value: no panic, and whatever
    // decodes is self-consistent.
    let bytes = good.as_bytes();
    for cut in 0..=bytes.len() {
        if let Some(prefix) = good.get(..cut) {
            if let Some(d) = Journey::decode(prefix, 10) {
                assert_eq!(Journey::decode(&d.encode(), 10), Some(d));
            }
        }
    }
    let mut r = Lcg(42);
    for _ in 0..3_000 {
        let mut b = bytes.to_vec();
        let i = r.next() as usize % b.len();
        if let Some(x) = b.get_mut(i) {
            *x = (r.next() % 128) as u8;
        }
        if let Ok(s) = String::from_utf8(b) {
            if let Some(d) = Journey::decode(&s, 10) {
                assert_eq!(Journey::decode(&d.encode(), 10), Some(d));
            }
        }
    }
    for _ in 0..500 {
        let junk = random_text(&mut r, 40);
        let _ = Journey::decode(&junk, 10);
        let _ = Journey::decode(&["J1 3\n", &junk].concat(), 10);
        let _ = Journey::decode(&["J1 3\nR ", &junk].concat(), 10);
    }
}
