//! Test-control endpoints, CORS, the identity cookie endpoint, health, metrics and viewer —
//! all over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::*;
use omnitrail_collector::config::WriteKey;
use serde_json::json;

#[test]
fn status_fault_with_retry_after_stores_nothing_and_expires() {
    let c = start();
    let r = post(c.addr, "/test/fault", &json!({"status":503,"forMs":300,"retryAfter":1}));
    assert_eq!(r.status, 200, "{}", r.text());
    let b = batch(vec![track("f1", "a", "E")]);
    let r = post(c.addr, "/v1/batch", &b);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(stats(c.addr)["stored"], 0);
    // Bounded wait for expiry.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = post(c.addr, "/v1/batch", &b);
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "fault never expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = stats(c.addr);
    assert_eq!(s["stored"], 1);
    assert!(s["faulted"].as_u64().unwrap() >= 1);
    assert!(s["requests"].as_u64().unwrap() >= 2);
}

#[test]
fn count_limited_fault_and_clear() {
    let c = start();
    post(c.addr, "/test/fault", &json!({"status":429,"count":2}));
    let b = batch(vec![track("c1", "a", "E")]);
    assert_eq!(post(c.addr, "/v1/batch", &b).status, 429);
    assert_eq!(post(c.addr, "/v1/batch", &b).status, 429);
    assert_eq!(post(c.addr, "/v1/batch", &b).status, 200);
    post(c.addr, "/test/fault", &json!({"status":500}));
    assert_eq!(post(c.addr, "/v1/batch", &b).status, 500);
    // Faults never touch the control endpoints.
    assert_eq!(get(c.addr, "/test/stats").status, 200);
    assert_eq!(post(c.addr, "/test/fault", &json!({"clear":true})).status, 200);
    assert_eq!(post(c.addr, "/v1/batch", &b).status, 200);
    assert_eq!(stats(c.addr)["faulted"], 3);
    // Bad fault specs are refused.
    assert_eq!(post(c.addr, "/test/fault", &json!({"status":42})).status, 400);
    assert_eq!(post(c.addr, "/test/fault", &json!({"mode":"explode"})).status, 400);
    assert_eq!(post(c.addr, "/test/fault", &json!({"stauts":503})).status, 400);
}

#[test]
fn reset_fault_closes_the_connection_without_answering() {
    let c = start();
    post(c.addr, "/test/fault", &json!({"mode":"reset","count":1}));
    let body = batch(vec![track("r1", "a", "E")]).to_string();
    let r = try_request(c.addr, "POST", "/v1/batch", &[], body.as_bytes());
    assert!(r.is_err(), "expected no response, got {r:?}");
    assert_eq!(stats(c.addr)["stored"], 0);
    assert_eq!(post(c.addr, "/v1/batch", &batch(vec![track("r1", "a", "E")])).status, 200);
}

#[test]
fn hang_fault_delays_until_cleared_or_delay() {
    let c = start();
    post(c.addr, "/test/fault", &json!({"mode":"hang","delayMs":300}));
    let t = Instant::now();
    assert_eq!(post(c.addr, "/v1/batch", &batch(vec![track("h1", "a", "E")])).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(280), "{:?}", t.elapsed());

    post(c.addr, "/test/fault", &json!({"mode":"hang"}));
    let addr = c.addr;
    let t = Instant::now();
    let waiter = std::thread::spawn(move || post(addr, "/v1/batch", &batch(vec![track("h2", "a", "E")])).status);
    std::thread::sleep(Duration::from_millis(200));
    post(c.addr, "/test/fault", &json!({"clear":true}));
    assert_eq!(waiter.join().unwrap(), 200);
    assert!(t.elapsed() >= Duration::from_millis(180));
    let s = stats(c.addr);
    assert_eq!((s["stored"].as_u64(), s["hung"].as_u64()), (Some(2), Some(2)));
}

#[test]
fn reset_empties_store_and_counters() {
    let c = start();
    post(c.addr, "/v1/batch", &batch(vec![track("x1", "a", "E"), track("x2", "a", "F")]));
    post(c.addr, "/test/fault", &json!({"status":503}));
    assert_eq!(post(c.addr, "/test/reset", &json!({})).status, 200);
    let s = stats(c.addr);
    assert_eq!(s, json!({"requests":0,"received":0,"stored":0,"duplicates":0,"rejected":0,"faulted":0,"hung":0,"compressed":0,"bodyBytes":0,"byType":{},"byEvent":{}}));
    assert!(messages(c.addr).is_empty());
    // The fault was cleared too, and the old ids are new again.
    assert_eq!(post(c.addr, "/v1/batch", &batch(vec![track("x1", "a", "E")])).json()["stored"], 1);
}

#[test]
fn test_endpoints_are_off_by_default() {
    let c = start_with(|cfg| cfg.test_control = false);
    assert_eq!(get(c.addr, "/test/stats").status, 404);
    assert_eq!(post(c.addr, "/test/fault", &json!({"status":503})).status, 404);
    assert_eq!(post(c.addr, "/v1/batch", &batch(vec![track("t", "a", "E")])).status, 200);
}

#[test]
fn cors_preflight_and_echo() {
    let c = start_with(|cfg| cfg.write_keys = vec![WriteKey::parse("site=http://127.0.0.1:5500,https://*.example.com").unwrap()]);
    let pre = |origin: &str, path: &str| {
        request(c.addr, "OPTIONS", path, &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type, content-encoding"),
        ], b"")
    };
    let r = pre("http://127.0.0.1:5500", "/v1/batch");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://127.0.0.1:5500"));
    assert!(r.header("access-control-allow-methods").unwrap().contains("POST"));
    assert_eq!(r.header("access-control-allow-headers"), Some("content-type, content-encoding"));
    assert!(r.header("vary").unwrap().contains("Origin"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    assert_eq!(pre("https://shop.example.com", "/v1/batch").status, 204);
    let denied = pre("https://evil.test", "/v1/batch");
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("access-control-allow-origin"), None);
    // Identity endpoint: credentials allowed.
    let r = pre("http://127.0.0.1:5500", "/v1/identity");
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // Simple request from an allowed origin: echoed, Retry-After exposed.
    let body = json!({"batch":[track("c1","a","E")],"writeKey":"site"}).to_string();
    let r = request(c.addr, "POST", "/v1/batch", &[("Origin", "http://127.0.0.1:5500"), ("Content-Type", "text/plain")], body.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://127.0.0.1:5500"));
    assert_eq!(r.header("access-control-expose-headers"), Some("Retry-After, Accept-Encoding"));
    // Every 2xx says which request codings the collector reads (RFC 7694), for the SDK's
    // compression negotiation.
    assert_eq!(r.header("accept-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Origin"));
    // A rejected origin still gets a readable 403 (so the SDK drops instead of retrying).
    let r = request(c.addr, "POST", "/v1/batch", &[("Origin", "https://evil.test")], body.as_bytes());
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://evil.test"));
}

#[test]
fn identity_endpoint_reissues_the_cookie() {
    let c = start_with(|cfg| {
        cfg.cookie_domain = Some("example.com".into());
        cfg.write_keys = vec![WriteKey::parse("site=https://www.example.com").unwrap()];
    });
    let id = "3f0e8c1a-5b7d-4e2f-9a6b-1c2d3e4f5a6b";
    let cookie = format!("other=1; omnitrail_aid={id}");
    // What a browser sends from www.example.com to collect.example.com: same-site, a fetch.
    let same_site = [("Origin", "https://www.example.com"), ("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "cors")];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        same_site.iter().chain(extra).map(|(k, v)| (*k, v.to_string())).collect()
    };
    let send = |headers: Vec<(&'static str, String)>, body: &[u8]| {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request(c.addr, "POST", "/v1/identity", &h, body)
    };
    let r = send(with(&[("Cookie", &cookie), ("X-Forwarded-Proto", "https")]), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("set-cookie"),
        Some(format!("omnitrail_aid={id}; Path=/; Max-Age=31536000; SameSite=Lax; Domain=example.com; Secure").as_str())
    );
    assert!(!r.header("set-cookie").unwrap().contains("HttpOnly"));
    assert_eq!(r.header("access-control-allow-origin"), Some("https://www.example.com"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.json()["fresh"], false);
    // Exactly what the SDK sends: text/plain JSON with its id and write key, the cookie along.
    let sdk_body = json!({"anonymousId": id, "writeKey": "site"}).to_string();
    let r = send(with(&[("Cookie", &cookie), ("Content-Type", "text/plain;charset=UTF-8")]), sdk_body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("set-cookie").unwrap().starts_with(&format!("omnitrail_aid={id};")));
    assert_eq!(r.json()["matchesRequest"], true);
    // No cookie: a fresh random id, never the one the body names; plain http on 127.0.0.1
    // (localhost) is not marked Secure.
    let r = request(c.addr, "POST", "/v1/identity", &[], json!({"anonymousId": id}).to_string().as_bytes());
    assert_eq!(r.status, 200);
    let fresh = r.json()["anonymousId"].as_str().unwrap().to_string();
    assert_ne!(fresh, id);
    assert!(omnitrail::ports::is_uuid(&fresh));
    assert_eq!((r.json()["fresh"].as_bool(), r.json()["matchesRequest"].as_bool()), (Some(true), Some(false)));
    assert!(!r.header("set-cookie").unwrap().contains("Secure"));
    assert_eq!(request(c.addr, "POST", "/v1/identity", &[], b"").status, 200);
    let r = request(c.addr, "POST", "/v1/identity", &[], json!({"anonymousId": id, "writeKey": "nope"}).to_string().as_bytes());
    assert_eq!(r.status, 401);
    // Not a UUID / foreign origin.
    let r = request(c.addr, "POST", "/v1/identity", &[], br#"{"anonymousId":"abc; Domain=evil.com"}"#);
    assert_eq!((r.status, r.header("set-cookie")), (400, None));
    let r = request(c.addr, "POST", "/v1/identity", &[("Origin", "https://evil.test"), ("Cookie", &cookie)], b"");
    assert_eq!((r.status, r.header("access-control-allow-credentials")), (403, None));
}

#[test]
fn health_metrics_and_viewer() {
    let c = start();
    assert_eq!(get(c.addr, "/healthz").json()["ok"], true);
    post(c.addr, "/v1/batch", &batch(vec![
        track("v1", "anon-1", "Product Added"),
        json!({"type":"identify","messageId":"v2","anonymousId":"anon-1","userId":"user-1","timestamp":TS}),
        json!({"type":"track","event":"Order Completed","messageId":"v3","userId":"user-1","timestamp":"2024-05-01T12:05:00Z","properties":{"revenue":42}}),
        json!({"type":"page","messageId":"v4","anonymousId":"anon-1","timestamp":"2024-05-01T11:00:00Z",
               "context":{"campaign":{"source":"google","medium":"cpc","name":"spring"}},"properties":{"url":"https://s/?utm_source=google"}}),
        json!({"type":"track","messageId":"bad","anonymousId":"a","timestamp":TS}),
    ]));
    post(c.addr, "/v1/batch", &batch(vec![track("v1", "anon-1", "Product Added")]));
    let m = admin_get(c.addr, "/metrics");
    assert_eq!(m.status, 200);
    let text = m.text();
    for needle in [
        "omnitrail_messages_stored_total 4",
        "omnitrail_messages_duplicate_total 1",
        "omnitrail_messages_rejected_total{reason=\"missing_required_field\"} 1",
        "omnitrail_http_requests_total{route=\"ingest\",status=\"207\"} 1",
        "omnitrail_http_request_duration_seconds_count",
        "omnitrail_store_commits_total 2",
        "omnitrail_store_committed_requests_total 2",
        "omnitrail_connections_open 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let page = admin_get(c.addr, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<title>Omnitrail journeys</title>"));
    let ids = admin_get(c.addr, "/v1/journeys").json();
    let first = &ids["identities"][0];
    assert_eq!(ids["identities"].as_array().unwrap().len(), 1, "{ids}");
    assert_eq!(first["id"], "user-1");
    assert_eq!(first["anonymousId"], "anon-1");
    assert_eq!(first["messages"], 4);
    // The timeline follows the identity graph from the anonymous id to the user id.
    let t = admin_get(c.addr, "/v1/journeys/anon-1").json();
    let kinds: Vec<&str> = t["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["conversion", "identity", "cart", "touchpoint"], "{t}");
    assert_eq!(t["entries"][3]["channel"], "cpc");
    assert_eq!(get(c.addr, "/nope").status, 404);
}

#[test]
fn at_the_connection_limit_an_idle_connection_makes_room() {
    let c = start_with(|cfg| cfg.max_connections = 1);
    // An idle connection holds the only slot...
    let idle = std::net::TcpStream::connect(c.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // ...but a request is not made to wait for it: the idle connection is evicted.
    let started = std::time::Instant::now();
    assert_eq!(get(c.addr, "/healthz").status, 200);
    assert!(started.elapsed() < Duration::from_secs(2), "waited {:?}", started.elapsed());
    let mut buf = [0u8; 1];
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(std::io::Read::read(&mut &idle, &mut buf).unwrap_or(0), 0, "the idle connection was closed");
}

#[test]
fn at_the_connection_limit_with_every_slot_busy_new_connections_get_a_fast_503() {
    let c = start_with(|cfg| cfg.max_connections = 1);
    let addr = c.addr;
    // Hold the only slot with a request in flight (a hang fault keeps it busy).
    assert_eq!(post(addr, "/test/fault", &json!({"mode": "hang", "delayMs": 1500})).status, 200);
    let busy = std::thread::spawn(move || post(addr, "/v1/batch", &batch(vec![track("busy-1", "a", "E")])).status);
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let r = get(addr, "/healthz");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"], "too_many_connections");
    assert!(started.elapsed() < Duration::from_secs(1), "shedding took {:?}", started.elapsed());
    assert_eq!(busy.join().unwrap(), 200, "the busy connection was not evicted");
    assert_eq!(get(addr, "/healthz").status, 200);
}

#[test]
fn rejection_details_are_capped() {
    let c = start();
    let junk: Vec<serde_json::Value> = (0..5000).map(|i| json!(i)).collect();
    let r = post(c.addr, "/v1/batch", &batch(junk));
    assert_eq!(r.status, 400);
    let j = r.json();
    assert_eq!(j["rejectedCount"], 5000);
    assert_eq!(j["rejected"].as_array().unwrap().len(), 1000);
}

#[test]
fn viewer_merges_a_person_across_identify_and_alias() {
    let c = start();
    post(c.addr, "/v1/batch", &batch(vec![
        track("p1", "anon-9", "Product Viewed"),
        json!({"type":"identify","messageId":"p2","anonymousId":"anon-9","userId":"old-id","timestamp":TS}),
    ]));
    std::thread::sleep(Duration::from_millis(5)); // later receivedAt for the alias
    post(c.addr, "/v1/batch", &batch(vec![
        json!({"type":"alias","messageId":"p3","previousId":"old-id","userId":"new-id","timestamp":TS}),
        track("p4", "someone-else", "Product Viewed"),
    ]));
    let ids = admin_get(c.addr, "/v1/journeys").json();
    let people = ids["identities"].as_array().unwrap();
    assert_eq!(people.len(), 2, "{ids}");
    let merged = people.iter().find(|p| p["anonymousId"] == "anon-9").unwrap();
    assert_eq!((merged["userId"].as_str(), merged["messages"].as_u64()), (Some("new-id"), Some(3)));
    let t = admin_get(c.addr, "/v1/journeys/new-id").json();
    assert_eq!(t["entries"].as_array().unwrap().len(), 3, "{t}");
}
