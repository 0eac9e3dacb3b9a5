//! Golden wire fixtures: one message of each Segment type, as the SDK encodes it, in
//! `tests/fixtures/<type>.json`. The collector's tests ingest the same files, so the SDK and
//! the collector cannot drift apart. Regenerate deliberately with
//! `OMNITRAIL_BLESS=1 cargo test --test fixtures`.

use omnitrail::message::{Environment, PageContext};
use omnitrail::testing::{ManualClock, MemoryStorage, SeqIds};
use omnitrail::{CallOptions, Config, Tracker};
use serde_json::Value;

fn encoded() -> Vec<(&'static str, Value)> {
    let cfg = Config::new("fixture-key", "https://collector.example.com").validated().unwrap();
    let env = Environment {
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0".into(),
        host: "shop.example.com".into(),
        signals: Default::default(),
        locale: "en-GB".into(),
        timezone: "Europe/London".into(),
        screen: Some((1440.0, 900.0, 2.0)),
    };
    let mut t = Tracker::new(cfg, MemoryStorage::default(), ManualClock::at(1_795_399_445_123.0), SeqIds::seeded(7), "fx", env);
    t.set_page(PageContext {
        url: "https://shop.example.com/p/tee?color=blue&utm_source=newsletter&utm_medium=email&utm_campaign=winter&email=ada%40example.com"
            .into(),
        path: "/p/tee".into(),
        search: "?color=blue&utm_source=newsletter&utm_medium=email&utm_campaign=winter&email=ada%40example.com".into(),
        title: "Blue tee — Shop".into(),
        referrer: "https://www.google.com/".into(),
    });
    t.become_leader();
    let o = CallOptions::default();
    t.page_view(Some("Product"), Some("Tee"), Some(r#"{"variant":"blue"}"#), &o).unwrap();
    t.track("Product Added", Some(r#"{"product_id":"tee-blue","price":19,"currency":"EUR","quantity":1}"#), &o).unwrap();
    t.screen(Some("Cart"), None, &o).unwrap();
    t.identify(Some("user-42"), Some(r#"{"email":"ada@example.com","plan":"pro"}"#), &o).unwrap();
    t.group("acme", Some(r#"{"name":"Acme Ltd"}"#), &o).unwrap();
    t.alias("user-42-new", None, &o).unwrap();
    t.track(
        "Order Completed",
        Some(r#"{"order_id":"o-1","total":19,"revenue":19,"currency":"EUR","products":[{"product_id":"tee-blue"}]}"#),
        &o,
    )
    .unwrap();
    t.flush();
    let send = t.poll().expect("a batch");
    let body: Value = serde_json::from_str(&send.body).unwrap();
    let names = ["page", "track", "screen", "identify", "group", "alias", "conversion"];
    names.into_iter().zip(body["batch"].as_array().unwrap().iter().cloned()).collect()
}

#[test]
fn encoder_matches_golden_fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let bless = std::env::var_os("OMNITRAIL_BLESS").is_some();
    for (name, value) in encoded() {
        let path = dir.join(format!("{name}.json"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let golden: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, golden, "{name}: the SDK's encoding changed; bless deliberately if intended");
        assert_eq!(value["type"], if name == "conversion" { "track" } else { name });
    }
}

#[test]
fn urls_are_redacted_and_attribution_is_attached() {
    let all = encoded();
    for (name, v) in &all {
        let text = serde_json::to_string(v).unwrap();
        assert!(!text.contains("ada%40example.com"), "{name}: the email parameter must never leave the page");
        assert_eq!(v["context"]["campaign"]["source"], "newsletter", "{name}");
        assert_eq!(v["context"]["campaign"]["name"], "winter", "{name}");
        assert_eq!(v["context"]["omnitrail"]["touch"]["channel"], "email", "{name}");
        assert_eq!(v["context"]["consent"]["categoryPreferences"]["analytics"], true, "{name}");
    }
    let conversion = &all.iter().find(|(n, _)| *n == "conversion").unwrap().1;
    assert_eq!(conversion["context"]["omnitrail"]["journey"]["touchCount"], 1);
    assert!(all.iter().filter(|(n, _)| *n != "conversion").all(|(_, v)| v["context"]["omnitrail"].get("journey").is_none()));
}

#[test]
fn fixtures_satisfy_the_segment_spec_checks() {
    for (name, value) in encoded() {
        let kind = omnitrail::wire::MessageType::parse(value["type"].as_str().unwrap()).unwrap();
        let name = if name == "conversion" { "track" } else { name };
        for field in ["messageId", "timestamp", "anonymousId", "context", "integrations"] {
            assert!(value.get(field).is_some(), "{name} lacks {field}");
        }
        for field in kind.required_fields() {
            assert!(value.get(*field).is_some(), "{name} lacks required {field}");
        }
        assert!(serde_json::to_string(&value).unwrap().len() <= omnitrail::wire::MAX_MESSAGE_BYTES);
    }
}

#[cfg(feature = "serde")]
#[test]
fn fixtures_parse_into_the_typed_wire_messages() {
    for (name, value) in encoded() {
        let m: omnitrail::wire::Message = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(m.kind, if name == "conversion" { "track" } else { name });
        assert_eq!(serde_json::to_value(&m).unwrap(), value, "{name} round-trips");
    }
}
