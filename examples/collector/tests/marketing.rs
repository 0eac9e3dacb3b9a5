//! The marketer's views over real HTTP: the attribution report, a customer profile and
//! segments, from messages shaped as the SDK sends them (touch and consent in the context),
//! across two devices joined by sign-in; and that each needs the admin token.

mod common;

use common::*;
use serde_json::{json, Value};

fn msg(id: &str, anon: &str, user: Option<&str>, ts: &str, touch: (&str, &str), marketing: bool, body: Value) -> Value {
    let mut m = json!({
        "messageId": id, "anonymousId": anon, "timestamp": ts,
        "context": {
            "sessionId": 1714564800000u64,
            "consent": {"categoryPreferences": {"necessary": true, "analytics": true, "marketing": marketing}},
            "omnitrail": {"touch": {"channel": touch.0, "at": touch.1, "campaign": {"source": "insta", "medium": "paid_social", "name": "spring"}}}
        }
    });
    if let Some(u) = user {
        m["userId"] = json!(u);
    }
    for (k, v) in body.as_object().unwrap() {
        m[k] = v.clone();
    }
    m
}

/// Ada: paid social on her phone (May 1), email on her laptop (May 5), signs in on both, orders
/// 120 on the laptop (May 6). Bob: direct, adds to cart on May 2 and leaves (no marketing
/// consent). Cy: organic search, allows marketing, adds to cart and orders.
fn journeys() -> Vec<Value> {
    let ps = ("paid_social", "2024-05-01T10:00:00.000Z");
    let em = ("email", "2024-05-05T10:00:00.000Z");
    let di = ("direct", "2024-05-02T09:00:00.000Z");
    let os = ("organic_search", "2024-05-03T09:00:00.000Z");
    vec![
        msg("a1", "phone", None, "2024-05-01T10:00:00.000Z", ps, false, json!({"type": "page", "properties": {"url": "https://shop/?utm_source=insta"}})),
        msg("a2", "phone", None, "2024-05-01T10:01:00.000Z", ps, true, json!({"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com", "plan": "free"}})),
        msg("a3", "laptop", None, "2024-05-05T10:00:00.000Z", em, true, json!({"type": "page"})),
        msg("a4", "laptop", None, "2024-05-06T09:00:00.000Z", em, true, json!({"type": "identify", "userId": "ada", "traits": {"plan": "pro"}})),
        msg("a5", "laptop", Some("ada"), "2024-05-06T10:00:00.000Z", em, true,
            json!({"type": "track", "event": "Order Completed", "properties": {"order_id": "o-1", "revenue": 120, "currency": "EUR", "cart_id": "c-ada"}})),
        msg("b1", "bob", None, "2024-05-02T09:00:00.000Z", di, false, json!({"type": "page"})),
        msg("b2", "bob", None, "2024-05-02T09:05:00.000Z", di, false,
            json!({"type": "track", "event": "Product Added", "properties": {"cart_id": "c-bob", "product_id": "mug", "quantity": 2}})),
        msg("c1", "cy", None, "2024-05-03T09:00:00.000Z", os, true,
            json!({"type": "track", "event": "Product Added", "properties": {"cart_id": "c-cy", "product_id": "tee", "quantity": 1}})),
        msg("c2", "cy", None, "2024-05-03T09:05:00.000Z", os, true,
            json!({"type": "track", "event": "Order Completed", "properties": {"order_id": "o-2", "total": "30.5", "cart_id": "c-cy"}})),
    ]
}

#[test]
fn attribution_profile_and_segments_from_the_sdks_messages() {
    let c = start();
    // No `sentAt`: the times are taken as they are (no skew correction).
    let r = post(c.addr, "/v1/batch", &json!({"batch": journeys(), "writeKey": "demo"}));
    assert_eq!(r.status, 200, "{}", r.text());

    // Every marketer view needs the admin token.
    for path in ["/reports", "/profiles", "/v1/reports/attribution", "/v1/profiles/ada", "/v1/segments"] {
        assert_eq!(get(c.addr, path).status, 401, "{path}");
        assert_eq!(request(c.addr, "GET", path, &[("Authorization", "Bearer demo")], b"").status, 401, "{path} with the write key");
    }

    let r = admin_get(c.addr, "/v1/reports/attribution?from=2024-05-01&to=2024-05-31");
    assert_eq!(r.status, 200, "{}", r.text());
    let rep = r.json();
    assert_eq!((rep["conversions"].as_u64(), rep["revenue"].as_f64(), rep["withoutTouch"].as_u64()), (Some(2), Some(150.5), Some(0)), "{rep}");
    let credit = |model: &str, channel: &str| {
        rep["models"][model].as_array().unwrap().iter().find(|x| x["channel"] == channel).map(|x| (x["conversions"].as_f64().unwrap(), x["revenue"].as_f64().unwrap()))
    };
    // Ada's order, across her phone and laptop: first touch paid social, last email.
    assert_eq!(credit("first_touch", "paid_social"), Some((1.0, 120.0)));
    assert_eq!(credit("last_non_direct", "email"), Some((1.0, 120.0)));
    assert_eq!(credit("linear", "email"), Some((0.5, 60.0)));
    assert_eq!(credit("position_based", "paid_social"), Some((0.5, 60.0)));
    assert_eq!(credit("last_non_direct", "organic_search"), Some((1.0, 30.5)), "Cy's total as a numeric string");
    // One model, a shorter lookback: the May 1 paid-social touch is out of a 3-day window.
    let r = admin_get(c.addr, "/v1/reports/attribution?from=2024-05-01&to=2024-05-31&model=first_touch&lookbackDays=3").json();
    assert_eq!(r["models"].as_object().unwrap().len(), 1);
    assert!(r["models"]["first_touch"].as_array().unwrap().iter().any(|x| x["channel"] == "email" && x["revenue"] == 120.0), "{r}");
    assert_eq!(admin_get(c.addr, "/v1/reports/attribution?model=nope").status, 400);

    // Ada's profile from any of her ids.
    for id in ["ada", "phone", "laptop"] {
        let p = admin_get(c.addr, &format!("/v1/profiles/{id}"));
        assert_eq!(p.status, 200, "{id}: {}", p.text());
        let p = p.json();
        let mut anon: Vec<&str> = p["ids"]["anonymousIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        anon.sort();
        assert_eq!(anon, ["laptop", "phone"], "{id}");
        assert_eq!(p["ids"]["userIds"], json!(["ada"]));
        assert_eq!(p["traits"], json!({"email": "ada@example.com", "plan": "pro"}), "later identify wins");
        assert_eq!(p["consent"]["categoryPreferences"]["marketing"], true);
        assert_eq!(p["orders"][0]["orderId"], "o-1");
        assert_eq!(p["firstTouch"]["channel"], "paid_social");
        assert_eq!(p["lastTouch"]["channel"], "email");
        assert_eq!(p["timeline"].as_array().unwrap().len(), 5);
    }
    assert_eq!(admin_get(c.addr, "/v1/profiles/nobody").status, 404);

    // Segments.
    let people = |q: &str| -> Vec<String> {
        let r = admin_get(c.addr, &format!("/v1/segments?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        r.json()["people"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
    };
    let mut all = people("");
    all.sort();
    assert_eq!(all, ["ada", "bob", "cy"]);
    assert_eq!(people("firstChannel=paid_social"), ["ada"]);
    assert_eq!(people("abandonedCartHours=24"), ["bob"]);
    assert_eq!(people("abandonedCartHours=24&purpose=marketing"), Vec::<String>::new(), "Bob did not allow marketing");
    let mut mk = people("consent=marketing");
    mk.sort();
    assert_eq!(mk, ["ada", "cy"]);
    assert_eq!(people("did=Order%20Completed&didWithinDays=3650"), ["ada", "cy"]);
    assert_eq!(people("notDid=Order%20Completed&notDidWithinDays=3650"), ["bob"]);
    let csv = admin_get(c.addr, "/v1/segments?firstChannel=organic_search&format=csv");
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    assert!(text.starts_with("id,userIds,anonymousIds,firstChannel"), "{text}");
    assert!(text.lines().nth(1).unwrap().starts_with("cy,,cy,organic_search,"), "{text}");

    // Pages: served with their CSP.
    for path in ["/reports", "/profiles"] {
        let p = admin_get(c.addr, path);
        assert_eq!(p.status, 200);
        assert!(p.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    }
}

#[test]
fn a_scoped_token_reports_only_its_write_keys() {
    let c = start_with(|cfg| {
        cfg.write_keys.push(omnitrail_collector::config::WriteKey::any_origin("other"));
        cfg.admin_tokens.push(omnitrail_collector::admin::AdminToken::parse("other-only-token-00001=other").unwrap());
    });
    assert_eq!(post(c.addr, "/v1/batch", &json!({"batch": journeys(), "writeKey": "demo"})).status, 200);
    let r = request(c.addr, "GET", "/v1/reports/attribution?from=2024-05-01&to=2024-05-31", &[("Authorization", "Bearer other-only-token-00001")], b"");
    assert_eq!(r.json()["conversions"], 0, "the demo key's orders are not this token's");
    let r = request(c.addr, "GET", "/v1/profiles/ada", &[("Authorization", "Bearer other-only-token-00001")], b"");
    assert_eq!(r.status, 404);
    let r = request(c.addr, "GET", "/v1/segments?writeKey=demo", &[("Authorization", "Bearer other-only-token-00001")], b"");
    assert_eq!(r.status, 403);
}
