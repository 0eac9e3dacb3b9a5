//! Ingestion over real HTTP: accepted batches, every rejection path, partial batches, dedup on
//! replay, gzip, single-message endpoints, Basic auth, clock-skew correction, golden fixtures.

mod common;

use common::*;
use omnitrail::wire::{MAX_BATCH_BYTES, MAX_MESSAGE_BYTES};
use serde_json::{json, Value};
use std::io::Write;

#[test]
fn stores_a_batch_verbatim_and_counts_it() {
    let c = start();
    // Odd spacing and key order must survive: raw JSON is stored verbatim.
    let raw_msg = r#"{ "type":"track",  "messageId":"m-1","anonymousId":"a-1","event":"Signed Up","timestamp":"2024-05-01T12:00:00.000Z","properties":{"b":2,"a":1.50}}"#;
    let body = format!(r#"{{"batch":[{raw_msg}],"sentAt":"{TS}","writeKey":"demo"}}"#);
    let r = request(c.addr, "POST", "/v1/batch", &[("Content-Type", "text/plain")], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!((j["ok"].clone(), j["stored"].clone(), j["duplicates"].clone()), (json!(true), json!(1), json!(0)));
    assert_eq!(j["rejected"], json!([]));
    assert_eq!(j["rejectedCount"], 0);
    let dump = get(c.addr, "/test/messages").text();
    assert_eq!(dump, format!(r#"{{"messages":[{raw_msg}]}}"#));
    let s = stats(c.addr);
    assert_eq!(s["stored"], 1);
    assert_eq!(s["received"], 1);
    assert_eq!(s["byType"]["track"], 1);
    assert_eq!(s["byEvent"]["Signed Up"], 1);
}

#[test]
fn replayed_batch_is_idempotent() {
    let c = start();
    let b = batch((0..5).map(|i| track(&format!("m{i}"), "a", "E")).collect());
    let first = post(c.addr, "/v1/batch", &b).json();
    assert_eq!((first["stored"].as_u64(), first["duplicates"].as_u64()), (Some(5), Some(0)));
    let again = post(c.addr, "/v1/batch", &b);
    assert_eq!(again.status, 200);
    let again = again.json();
    assert_eq!((again["stored"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(5)));
    // Duplicates inside one batch are caught too.
    let inner = post(c.addr, "/v1/batch", &batch(vec![track("x", "a", "E"), track("x", "a", "E")])).json();
    assert_eq!((inner["stored"].as_u64(), inner["duplicates"].as_u64()), (Some(1), Some(1)));
    let s = stats(c.addr);
    assert_eq!((s["stored"].as_u64(), s["duplicates"].as_u64(), s["received"].as_u64()), (Some(6), Some(6), Some(12)));
    assert_eq!(messages(c.addr).len(), 6);
    // The same messageId under another write key is a different message.
    let c2 = start_with(|cfg| cfg.write_keys.push(omnitrail_collector::config::WriteKey::any_origin("other")));
    post(c2.addr, "/v1/batch", &b);
    let mut b2 = b.clone();
    b2["writeKey"] = json!("other");
    assert_eq!(post(c2.addr, "/v1/batch", &b2).json()["stored"], 5);
}

#[test]
fn partial_batch_stores_the_good_and_reports_the_bad() {
    let c = start();
    let big = json!({"type":"track","event":"Big","messageId":"big","anonymousId":"a","timestamp":TS,
                     "properties":{"blob":"x".repeat(MAX_MESSAGE_BYTES)}});
    let b = batch(vec![
        track("ok1", "a", "E"),
        json!({"type":"track","messageId":"noid","timestamp":TS,"event":"E"}),
        big,
        json!({"type":"track","messageId":"noevent","anonymousId":"a","timestamp":TS}),
        json!({"type":"page","messageId":"badts","anonymousId":"a","timestamp":"yesterday"}),
        json!({"type":"launch","messageId":"badtype","anonymousId":"a","timestamp":TS}),
        json!("not an object"),
        track("ok2", "a", "E"),
    ]);
    let r = post(c.addr, "/v1/batch", &b);
    assert_eq!(r.status, 207, "{}", r.text());
    let j = r.json();
    assert_eq!(j["partial"], true);
    assert_eq!(j["stored"], 2);
    let reasons: Vec<(u64, String)> = j["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, "missing_identity".into()),
            (2, "message_too_large".into()),
            (3, "missing_required_field".into()),
            (4, "invalid_timestamp".into()),
            (5, "unknown_type".into()),
            (6, "not_an_object".into()),
        ]
    );
    assert_eq!(j["rejected"][0]["messageId"], "noid");
    let ids: Vec<Value> = messages(c.addr).iter().map(|m| m["messageId"].clone()).collect();
    assert_eq!(ids, vec![json!("ok1"), json!("ok2")]);
}

#[test]
fn request_level_rejections() {
    let c = start_with(|cfg| {
        cfg.write_keys.push(omnitrail_collector::config::WriteKey::parse("site=https://shop.example.com").unwrap())
    });
    let a = c.addr;
    let check = |r: Resp, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.json()["error"], code, "{}", r.text());
    };
    check(request(a, "POST", "/v1/batch", &[], b"{not json"), 400, "invalid_json");
    check(request(a, "POST", "/v1/batch", &[], b""), 400, "invalid_json");
    check(post(a, "/v1/batch", &json!({"writeKey":"demo"})), 400, "invalid_batch");
    check(post(a, "/v1/batch", &json!({"batch":{}, "writeKey":"demo"})), 400, "invalid_batch");
    check(post(a, "/v1/batch", &json!({"batch":[track("m","a","E")]})), 401, "missing_write_key");
    check(post(a, "/v1/batch", &json!({"batch":[track("m","a","E")], "writeKey":"wrong"})), 401, "unknown_write_key");
    // Every message bad: 400 with the list.
    let r = post(a, "/v1/batch", &batch(vec![json!({"type":"track","event":"E","anonymousId":"a","timestamp":TS})]));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "all_rejected");
    assert_eq!(r.json()["rejected"][0]["reason"], "missing_message_id");
    // Oversized request: by Content-Length, and by actual size with a lying/absent length.
    let huge = format!(r#"{{"batch":[],"writeKey":"demo","pad":"{}"}}"#, "x".repeat(MAX_BATCH_BYTES));
    check(request(a, "POST", "/v1/batch", &[], huge.as_bytes()), 413, "payload_too_large");
    let mut chunked = format!("{:x}\r\n", huge.len()).into_bytes();
    chunked.extend_from_slice(huge.as_bytes());
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    check(request(a, "POST", "/v1/batch", &[("Transfer-Encoding", "chunked")], &chunked), 413, "payload_too_large");
    // A gzip bomb is capped after decompression.
    let bomb = gzip(format!(r#"{{"batch":[],"writeKey":"demo","pad":"{}"}}"#, " ".repeat(4 * MAX_BATCH_BYTES)).as_bytes());
    assert!(bomb.len() < MAX_BATCH_BYTES);
    check(request(a, "POST", "/v1/batch", &[("Content-Encoding", "gzip")], &bomb), 413, "payload_too_large");
    check(request(a, "POST", "/v1/batch", &[("Content-Encoding", "gzip")], b"{\"batch\":[]}"), 400, "invalid_gzip");
    check(request(a, "POST", "/v1/batch", &[("Content-Encoding", "br")], b"{}"), 415, "unsupported_encoding");
    // Bad origin for a key with an allowlist.
    let body = json!({"batch":[track("o1","a","E")], "writeKey":"site"}).to_string();
    check(request(a, "POST", "/v1/batch", &[("Origin", "https://evil.example")], body.as_bytes()), 403, "origin_not_allowed");
    let ok = request(a, "POST", "/v1/batch", &[("Origin", "https://shop.example.com")], body.as_bytes());
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://shop.example.com"));
    // Nothing but that one message was stored by all of the above.
    assert_eq!(stats(a)["stored"], 1);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_bodies_by_header_and_by_query() {
    let c = start();
    let body = gzip(batch(vec![track("g1", "a", "E")]).to_string().as_bytes());
    let mut wire = body.len();
    let r = request(c.addr, "POST", "/v1/batch", &[("Content-Encoding", "gzip")], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = gzip(batch(vec![track("g2", "a", "E")]).to_string().as_bytes());
    wire += body.len();
    let r = request(c.addr, "POST", "/v1/batch?compression=gzip", &[("Content-Type", "text/plain")], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let plain = batch(vec![track("g3", "a", "E")]).to_string();
    wire += plain.len();
    assert_eq!(request(c.addr, "POST", "/v1/batch", &[], plain.as_bytes()).status, 200);
    // `/test/stats` counts compressed requests and the bytes as they travelled.
    let s = stats(c.addr);
    assert_eq!((s["stored"].as_u64(), s["compressed"].as_u64()), (Some(3), Some(2)));
    assert_eq!(s["bodyBytes"].as_u64(), Some(wire as u64));
}

#[test]
fn single_message_endpoints_and_basic_auth() {
    let c = start();
    let basic = "Basic ZGVtbzo="; // base64("demo:")
    let send = |path: &str, msg: Value, auth: bool| {
        let headers: Vec<(&str, &str)> = if auth { vec![("Authorization", basic)] } else { vec![] };
        request(c.addr, "POST", path, &headers, msg.to_string().as_bytes())
    };
    // Type taken from the path when missing; write key from Basic auth or the body.
    let r = send("/v1/track", json!({"event":"E","messageId":"s1","userId":"u","timestamp":TS}), true);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send("/v1/identify", json!({"messageId":"s2","userId":"u","anonymousId":"a","timestamp":TS,"writeKey":"demo"}), false);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send("/v1/page", json!({"type":"page","messageId":"s3","anonymousId":"a","timestamp":TS}), true);
    assert_eq!(r.status, 200);
    let r = send("/v1/group", json!({"groupId":"g","messageId":"s4","userId":"u","timestamp":TS}), true);
    assert_eq!(r.status, 200);
    let r = send("/v1/alias", json!({"previousId":"a","messageId":"s5","userId":"u","timestamp":TS}), true);
    assert_eq!(r.status, 200);
    let r = send("/v1/screen", json!({"name":"Home","messageId":"s6","userId":"u","timestamp":TS}), true);
    assert_eq!(r.status, 200);
    // Type that contradicts the path.
    let r = send("/v1/page", json!({"type":"track","event":"E","messageId":"s7","userId":"u","timestamp":TS}), true);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["rejected"][0]["reason"], "type_mismatch");
    // Segment's one-letter paths (analytics-next's default, non-batching delivery).
    for (path, msg) in [
        ("/v1/t", json!({"event":"E","messageId":"o1","userId":"u","timestamp":TS})),
        ("/v1/p", json!({"messageId":"o2","userId":"u","timestamp":TS})),
        ("/v1/s", json!({"messageId":"o3","userId":"u","timestamp":TS})),
        ("/v1/i", json!({"messageId":"o4","userId":"u","timestamp":TS})),
        ("/v1/g", json!({"groupId":"g","messageId":"o5","userId":"u","timestamp":TS})),
        ("/v1/a", json!({"previousId":"a","messageId":"o6","userId":"u","timestamp":TS})),
    ] {
        let r = send(path, msg, true);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    // Segment's historical-import alias.
    let r = request(c.addr, "POST", "/v1/import", &[("Authorization", basic)], json!({"batch":[track("s9","a","E")]}).to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    // Batch via /v1/b with Basic auth only.
    let r = request(c.addr, "POST", "/v1/b", &[("Authorization", basic)], json!({"batch":[track("s8","a","E")]}).to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let s = stats(c.addr);
    assert_eq!(s["stored"], 14);
    for t in ["track", "identify", "page", "group", "alias", "screen"] {
        assert!(s["byType"][t].as_u64().unwrap_or(0) >= 1, "{t}: {s}");
    }
    // writeKey is not stored inside the message; the injected type is.
    let m = messages(c.addr);
    assert!(m.iter().all(|m| m.get("writeKey").is_none()));
    assert_eq!(m[0]["type"], "track");
}

#[test]
fn clock_skew_is_corrected_in_the_timeline() {
    let c = start();
    // The client's clock is one hour behind: sentAt is an hour before now.
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| omnitrail_collector::timefmt::format(t);
    let client_now = now - time::Duration::hours(1);
    let ts = client_now - time::Duration::minutes(5);
    let msg = json!({"type":"page","messageId":"skew","anonymousId":"skewed","timestamp":fmt(ts)});
    let r = post(c.addr, "/v1/batch", &json!({"batch":[msg],"sentAt":fmt(client_now),"writeKey":"demo"}));
    assert_eq!(r.status, 200);
    let t = admin_get(c.addr, "/v1/journeys/skewed").json();
    let corrected = omnitrail_collector::timefmt::parse(t["entries"][0]["timestamp"].as_str().unwrap()).unwrap();
    let expected = now - time::Duration::minutes(5);
    assert!((corrected - expected).abs() < time::Duration::seconds(5), "{corrected} vs {expected}");
    // The raw message keeps the client's timestamp.
    assert_eq!(messages(c.addr)[0]["timestamp"], fmt(ts));
}

#[test]
fn golden_fixtures_are_accepted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        eprintln!("no golden fixtures in {} yet; skipping", dir.display());
        return;
    }
    let c = start();
    let mut expected = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(v.get("batch").is_none(), "{}: a fixture is one message", f.display());
        // Each fixture alone in a batch, as the SDK would send it.
        let body = format!(r#"{{"batch":[{}],"sentAt":"{TS}","writeKey":"demo"}}"#, text.trim());
        let r = request(c.addr, "POST", "/v1/batch", &[("Content-Type", "text/plain")], body.as_bytes());
        assert_eq!(r.status, 200, "fixture {} rejected: {}", f.display(), r.text());
        assert_eq!(r.json()["stored"], 1, "fixture {}: {}", f.display(), r.text());
        expected.push(text.trim().to_string());
    }
    // Stored byte for byte, in order.
    let dump = get(c.addr, "/test/messages").text();
    assert_eq!(dump, format!(r#"{{"messages":[{}]}}"#, expected.join(",")));
    // All of them again in one batch: all duplicates.
    let body = format!(r#"{{"batch":[{}],"sentAt":"{TS}","writeKey":"demo"}}"#, expected.join(","));
    let r = request(c.addr, "POST", "/v1/batch", &[], body.as_bytes()).json();
    assert_eq!((r["stored"].as_u64(), r["duplicates"].as_u64()), (Some(0), Some(files.len() as u64)));
}
