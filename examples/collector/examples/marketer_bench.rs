//! Scale benchmark of the marketer's views (a program, not a test):
//! `cargo run --release -p omnitrail-collector --example marketer_bench -- [--people 100000] [--runs 3]`.
//!
//! Fills a fresh on-disk store through the real HTTP ingest path with ~10 events per person
//! (1,000,000 events for 100,000 people by default): realistic journeys — 1–3 devices each,
//! sessions that begin with a touch on a weighted mix of channels, product views, cart adds,
//! sign-ins that link the devices, orders with revenue, consent choices — spread over 60 days.
//! Then times, over `--runs` runs each: the attribution report (all five models, 30 days),
//! one profile, and segment exports (abandoned carts for marketing as CSV; first touch paid
//! social as JSON). Prints a table and writes `target/marketer-bench.json`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use omnitrail_collector::config::{Config, TEST_ADMIN_TOKEN};
use omnitrail_collector::server::Background;
use serde_json::{json, Value};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CHANNELS: [(&str, u64); 9] = [
    ("direct", 25),
    ("organic_search", 25),
    ("paid_search", 12),
    ("paid_social", 10),
    ("organic_social", 8),
    ("email", 8),
    ("referral", 6),
    ("display", 4),
    ("affiliate", 2),
];

fn channel(rng: &mut Rng) -> &'static str {
    let mut x = rng.below(100);
    for (c, w) in CHANNELS {
        if x < w {
            return c;
        }
        x -= w;
    }
    "direct"
}

fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("in range");
    omnitrail_collector::timefmt::format(t)
}

fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {TEST_ADMIN_TOKEN}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let status = String::from_utf8_lossy(&buf[..end]).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, buf[end + 4..].to_vec())
}

/// One person's messages.
fn person(rng: &mut Rng, n: u64, now: i64, out: &mut Vec<Value>) {
    let day = 86_400_000i64;
    let devices: Vec<String> = (0..1 + rng.below(3)).map(|d| format!("p{n}-d{d}")).collect();
    let user = format!("user-{n}");
    let signs_in = rng.chance(40);
    let marketing = rng.chance(60);
    let mut t = now - 60 * day + (rng.below(55 * day as u64) as i64);
    let mut id = 0;
    let mut next_id = |out: &mut Vec<Value>, mut m: Value| {
        id += 1;
        m["messageId"] = json!(format!("m{n}-{id}"));
        out.push(m);
    };
    let sessions = 2 + rng.below(3);
    let mut signed_in = false;
    let mut cart_items = 0;
    for s in 0..sessions {
        let device = &devices[(s as usize) % devices.len()];
        let ch = channel(rng);
        let touch = json!({"channel": ch, "at": iso(t), "campaign": if ch == "direct" { json!({}) } else { json!({"source": ch, "medium": ch, "name": format!("c{}", rng.below(20))}) }});
        let ctx = |t: i64| json!({"sessionId": t, "consent": {"categoryPreferences": {"necessary": true, "analytics": true, "marketing": marketing}}, "omnitrail": {"touch": touch.clone()}});
        let uid = |si: bool| if si { json!(user) } else { Value::Null };
        next_id(out, json!({"type": "page", "anonymousId": device, "userId": uid(signed_in), "timestamp": iso(t), "context": ctx(t), "properties": {"path": "/"}}));
        for _ in 0..rng.below(4) {
            t += 30_000;
            next_id(out, json!({"type": "track", "event": "Product Viewed", "anonymousId": device, "userId": uid(signed_in), "timestamp": iso(t), "context": ctx(t), "properties": {"product_id": format!("sku-{}", rng.below(500))}}));
        }
        if rng.chance(35) {
            t += 30_000;
            cart_items += 1;
            next_id(out, json!({"type": "track", "event": "Product Added", "anonymousId": device, "userId": uid(signed_in), "timestamp": iso(t), "context": ctx(t), "properties": {"cart_id": format!("cart-{n}"), "product_id": "sku-1", "quantity": 1, "price": 20}}));
        }
        if signs_in && (s + 1 == sessions || rng.chance(50)) {
            t += 30_000;
            signed_in = true;
            next_id(out, json!({"type": "identify", "anonymousId": device, "userId": user, "timestamp": iso(t), "context": ctx(t), "traits": {"email": format!("{user}@example.com")}}));
        }
        if cart_items > 0 && rng.chance(30) {
            t += 60_000;
            next_id(out, json!({"type": "track", "event": "Order Completed", "anonymousId": device, "userId": uid(signed_in), "timestamp": iso(t), "context": ctx(t), "properties": {"cart_id": format!("cart-{n}"), "order_id": format!("o-{n}-{s}"), "revenue": 20 * cart_items, "currency": "EUR"}}));
            cart_items = 0;
        }
        t += (1 + rng.below(5)) as i64 * day;
    }
}

fn time_it<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        last = Some(f());
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], last.expect("runs >= 1"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, dflt: u64| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(dflt);
    let people = arg("--people", 100_000);
    let runs = arg("--runs", 3) as usize;
    // `--keep DIR`: keep the filled database there and reuse it on the next run (no refill).
    let keep = args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1)).map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("omnitrail-marketer-bench-{}", std::process::id())));
    let reuse = keep.is_some() && dir.join("bench.db").exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::for_tests();
    config.store = omnitrail_collector::config::StoreSpec::Sqlite(dir.join("bench.db").to_string_lossy().into_owned());
    config.test_control = false;
    let server = Background::start(config).expect("collector starts");
    let now = 1_780_000_000_000i64; // a fixed "now" (2026-05-28), so runs are comparable
    let mut rng = Rng(0xB0B5);
    let t0 = Instant::now();
    let (mut events, mut batch, mut requests) = (0u64, Vec::new(), 0u64);
    for n in 0..if reuse { 0 } else { people } {
        person(&mut rng, n, now, &mut batch);
        if batch.len() >= 400 || n + 1 == people {
            events += batch.len() as u64;
            let body = json!({"batch": std::mem::take(&mut batch), "writeKey": "demo"}).to_string();
            let (status, resp) = http(server.addr, "POST", "/v1/batch", body.as_bytes());
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
            requests += 1;
        }
    }
    let fill_s = t0.elapsed().as_secs_f64();
    eprintln!("filled {events} events of {people} people in {requests} requests, {fill_s:.1} s");
    let to = iso(now);
    let from = iso(now - 30 * 86_400_000);
    let report_path = format!("/v1/reports/attribution?from={from}&to={to}");
    let (report_ms, report) = time_it(runs, || http(server.addr, "GET", &report_path, b""));
    assert_eq!(report.0, 200);
    let report: Value = serde_json::from_slice(&report.1).unwrap();
    let (profile_ms, profile) = time_it(runs, || http(server.addr, "GET", "/v1/profiles/p7-d0", b""));
    let profile_status = profile.0;
    let (abandoned_ms, abandoned) = time_it(runs, || http(server.addr, "GET", "/v1/segments?abandonedCartHours=24&purpose=marketing&format=csv", b""));
    assert_eq!(abandoned.0, 200);
    let abandoned_rows = abandoned.1.iter().filter(|b| **b == b'\n').count().saturating_sub(1);
    let (social_ms, social) = time_it(runs, || http(server.addr, "GET", "/v1/segments?firstChannel=paid_social", b""));
    let social: Value = serde_json::from_slice(&social.1).unwrap_or(Value::Null);
    let db_bytes = std::fs::metadata(dir.join("bench.db")).map(|m| m.len()).unwrap_or(0);
    println!("| what | median ms ({runs} runs) | result |");
    println!("| --- | ---: | --- |");
    println!("| fill (HTTP ingest, {events} events, {people} people) | {:.0} | {requests} requests, {:.0} events/s, db {} MB |", fill_s * 1000.0, events as f64 / fill_s, db_bytes / 1_000_000);
    println!("| attribution report, 5 models, 30 days | {report_ms:.0} | {} conversions, revenue {} |", report["conversions"], report["revenue"]);
    println!("| profile (person 7, from a device id) | {profile_ms:.0} | HTTP {profile_status} |");
    println!("| segment: abandoned carts ≥ 24 h, marketing consent, CSV | {abandoned_ms:.0} | {abandoned_rows} people |");
    println!("| segment: first touch paid social, JSON | {social_ms:.0} | {} people |", social["count"]);
    let result = json!({
        "people": people, "events": events, "requests": requests, "fillSeconds": fill_s, "dbBytes": db_bytes,
        "attributionReportMs": report_ms, "conversions": report["conversions"], "profileMs": profile_ms,
        "abandonedSegmentMs": abandoned_ms, "abandonedPeople": abandoned_rows, "paidSocialSegmentMs": social_ms, "paidSocialPeople": social["count"],
        "runs": runs,
    });
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/marketer-bench.json");
    let _ = std::fs::write(out, serde_json::to_string_pretty(&result).unwrap_or_default());
    drop(server);
    // Where the report's time goes: loading the rows vs computing the credit.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let spec = omnitrail_collector::store::StoreSpec::Sqlite(dir.join("bench.db").to_string_lossy().into_owned());
    let (store, thread) = rt.block_on(omnitrail_collector::store::Store::open(&spec)).unwrap();
    let q = omnitrail_collector::store::AttributionQuery {
        keys: None,
        events: vec!["Order Completed".into()],
        from: from.clone(),
        to: to.clone(),
        touches_from: iso(now - 60 * 86_400_000),
    };
    let (load_ms, rows) = time_it(runs, || rt.block_on(store.attribution_rows(q.clone())).unwrap());
    let models = omnitrail_collector::attribution::Model::ALL;
    let settings = omnitrail_collector::attribution::Settings::default();
    let (compute_ms, _) = time_it(runs, || omnitrail_collector::marketing::attribution_report(&rows, &models, &settings, &from, &to, &q.events));
    println!("| … of which loading rows ({} links, {} touches, {} conversions) | {load_ms:.0} | |", rows.links.len(), rows.touches.len(), rows.conversions.len());
    println!("| … of which computing 5 models | {compute_ms:.0} | |");
    rt.block_on(store.close());
    thread.join();
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
