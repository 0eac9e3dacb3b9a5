//! Cart sync over real HTTP: merge across devices (never overwrite), the per-user token, write
//! key checks, bad states, CORS, and the endpoint being off without a secret.

mod common;

use common::*;
use omnitrail::cart::{Cart, Product};
use omnitrail_collector::cart::token;
use std::net::SocketAddr;

const SECRET: &str = "s3cret";

fn start_cart() -> omnitrail_collector::server::Background {
    start_with(|c| c.cart_secret = Some(SECRET.into()))
}

fn basic(key: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
}

fn put(addr: SocketAddr, user: &str, tok: &str, body: &str) -> Resp {
    let auth = basic("demo");
    request(
        addr,
        "PUT",
        &format!("/v1/cart/{user}"),
        &[("Authorization", &auth), ("X-Omnitrail-Cart-Token", tok), ("Content-Type", "text/plain")],
        body.as_bytes(),
    )
}

fn device_cart(replica: &str, qty: u32, now: f64) -> String {
    let mut c = Cart::new(replica);
    c.add(&Product { product_id: "sku-1", name: "Mug", price: 12.5, ..Default::default() }, qty, now).unwrap();
    c.encode()
}

#[test]
fn devices_merge_never_overwrite() {
    let c = start_cart();
    let tok = token(SECRET, "demo", "user-42");
    assert_eq!(tok.len(), 64);
    assert!(tok.chars().all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase()));

    // Nothing stored yet.
    let r = request(c.addr, "GET", "/v1/cart/user-42?writeKey=demo", &[("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({"state": "", "cart": null}));

    // Device A adds one mug; device B (which never saw A's state) concurrently adds one too.
    let a = put(c.addr, "user-42", &tok, &device_cart("deviceA", 1, 1_000.0));
    assert_eq!(a.status, 200, "{}", a.text());
    let b_body = serde_json::json!({"state": device_cart("deviceB", 1, 1_001.0)}).to_string();
    let b = put(c.addr, "user-42", &tok, &b_body);
    assert_eq!(b.status, 200, "{}", b.text());
    let merged = Cart::decode(b.json()["state"].as_str().unwrap(), "t").unwrap();
    assert_eq!(merged.quantity("sku-1", ""), 2);

    let r = request(c.addr, "GET", "/v1/cart/user-42", &[("Authorization", &basic("demo")), ("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let stored = Cart::decode(j["state"].as_str().unwrap(), "t").unwrap();
    assert_eq!(stored.quantity("sku-1", ""), 2, "both devices' adds are counted");
    assert!(j["cart"].is_object(), "{j}");
    assert!(j["cart"].to_string().contains("sku-1"), "{j}");

    // Replaying A's state changes nothing (idempotent merge).
    let again = put(c.addr, "user-42", &tok, &device_cart("deviceA", 1, 1_000.0));
    assert_eq!(Cart::decode(again.json()["state"].as_str().unwrap(), "t").unwrap().quantity("sku-1", ""), 2);

    // Another user's cart is separate.
    let tok7 = token(SECRET, "demo", "user-7");
    let r = request(c.addr, "GET", "/v1/cart/user-7?writeKey=demo", &[("X-Omnitrail-Cart-Token", &tok7)], b"");
    assert_eq!(r.json()["state"], "");
}

#[test]
fn token_is_required_and_checked() {
    let c = start_cart();
    let body = device_cart("d", 1, 1.0);
    // Wrong token: another user's, another secret's, garbage.
    for bad in [token(SECRET, "demo", "someone-else"), token("other", "demo", "u"), "zz".into(), String::new()] {
        let r = put(c.addr, "u", &bad, &body);
        assert_eq!(r.status, 403, "{bad:?}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_cart_token");
    }
    // No token at all.
    let r = request(c.addr, "GET", "/v1/cart/u?writeKey=demo", &[], b"");
    assert_eq!(r.status, 403, "{}", r.text());
    let r = request(c.addr, "PUT", "/v1/cart/u", &[("Authorization", &basic("demo"))], body.as_bytes());
    assert_eq!(r.status, 403);
    // Nothing was stored by the refused PUTs.
    let tok = token(SECRET, "demo", "u");
    let r = request(c.addr, "GET", "/v1/cart/u?writeKey=demo", &[("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.json()["state"], "");
}

#[test]
fn unknown_or_missing_write_key_is_401() {
    let c = start_cart();
    let tok = token(SECRET, "nope", "u");
    let r = request(c.addr, "GET", "/v1/cart/u?writeKey=nope", &[("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"], "unknown_write_key");
    let r = request(c.addr, "PUT", "/v1/cart/u", &[("Authorization", &basic("nope")), ("X-Omnitrail-Cart-Token", &tok)], b"x");
    assert_eq!(r.status, 401);
    let r = request(c.addr, "GET", "/v1/cart/u", &[("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.status, 401);
}

#[test]
fn garbage_state_is_400_and_stores_nothing() {
    let c = start_cart();
    let tok = token(SECRET, "demo", "u");
    let valid = device_cart("d", 1, 1.0);
    let truncated = &valid[..valid.len() / 2];
    let garbage: Vec<Vec<u8>> = vec![
        b"garbage".to_vec(),
        b"".to_vec(),
        b"{\"state\": 42}".to_vec(),
        b"{\"state\": \"C1\\tnot a number\"}".to_vec(),
        b"{not json".to_vec(),
        vec![0xff, 0xfe, 0x00],
        truncated.as_bytes().to_vec(),
        format!("{valid}\nzz\t\t\t").into_bytes(),
    ];
    for body in &garbage {
        let r = request(
            c.addr,
            "PUT",
            "/v1/cart/u?writeKey=demo",
            &[("X-Omnitrail-Cart-Token", &tok)],
            body,
        );
        assert!(r.status == 400 || r.status == 200, "{:?}: {} {}", String::from_utf8_lossy(body), r.status, r.text());
        if r.status == 200 {
            // A prefix/extension that still decodes must be a valid cart; it merges fine.
            assert!(Cart::decode(r.json()["state"].as_str().unwrap(), "t").is_some());
        }
    }
    for body in [&b"garbage"[..], b"", b"{\"state\": 42}", b"{not json"] {
        let r = request(c.addr, "PUT", "/v1/cart/v?writeKey=demo", &[("X-Omnitrail-Cart-Token", &token(SECRET, "demo", "v"))], body);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
    }
    let r = request(c.addr, "GET", "/v1/cart/v?writeKey=demo", &[("X-Omnitrail-Cart-Token", &token(SECRET, "demo", "v"))], b"");
    assert_eq!(r.json()["state"], "");
    // Over 1 MB: 413.
    let big = vec![b'a'; 1024 * 1024 + 1];
    let r = request(c.addr, "PUT", "/v1/cart/v?writeKey=demo", &[("X-Omnitrail-Cart-Token", &token(SECRET, "demo", "v"))], &big);
    assert_eq!(r.status, 413);
}

#[test]
fn disabled_without_a_secret() {
    let c = start();
    let tok = token(SECRET, "demo", "u");
    let r = request(c.addr, "GET", "/v1/cart/u?writeKey=demo", &[("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = put(c.addr, "u", &tok, &device_cart("d", 1, 1.0));
    assert_eq!(r.status, 404);
    let r = request(
        c.addr,
        "OPTIONS",
        "/v1/cart/u",
        &[("Origin", "https://shop.example"), ("Access-Control-Request-Method", "PUT")],
        b"",
    );
    assert_eq!(r.status, 403);
}

#[test]
fn cors_preflight_and_origin_echo() {
    let c = start_with(|cfg| {
        cfg.cart_secret = Some(SECRET.into());
        cfg.write_keys = vec![omnitrail_collector::config::WriteKey::parse("demo=https://shop.example").unwrap()];
    });
    let r = request(
        c.addr,
        "OPTIONS",
        "/v1/cart/u",
        &[
            ("Origin", "https://shop.example"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://shop.example"));
    let methods = r.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("GET") && methods.contains("PUT"), "{methods}");
    let allowed = r.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    for h in ["x-omnitrail-cart-token", "authorization", "content-type"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let evil = request(c.addr, "OPTIONS", "/v1/cart/u", &[("Origin", "https://evil.example"), ("Access-Control-Request-Method", "PUT")], b"");
    assert_eq!(evil.status, 403);

    let tok = token(SECRET, "demo", "u");
    let r = request(c.addr, "GET", "/v1/cart/u?writeKey=demo", &[("Origin", "https://shop.example"), ("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://shop.example"));
    // Errors echo the origin too, so the SDK can read them.
    let r = request(c.addr, "GET", "/v1/cart/u?writeKey=demo", &[("Origin", "https://shop.example")], b"");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://shop.example"));
    // A browser on an origin the key does not allow is refused.
    let r = request(c.addr, "GET", "/v1/cart/u?writeKey=demo", &[("Origin", "https://evil.example"), ("X-Omnitrail-Cart-Token", &tok)], b"");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "origin_not_allowed");
}
