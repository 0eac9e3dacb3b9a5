//! Hostile input never takes the collector down: mutated and random bodies on every
//! ingestion endpoint get a well-formed 2xx/4xx JSON answer, and the server stays healthy.

mod common;

use common::*;
use serde_json::json;

/// xorshift: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_and_random_bodies_never_break_the_server() {
    let c = start();
    let seed = batch(vec![
        track("m1", "a", "E"),
        json!({"type":"identify","messageId":"m2","userId":"u","anonymousId":"a","timestamp":TS,"traits":{"email":"x@y"}}),
        json!({"type":"alias","messageId":"m3","previousId":"a","userId":"u","timestamp":TS}),
    ])
    .to_string()
    .into_bytes();
    let paths = ["/v1/batch", "/v1/b", "/v1/track", "/v1/identify", "/v1/alias", "/v1/identity", "/v1/batch?compression=gzip"];
    let nasty: [&[u8]; 8] = [b"\"", b"{", b"]", b"\\u0000", b"\xff\xfe", b"1e999999", b"null", b"[[[[[[[[[[[[[[[["];
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    for round in 0..300 {
        let mut body = seed.clone();
        match round % 4 {
            0 => {
                // Flip random bytes.
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(body.len());
                    body[i] = rng.next() as u8;
                }
            }
            1 => {
                // Splice in nasty tokens.
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(body.len());
                    let tok = nasty[rng.below(nasty.len())];
                    body.splice(i..i, tok.iter().copied());
                }
            }
            2 => {
                // Truncate.
                body.truncate(rng.below(body.len()));
            }
            _ => {
                // Pure noise.
                body = (0..rng.below(2048)).map(|_| rng.next() as u8).collect();
            }
        }
        let path = paths[rng.below(paths.len())];
        let r = request(c.addr, "POST", path, &[("Content-Type", "text/plain")], &body);
        assert!((200..500).contains(&r.status), "round {round}: {path} answered {}: {}", r.status, r.text());
        let j: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("round {round}: non-JSON answer ({e}): {}", r.text()));
        assert!(j.get("ok").is_some(), "round {round}: {j}");
    }
    // Deep nesting beyond serde_json's recursion limit is a clean 400.
    let deep = format!(r#"{{"batch":[{}1{}],"writeKey":"demo"}}"#, "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(request(c.addr, "POST", "/v1/batch", &[], deep.as_bytes()).status, 400);
    assert_eq!(get(c.addr, "/healthz").status, 200);
    // The seed itself still works afterwards.
    assert!(request(c.addr, "POST", "/v1/batch", &[], &seed).status < 300);
}
