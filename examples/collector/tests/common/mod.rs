//! Shared test helpers: an in-process collector on 127.0.0.1:0 and a tiny blocking HTTP/1.1
//! client over `std::net::TcpStream` (one request per connection, bounded by timeouts), so the
//! tests exercise the real server over real sockets without a client library.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub mod pg;

use omnitrail_collector::config::{Config, StoreSpec};
use omnitrail_collector::server::Background;
use serde_json::{json, Value};

pub const TS: &str = "2024-05-01T12:00:00.000Z";

pub fn start() -> Background {
    start_with(|_| {})
}

/// Which store the suites run on: `OMNITRAIL_TEST_STORE=postgres` runs them on a private
/// PostgreSQL cluster (see `pg.rs`; each collector gets its own schema), else SQLite.
pub fn on_postgres() -> bool {
    std::env::var("OMNITRAIL_TEST_STORE").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// A collector with the test config, on the store [`on_postgres`] picks (before `f`, so a test
/// that needs a SQLite file still sets its own).
pub fn start_with(f: impl FnOnce(&mut Config)) -> Background {
    let mut c = Config::for_tests();
    if on_postgres() {
        c.store = StoreSpec::parse(&pg::shared().fresh_url());
    }
    f(&mut c);
    Background::start(c).expect("collector starts")
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request; `Err` when the server closed the connection without a response.
pub fn try_request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    let mut has_len = false;
    for (k, v) in headers {
        has_len |= k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // The server may answer (413) and close before reading a big body: ignore write errors.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    if raw.is_empty() {
        read?;
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed without a response"));
    }
    parse_response(&raw)
}

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_request(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn parse_response(raw: &[u8]) -> std::io::Result<Resp> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("non-utf8 head"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("bad status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Resp { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..nl]).ok()?.split(';').next()?.trim(), 16).ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

pub fn post(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    request(addr, "POST", path, &[("Content-Type", "text/plain")], body.to_string().as_bytes())
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"")
}

/// `Authorization: Bearer` with the admin token `Config::for_tests` configures.
pub const ADMIN_AUTH: &str = "Bearer test-admin-token-0123456789";

/// A GET of an admin route (viewer, journeys, metrics) with the test admin token.
pub fn admin_get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[("Authorization", ADMIN_AUTH)], b"")
}

/// A batch body for the `demo` key, built with the SDK's own wire type.
pub fn batch(messages: Vec<Value>) -> Value {
    let b = omnitrail::wire::Batch { batch: messages, sent_at: Some(TS.into()), write_key: Some("demo".into()) };
    serde_json::to_value(b).expect("batch serializes")
}

pub fn track(id: &str, anon: &str, event: &str) -> Value {
    json!({"type": "track", "event": event, "messageId": id, "anonymousId": anon, "timestamp": TS,
           "properties": {"n": 1}, "context": {"sessionId": 1714564800000u64}})
}

pub fn stats(addr: SocketAddr) -> Value {
    get(addr, "/test/stats").json()
}

pub fn messages(addr: SocketAddr) -> Vec<Value> {
    get(addr, "/test/messages").json()["messages"].as_array().cloned().unwrap_or_default()
}
