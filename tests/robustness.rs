//! Hostile and corrupted input on the Rust side (property tests, bounded: they run in CI).
//!
//! - input conversion: any strings as event names, properties, ids and options either give a
//!   typed error or a message that is valid JSON carrying exactly what was passed;
//! - storage decoders: any text planted under every persisted key (outbox chunks, session,
//!   consent, journey, cart, identity, lease) loads without a panic, and the SDK still works;
//! - the wire encoder: every batch body the tracker produces parses as JSON.

use omnitrail::message::Environment;
use omnitrail::testing::{ManualClock, MemoryStorage, SeqIds};
use omnitrail::{CallOptions, Config, Tracker};
use proptest::prelude::*;

fn tracker(st: &MemoryStorage) -> Tracker<MemoryStorage, ManualClock, SeqIds> {
    let cfg = Config::new("k", "http://127.0.0.1:9").validated().unwrap();
    let mut t = Tracker::new(cfg, st.clone(), ManualClock::at(1_795_000_000_000.0), SeqIds::seeded(3), "p", Environment::default());
    t.become_leader();
    t
}

fn bodies(t: &mut Tracker<MemoryStorage, ManualClock, SeqIds>) -> Vec<serde_json::Value> {
    t.flush();
    let mut out = Vec::new();
    while let Some(s) = t.poll() {
        out.push(serde_json::from_str(&s.body).expect("every batch body is valid JSON"));
        t.on_response(s.batch_id, 200, None, None);
    }
    out
}

/// Arbitrary text, biased towards what breaks hand-written JSON: quotes, escapes, controls,
/// non-ASCII and braces.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![".*", "[\"\\\\{}\\[\\]:,\\u{0}-\\u{1f}é😀\\u{2028}]{0,40}", Just(String::new()),]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_call_arguments_give_an_error_or_a_faithful_valid_message(
        event in text(), key in text(), value in text(), props_raw in text(), uid in text()
    ) {
        let st = MemoryStorage::default();
        let mut t = tracker(&st);
        let props = serde_json::json!({ key.clone(): value.clone() }).to_string();
        let o = CallOptions::default();
        let tracked = t.track(&event, Some(&props), &o).is_ok();
        let _ = t.track(&event, Some(&props_raw), &o);
        let _ = t.identify(Some(&uid), Some(&props_raw), &o);
        let _ = t.group(&uid, None, &CallOptions { context: Some(&props_raw), ..o });
        let _ = t.alias(&uid, Some(&event), &o);
        let _ = t.page_view(Some(&event), Some(&uid), Some(&props), &o);
        let all = bodies(&mut t);
        let msgs: Vec<&serde_json::Value> = all.iter().flat_map(|b| b["batch"].as_array().unwrap().iter()).collect();
        if tracked {
            let m = msgs.iter().find(|m| m["type"] == "track").expect("the valid track was sent");
            prop_assert_eq!(m["event"].as_str().unwrap(), event.as_str());
            prop_assert_eq!(m["properties"][key.as_str()].as_str().unwrap(), value.as_str());
        }
    }

    #[test]
    fn corrupted_persisted_state_never_panics_and_the_sdk_still_delivers(junk in text(), junk2 in text()) {
        let st = MemoryStorage::default();
        for key in ["ot1.q.dead.0", "ot1.q.dead.x", "ot1.sess", "ot1.consent", "ot1.j1", "ot1.c1", "ot1.aid",
                    "ot1.uid", "ot1.gid", "ot1.traits", "ot1.lease"] {
            st.plant(key, &junk);
        }
        st.plant("ot1.q.dead.1", &format!("{junk}\n{junk2}\n{{\"type\":\"track\"}}"));
        let mut t = tracker(&st);
        t.on_storage_change("ot1.sess", Some(&junk2));
        t.on_storage_change("ot1.j1", Some(&junk2));
        t.on_storage_change("ot1.consent", Some(&junk2));
        t.on_storage_change("ot1.q.other.0", Some(&junk2));
        t.track("After corruption", None, &CallOptions::default()).unwrap();
        t.persist();
        let all = bodies(&mut t);
        let sent: Vec<String> = all.iter().flat_map(|b| b["batch"].as_array().unwrap().iter())
            .filter_map(|m| m["event"].as_str().map(str::to_owned)).collect();
        prop_assert!(sent.iter().any(|e| e == "After corruption"));
    }

    #[test]
    fn json_helpers_never_panic_and_agree_with_serde(s in text()) {
        let valid = omnitrail::json::validate(&s).is_some();
        prop_assert_eq!(valid, serde_json::from_str::<serde_json::Value>(&s).is_ok() && !s.trim().is_empty());
        let _ = omnitrail::json::members(&s);
        let merged = omnitrail::json::merge_objects(&s, r#"{"a":1}"#);
        prop_assert!(serde_json::from_str::<serde_json::Value>(&merged).is_ok());
        let mut escaped = String::new();
        omnitrail::json::push_str(&mut escaped, &s);
        prop_assert_eq!(serde_json::from_str::<String>(&escaped).unwrap(), s);
    }
}
