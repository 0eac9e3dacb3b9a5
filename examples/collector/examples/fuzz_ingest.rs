//! A mutation fuzzer over the collector's ingest path, run for a fixed budget (a program, not a
//! test: `cargo run --release -p omnitrail-collector --example fuzz_ingest -- --seconds 60`).
//!
//! Two targets, both fed mutations of a seed corpus (the golden wire fixtures as batches, the
//! hostile times of issue 18, and encoded carts):
//! - in process: `validate::validate` + `timefmt` on single messages, and the cart codec
//!   (`Cart::decode`, then `merge`, `encode`, `decode` again: the round trip must hold);
//! - over HTTP: whole request bodies to a real collector on 127.0.0.1 (`/v1/batch`,
//!   `/v1/batch?compression=gzip`, `/v1/track`, `/v1/cart/{user}`), which must answer every
//!   request with a status below 500 and stay healthy.
//!
//! A finding is a panic (caught and counted), a 5xx, a lost connection or a failed round trip;
//! the program prints executions and findings, writes `target/fuzz-ingest.json`, and exits 1
//! if it found anything. Deterministic for a given `--seed`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use omnitrail::cart::{Cart, Product};
use omnitrail_collector::cart::token;
use omnitrail_collector::config::Config;
use omnitrail_collector::server::Background;
use omnitrail_collector::{timefmt, validate};

static PANICS: AtomicU64 = AtomicU64::new(0);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens a mutation may insert: the shapes that broke parsers before.
const TOKENS: &[&str] = &[
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "+275760-09-13T00:00:00Z", "2024-02-30T25:61:61Z",
    "1e309", "-0", "18446744073709551616", "null", "true", "[]", "{}", "\"\"", "\"\\u0000\"", "\"\\ud800\"",
    "[[[[[[[[[[[[[[[[", "}}}}", ",", ":", "\"timestamp\":", "\"sentAt\":", "\"originalTimestamp\":", "\"messageId\":",
    "\"type\":\"alias\"", "\"previousId\":", "\"batch\":", "\t", "\n", "\\", "é", "\u{10FFFF}",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 | 3 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            4 if !other.is_empty() => {
                // Splice a piece of another input.
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1).min(256);
                v.splice(at..at, other[from..from + len].iter().copied());
            }
            5 if !v.is_empty() => {
                // Duplicate a slice (grows nesting and repeats keys).
                let end = (at + rng.below(64)).min(v.len());
                let piece = v[at.min(end)..end].to_vec();
                v.splice(at..at, piece);
            }
            _ => {
                let b = [b'"', b'{', b'}', b'[', b']', b'0', b'-', b'.', b'e', 0xff][rng.below(10)];
                v.insert(at, b);
            }
        }
    }
    v.truncate(600 * 1024);
    v
}

fn seeds() -> (Vec<Vec<u8>>, Vec<String>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
    let mut messages: Vec<String> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                messages.push(text);
            }
        }
    }
    messages.push(
        r#"{"type":"track","event":"E","messageId":"m","anonymousId":"a","timestamp":"9999-12-31T23:59:59-01:00"}"#.into(),
    );
    messages.push(r#"{"type":"identify","messageId":"i","anonymousId":"a","userId":"u","originalTimestamp":"0001-01-01T00:00:00Z"}"#.into());
    let mut bodies: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| format!(r#"{{"batch":[{m}],"sentAt":"2024-05-01T12:00:00Z","writeKey":"demo"}}"#).into_bytes())
        .collect();
    bodies.push(format!(r#"{{"batch":[{}],"writeKey":"demo","sentAt":"0001-01-01T00:00:00Z"}}"#, messages.join(",")).into_bytes());
    let mut carts = Vec::new();
    for (i, replica) in ["phone", "laptop", "app"].iter().enumerate() {
        let mut c = Cart::new(replica);
        let now = 1.7e12 + i as f64;
        let _ = c.add(&Product { product_id: "sku-1", variant: "M", name: "Tee\tshirt", price: 19.99, currency: "EUR", properties: r#"{"a":[1]}"# }, 2, now);
        let _ = c.apply_coupon("SPRING", now + 1.0);
        let _ = c.remove("sku-1", "M", Some(1), now + 2.0);
        carts.push(c.encode());
    }
    (bodies, carts)
}

/// One in-process execution: validation + time handling of each message, or the cart codec.
fn in_process(input: &[u8], cart_seed: &str) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    if let Ok(v) = validate::validate(&text) {
        let f = timefmt::format(v.timestamp);
        if timefmt::parse(&f) != Ok(v.timestamp.replace_nanosecond(v.timestamp.millisecond() as u32 * 1_000_000).unwrap_or(v.timestamp)) {
            return Err(format!("timestamp does not round-trip: {f}"));
        }
    }
    let _ = timefmt::parse(&text);
    if let Some(mut a) = Cart::decode(&text, "fuzz") {
        let encoded = a.encode();
        match Cart::decode(&encoded, "fuzz") {
            Some(b) if b == a => {}
            _ => return Err("cart encode/decode does not round-trip".into()),
        }
        if let Some(other) = Cart::decode(cart_seed, "seed") {
            a.merge(&other);
            if Cart::decode(&a.encode(), "fuzz").is_none() {
                return Err("a merged cart does not decode".into());
            }
        }
    }
    Ok(())
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes())?;
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let line = String::from_utf8_lossy(&buf[..buf.len().min(32)]).to_string();
    line.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other(format!("no status in {line:?}")))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(b);
    e.finish().unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, dflt: u64| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(dflt);
    let seconds = arg("--seconds", 30);
    let seed = arg("--seed", 0x5EED);
    std::panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        eprintln!("PANIC: {info}");
    }));
    let mut config = Config::for_tests();
    config.cart_secret = Some("fuzz-secret".into());
    let server = Background::start(config).expect("collector starts");
    let tok = token("fuzz-secret", "demo", "fuzz-user");
    let (bodies, carts) = seeds();
    let messages: Vec<Vec<u8>> = bodies.clone();
    let mut rng = Rng(seed | 1);
    let (mut execs, mut http_execs, mut findings) = (0u64, 0u64, Vec::<String>::new());
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let half = Instant::now() + Duration::from_secs(seconds / 2);
    while Instant::now() < deadline && findings.len() < 20 {
        let corpus: &[Vec<u8>] = &messages;
        let base = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let cart_text = &carts[rng.below(carts.len())];
        // Half of the time in process (fast), half over HTTP (the whole pipeline).
        if Instant::now() < half {
            let input = if rng.below(3) == 0 { mutate(&mut rng, cart_text.as_bytes(), carts[0].as_bytes()) } else {
                // A single message: the first `batch` element of a seed, mutated.
                let text = String::from_utf8_lossy(base);
                let m = text.find("[{").map(|i| &text[i + 1..]).unwrap_or(&text).to_string();
                mutate(&mut rng, m.as_bytes(), other)
            };
            let before = PANICS.load(Ordering::Relaxed);
            match catch_unwind(AssertUnwindSafe(|| in_process(&input, cart_text))) {
                Ok(Ok(())) if PANICS.load(Ordering::Relaxed) == before => {}
                Ok(Ok(())) => findings.push("panic (in process)".into()),
                Ok(Err(e)) => findings.push(format!("{e}: {:?}", String::from_utf8_lossy(&input))),
                Err(_) => findings.push(format!("panic on {:?}", String::from_utf8_lossy(&input[..input.len().min(300)]))),
            }
            execs += 1;
        } else {
            let body = mutate(&mut rng, base, other);
            let (path, headers, payload) = match rng.below(6) {
                0 => ("/v1/batch?compression=gzip".to_string(), String::new(), gzip(&body)),
                1 => ("/v1/track".to_string(), String::new(), body),
                2 => (
                    "/v1/cart/fuzz-user?writeKey=demo".to_string(),
                    format!("X-Omnitrail-Cart-Token: {tok}\r\n"),
                    mutate(&mut rng, cart_text.as_bytes(), other),
                ),
                _ => ("/v1/batch".to_string(), "Content-Type: text/plain\r\n".to_string(), body),
            };
            let method = if path.starts_with("/v1/cart") { "PUT" } else { "POST" };
            match http(server.addr, method, &path, &headers, &payload) {
                Ok(status) => {
                    *statuses.entry(status).or_default() += 1;
                    if status >= 500 {
                        findings.push(format!("{status} for {method} {path}: {:?}", String::from_utf8_lossy(&payload[..payload.len().min(300)])));
                    }
                }
                Err(e) => findings.push(format!("connection error {e} for {path}")),
            }
            http_execs += 1;
            execs += 1;
        }
    }
    let healthy = http(server.addr, "GET", "/healthz", "", b"").ok() == Some(200);
    if !healthy {
        findings.push("collector unhealthy after the run".into());
    }
    let panics = PANICS.load(Ordering::Relaxed);
    println!("fuzz_ingest: {seconds} s, seed {seed}: {execs} executions ({http_execs} over HTTP), {panics} panics, {} findings", findings.len());
    println!("statuses: {statuses:?}");
    for f in &findings {
        println!("FINDING: {f}");
    }
    let json = serde_json::json!({
        "seconds": seconds, "seed": seed, "executions": execs, "httpExecutions": http_execs,
        "panics": panics, "findings": findings, "statuses": statuses, "healthy": healthy,
    });
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/fuzz-ingest.json");
    let _ = std::fs::write(out, serde_json::to_string_pretty(&json).unwrap_or_default());
    drop(server);
    std::process::exit(if findings.is_empty() && panics == 0 { 0 } else { 1 });
}
