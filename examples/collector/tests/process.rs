//! The real binary as a child process: the stdout contract, env-var configuration, durability
//! across `kill -9` right after 2xx answers, and graceful shutdown on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omnitrail-collector"));
    cmd.args(["--addr", "127.0.0.1:0", "--quiet"]).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn collector");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("read stdout");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address");
    Proc { child, addr }
}

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("omnitrail-collector-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("events.db")
}

#[test]
fn env_vars_configure_the_binary() {
    let p = spawn(&["--db", ":memory:"], &[("OMNITRAIL_WRITE_KEY", "k1;k2=https://a.example"), ("OMNITRAIL_TEST_CONTROL", "true")]);
    let mut b = batch(vec![track("e1", "a", "E")]);
    b["writeKey"] = json!("k2");
    let body = b.to_string();
    assert_eq!(request(p.addr, "POST", "/v1/batch", &[("Origin", "https://a.example")], body.as_bytes()).status, 200);
    assert_eq!(request(p.addr, "POST", "/v1/batch", &[("Origin", "https://b.example")], body.as_bytes()).status, 403);
    b["writeKey"] = json!("demo"); // the default key is gone once keys are configured
    assert_eq!(post(p.addr, "/v1/batch", &b).status, 401);
    assert_eq!(stats(p.addr)["stored"], 1);
}

#[test]
fn kill_9_after_2xx_loses_nothing() {
    let db = temp_db("kill9");
    // On PostgreSQL (OMNITRAIL_TEST_STORE=postgres) the same test through `--store URL`.
    let db_arg = if on_postgres() { pg::shared().fresh_url() } else { db.to_str().unwrap().to_string() };
    let p = spawn(&["--store", &db_arg, "--test-control"], &[]);
    let addr = p.addr;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                for n in 0..10_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let ids: Vec<String> = (0..20).map(|i| format!("w{w}-b{n}-m{i}")).collect();
                    let body = batch(ids.iter().map(|id| track(id, "a", "E")).collect()).to_string();
                    match try_request(addr, "POST", "/v1/batch", &[], body.as_bytes()) {
                        Ok(r) if r.status == 200 => acked.lock().unwrap().extend(ids),
                        _ => break, // killed mid-request: not acknowledged, may or may not be stored
                    }
                }
            })
        })
        .collect();
    // Let some batches through, then SIGKILL while requests are in flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 400 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(p); // Child::kill = SIGKILL
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 400, "only {} acknowledged", acked.len());

    let p = spawn(&["--store", &db_arg, "--test-control"], &[]);
    let stored: std::collections::HashSet<String> = messages(p.addr)
        .iter()
        .filter_map(|m| m["messageId"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost, e.g. {:?}", lost.len(), lost.first());
    // And a replay after the restart is recognised as duplicates.
    let r = post(p.addr, "/v1/batch", &batch(vec![track(&acked[0], "a", "E")])).json();
    assert_eq!((r["stored"].as_u64(), r["duplicates"].as_u64()), (Some(0), Some(1)));
    drop(p);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[test]
fn sigterm_finishes_in_flight_requests() {
    let db = temp_db("sigterm");
    let db_arg = db.to_str().unwrap().to_string();
    let mut p = spawn(&["--db", &db_arg, "--test-control"], &[]);
    let addr = p.addr;
    post(addr, "/test/fault", &json!({"mode":"hang"}));
    let in_flight = std::thread::spawn(move || post(addr, "/v1/batch", &batch(vec![track("term-1", "a", "E")])).status);
    std::thread::sleep(Duration::from_millis(300)); // the request is now hanging inside the server
    let pid = p.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(in_flight.join().unwrap(), 200, "in-flight request must be answered");
    // Exits by itself, successfully, within a bounded time.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    drop(p);
    let p = spawn(&["--db", &db_arg, "--test-control"], &[]);
    assert_eq!(messages(p.addr).len(), 1);
    drop(p);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[test]
fn an_unreachable_postgresql_store_at_start_is_an_error_that_hides_the_password() {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_omnitrail-collector"))
        .args(["--addr", "127.0.0.1:0"])
        .env("OMNITRAIL_STORE", "postgres://u:hunter2@127.0.0.1:1/db")
        .env_remove("OMNITRAIL_DB")
        .stdin(Stdio::null())
        .output()
        .expect("run collector");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on stdout: {:?}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("postgres://u:***@127.0.0.1:1/db"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
}
