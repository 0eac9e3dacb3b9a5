//! `loadgen`: a load benchmark for the collector (a program, not a test).
//!
//! Posts Segment batches over loopback HTTP/1.1 keep-alive connections for a fixed time and
//! reports sustained messages/s and request latency percentiles, for unique traffic and for
//! dedup-heavy traffic (a share of the batches are replays of batches already sent, as after
//! SDK retries). By default it starts an in-process collector on a fresh on-disk SQLite file
//! (WAL, `synchronous=FULL`, i.e. the real durability cost); `--url` targets a running one
//! (a collector on either store, or a load balancer in front of several). With `--cpu
//! NAME=PID` it also reads the CPU time (utime + stime, from `/proc`) each named process and its
//! child processes (PostgreSQL's backends, nginx's workers) used during each scenario, and
//! reports messages per CPU-second. Prints a table and writes a JSON result.
//!
//! Owns: traffic generation and measurement. Must never: be run by `cargo test`.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use omnitrail_collector::config::{Config, WriteKey};
use omnitrail_collector::server::Background;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Parser, Debug, Clone)]
#[command(name = "loadgen", about = "Load benchmark for omnitrail-collector")]
struct Args {
    /// Target collector (e.g. http://127.0.0.1:8787); default: start one in-process.
    #[arg(long)]
    url: Option<String>,
    /// Database of the in-process collector (default: a fresh file in the temp dir).
    #[arg(long)]
    db: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Messages per batch.
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// Share of batches that replay an earlier batch in the dedup-heavy scenario.
    #[arg(long, default_value_t = 0.8)]
    dup_ratio: f64,
    #[arg(long, default_value = "demo")]
    write_key: String,
    /// Where to write the JSON result.
    #[arg(long, default_value = "loadgen-result.json")]
    json: String,
    /// Measure a process's CPU time per scenario: `NAME=PID` (repeatable; the same NAME sums,
    /// e.g. `--cpu collector=101 --cpu collector=102 --cpu postgres=200 --cpu nginx=300`). The
    /// process's children count too (a postmaster's backends, nginx's workers); Linux only.
    #[arg(long = "cpu", value_name = "NAME=PID")]
    cpu: Vec<String>,
    /// Names of `--cpu` groups that do the serving (their sum is the denominator of
    /// msgs per CPU-second); default every group.
    #[arg(long, value_delimiter = ',')]
    server_cpu: Vec<String>,
    /// A label for this configuration (e.g. "3×PostgreSQL behind nginx"), printed and in the JSON.
    #[arg(long, default_value = "")]
    label: String,
    /// Only these scenarios (`unique`, `dedup-heavy`); default both.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
}

#[derive(Serialize, Clone, Debug)]
struct ScenarioResult {
    name: String,
    dup_ratio: f64,
    seconds: f64,
    requests: u64,
    errors: u64,
    /// Errors by kind: an HTTP status with the collector's error code, `connect`, `handshake`,
    /// `send` or `body`.
    error_kinds: std::collections::BTreeMap<String, u64>,
    /// Keep-alive connections the server ended with an answer (`Connection: close`), reopened.
    reconnects: u64,
    messages_acked: u64,
    stored: u64,
    duplicates: u64,
    messages_per_sec: f64,
    stored_per_sec: f64,
    requests_per_sec: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// CPU seconds per `--cpu` group during the scenario (and `loadgen` itself).
    cpu_secs: std::collections::BTreeMap<String, f64>,
    /// Messages acknowledged per CPU-second of the serving groups (`--server-cpu`).
    msgs_per_server_cpu_sec: Option<f64>,
}

/// CPU time from `/proc/<pid>/stat` (Linux): (utime + stime, cutime + cstime) in seconds.
fn proc_cpu(pid: u32) -> Option<(f64, f64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `comm` is in parentheses and may contain spaces: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf has no preconditions.
    let tick = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    };
    let ppid = f.get(1)?.parse().ok()?;
    // After ')': state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    Some(((n(11)? + n(12)?) / tick, (n(13)? + n(14)?) / tick, ppid))
}

/// CPU seconds used so far by `root` and its direct children: the root's own time, the time of
/// children it has already reaped (cutime + cstime: e.g. PostgreSQL backends that exited), and
/// the time of the children alive now. Sampled before and after a scenario, the difference is
/// what the process tree used in between (a child started in between begins at 0).
fn tree_cpu(root: u32) -> f64 {
    let Some((own, reaped, _)) = proc_cpu(root) else { return 0.0 };
    let mut total = own + reaped;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some((t, _, ppid)) = proc_cpu(pid) {
                if ppid == root {
                    total += t;
                }
            }
        }
    }
    total
}

/// `--cpu NAME=PID` groups: name → pids.
fn cpu_groups(specs: &[String]) -> Result<Vec<(String, Vec<u32>)>, String> {
    let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
    for spec in specs {
        let (name, pid) = spec.split_once('=').ok_or_else(|| format!("--cpu {spec}: expected NAME=PID"))?;
        let pid: u32 = pid.trim().parse().map_err(|_| format!("--cpu {spec}: PID is not a number"))?;
        if proc_cpu(pid).is_none() {
            return Err(format!("--cpu {spec}: no such process (or no /proc)"));
        }
        match groups.iter_mut().find(|(n, _)| n == name) {
            Some((_, pids)) => pids.push(pid),
            None => groups.push((name.to_string(), vec![pid])),
        }
    }
    Ok(groups)
}

fn sample_cpu(groups: &[(String, Vec<u32>)]) -> std::collections::BTreeMap<String, f64> {
    let mut m: std::collections::BTreeMap<String, f64> =
        groups.iter().map(|(name, pids)| (name.clone(), pids.iter().map(|&p| tree_cpu(p)).sum())).collect();
    m.insert("loadgen".into(), proc_cpu(std::process::id()).map(|(t, _, _)| t).unwrap_or(0.0));
    m
}

#[derive(Default)]
struct WorkerStats {
    latencies_us: Vec<u32>,
    requests: u64,
    errors: u64,
    error_kinds: std::collections::BTreeMap<String, u64>,
    /// Connections the server closed with an answer (`Connection: close`), reopened.
    reconnects: u64,
    acked: u64,
    stored: u64,
    duplicates: u64,
}

impl WorkerStats {
    fn error(&mut self, kind: &str) {
        self.errors += 1;
        *self.error_kinds.entry(kind.to_string()).or_default() += 1;
    }
}

/// Tiny xorshift PRNG: reproducible, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
}

/// One message's JSON, built with `format!` from a fixed template: generating load must cost
/// far less CPU than ingesting it (client and server share the machine).
fn message(run: &str, worker: usize, n: u64, i: usize) -> String {
    const EVENTS: [&str; 5] = ["Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed"];
    let anon = n % 50;
    if i % 5 == 0 {
        format!(
            r#"{{"type":"page","messageId":"{run}-{worker}-{n}-{i}","anonymousId":"{run}-anon-{worker}-{anon}","timestamp":"2024-05-01T12:00:00.000Z","name":"Product","properties":{{"url":"https://shop.example.com/p/123?utm_source=google","path":"/p/123","title":"A product"}},"context":{{"sessionId":1714564800000,"library":{{"name":"omnitrail","version":"0.1.0"}},"page":{{"referrer":"https://www.google.com/"}},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) loadgen","campaign":{{"source":"google","medium":"cpc","name":"spring"}}}}}}"#
        )
    } else {
        let event = EVENTS[i % EVENTS.len()];
        format!(
            r#"{{"type":"track","event":"{event}","messageId":"{run}-{worker}-{n}-{i}","anonymousId":"{run}-anon-{worker}-{anon}","timestamp":"2024-05-01T12:00:00.000Z","properties":{{"product_id":"sku-123","price":19.99,"quantity":1,"currency":"EUR"}},"context":{{"sessionId":1714564800000,"library":{{"name":"omnitrail","version":"0.1.0"}},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) loadgen"}}}}"#
        )
    }
}

fn batch_body(msgs: &[String], write_key: &str) -> String {
    let mut body = String::with_capacity(msgs.iter().map(|m| m.len() + 1).sum::<usize>() + 100);
    body.push_str("{\"batch\":[");
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(m);
    }
    body.push_str("],\"sentAt\":\"2024-05-01T12:00:01.000Z\",\"writeKey\":");
    body.push_str(&Value::String(write_key.to_string()).to_string());
    body.push('}');
    body
}

async fn worker(
    addr: String,
    host: String,
    args: Args,
    run: String,
    worker_id: usize,
    dup_ratio: f64,
    until: Instant,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (worker_id as u64 + 1).wrapping_mul(0x1234_5678_9abc));
    let mut sent: Vec<Bytes> = Vec::new();
    let mut n = 0u64;
    'reconnect: while Instant::now() < until {
        let stream = match tokio::net::TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(_) => {
                stats.error("connect");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(x) => x,
            Err(_) => {
                stats.error("handshake");
                continue;
            }
        };
        tokio::spawn(conn);
        while Instant::now() < until {
            let body = if !sent.is_empty() && rng.chance(dup_ratio) {
                sent[(rng.next() % sent.len() as u64) as usize].clone()
            } else {
                n += 1;
                let msgs: Vec<String> = (0..args.batch_size).map(|i| message(&run, worker_id, n, i)).collect();
                let b = Bytes::from(batch_body(&msgs, &args.write_key));
                if sent.len() < 10_000 {
                    sent.push(b.clone());
                }
                b
            };
            let req = match Request::post("/v1/batch")
                .header("host", &host)
                .header("content-type", "text/plain")
                .body(Full::new(body))
            {
                Ok(r) => r,
                Err(_) => {
                    stats.error("request");
                    continue;
                }
            };
            let started = Instant::now();
            let resp = match sender.send_request(req).await {
                Ok(r) => r,
                Err(_) => {
                    stats.error("send");
                    continue 'reconnect;
                }
            };
            let status = resp.status();
            // A server (or nginx after `keepalive_requests`, 1,000 by default) may end a
            // keep-alive connection with its answer: reconnect before the next request rather
            // than count its failed send as an error.
            let closing = resp.headers().get(hyper::header::CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            let bytes = match resp.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    stats.error("body");
                    continue 'reconnect;
                }
            };
            stats.latencies_us.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
            stats.requests += 1;
            if status.is_success() {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                stats.acked += args.batch_size as u64;
                stats.stored += v["stored"].as_u64().unwrap_or(0);
                stats.duplicates += v["duplicates"].as_u64().unwrap_or(0);
            } else {
                // The status and the collector's error code (`503 storage_unavailable`), or nginx's page.
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                stats.error(&format!("{} {}", status.as_str(), v["error"].as_str().unwrap_or("(not JSON)")));
            }
            if closing {
                stats.reconnects += 1;
                continue 'reconnect;
            }
        }
    }
    stats
}

async fn scenario(name: &str, args: &Args, target: &str, dup_ratio: f64, groups: &[(String, Vec<u32>)]) -> ScenarioResult {
    let addr = target.trim_start_matches("http://").trim_end_matches('/').to_string();
    let run = format!("{name}-{}", std::process::id());
    let cpu_before = sample_cpu(groups);
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration_secs);
    let handles: Vec<_> = (0..args.concurrency)
        .map(|w| tokio::spawn(worker(addr.clone(), addr.clone(), args.clone(), run.clone(), w, dup_ratio, until)))
        .collect();
    let mut all = WorkerStats::default();
    for h in handles {
        if let Ok(s) = h.await {
            all.latencies_us.extend(s.latencies_us);
            all.requests += s.requests;
            all.errors += s.errors;
            all.reconnects += s.reconnects;
            for (k, n) in s.error_kinds {
                *all.error_kinds.entry(k).or_default() += n;
            }
            all.acked += s.acked;
            all.stored += s.stored;
            all.duplicates += s.duplicates;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_after = sample_cpu(groups);
    let cpu_secs: std::collections::BTreeMap<String, f64> =
        cpu_after.iter().map(|(k, v)| (k.clone(), (v - cpu_before.get(k).copied().unwrap_or(0.0)).max(0.0))).collect();
    let server_cpu: f64 = cpu_secs
        .iter()
        .filter(|(k, _)| *k != "loadgen" && (args.server_cpu.is_empty() || args.server_cpu.iter().any(|s| s == *k)))
        .map(|(_, v)| v)
        .sum();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((all.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        all.latencies_us[idx] as f64 / 1000.0
    };
    ScenarioResult {
        name: name.to_string(),
        dup_ratio,
        seconds: secs,
        requests: all.requests,
        errors: all.errors,
        error_kinds: all.error_kinds,
        reconnects: all.reconnects,
        messages_acked: all.acked,
        stored: all.stored,
        duplicates: all.duplicates,
        messages_per_sec: all.acked as f64 / secs,
        stored_per_sec: all.stored as f64 / secs,
        requests_per_sec: all.requests as f64 / secs,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        msgs_per_server_cpu_sec: (!groups.is_empty() && server_cpu > 0.0).then(|| all.acked as f64 / server_cpu),
        cpu_secs,
    }
}

/// The 1-minute load average (Linux), to tell a noisy run from a slow collector.
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn main() {
    let args = Args::parse();
    let groups = match cpu_groups(&args.cpu) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let mut _server = None;
    let mut temp_db = None;
    let target = match &args.url {
        Some(u) => u.clone(),
        None => {
            let db = args.db.clone().unwrap_or_else(|| {
                let p = std::env::temp_dir().join(format!("omnitrail-loadgen-{}.db", std::process::id()));
                temp_db = Some(p.clone());
                p.to_string_lossy().into_owned()
            });
            let mut c = Config::for_tests();
            c.store = omnitrail_collector::config::StoreSpec::parse(&db);
            c.test_control = false;
            c.write_keys = vec![WriteKey::any_origin(&args.write_key)];
            c.max_connections = args.concurrency.max(1) * 2;
            c.max_connections_per_ip = 0; // every worker comes from 127.0.0.1
            let bg = match Background::start(c) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("loadgen: cannot start the collector: {e}");
                    std::process::exit(1);
                }
            };
            let url = bg.url();
            _server = Some(bg);
            url
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "loadgen: {} connections, {} messages/batch, {} s per scenario against {target}{}",
        args.concurrency,
        args.batch_size,
        args.duration_secs,
        if args.label.is_empty() { String::new() } else { format!(" ({})", args.label) }
    );
    let wanted = |n: &str| args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == n);
    let load_before = loadavg();
    let results: Vec<ScenarioResult> = rt.block_on(async {
        let mut v = Vec::new();
        if wanted("unique") {
            v.push(scenario("unique", &args, &target, 0.0, &groups).await);
        }
        if wanted("dedup-heavy") {
            v.push(scenario("dedup-heavy", &args, &target, args.dup_ratio, &groups).await);
        }
        v
    });

    println!(
        "{:<12} {:>6} {:>9} {:>11} {:>11} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "scenario", "dup%", "requests", "msgs/s", "stored/s", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    for r in &results {
        println!(
            "{:<12} {:>6.0} {:>9} {:>11.0} {:>11.0} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            r.name, r.dup_ratio * 100.0, r.requests, r.messages_per_sec, r.stored_per_sec, r.requests_per_sec,
            r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.errors
        );
    }
    for r in results.iter().filter(|r| r.errors > 0 || r.reconnects > 0) {
        println!("{}: errors by kind {:?}, connections closed by the server and reopened: {}", r.name, r.error_kinds, r.reconnects);
    }
    if !groups.is_empty() {
        // CPU per group as a share of one core over the scenario, and msgs per CPU-second.
        let names: Vec<String> = results.first().map(|r| r.cpu_secs.keys().cloned().collect()).unwrap_or_default();
        print!("{:<12}", "CPU (cores)");
        for n in &names {
            print!(" {n:>10}");
        }
        println!(" {:>18}", "msgs/server-CPU-s");
        for r in &results {
            print!("{:<12}", r.name);
            for n in &names {
                print!(" {:>10.2}", r.cpu_secs.get(n).copied().unwrap_or(0.0) / r.seconds);
            }
            println!(" {:>18.0}", r.msgs_per_server_cpu_sec.unwrap_or(0.0));
        }
    }
    let out = json!({
        "label": args.label,
        "target": target,
        "inProcessCollector": args.url.is_none(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "concurrency": args.concurrency,
        "batchSize": args.batch_size,
        "durationSecs": args.duration_secs,
        "durability": if args.url.is_none() { "in-process collector: SQLite WAL, synchronous=FULL, group commit" } else { "the target's (see label)" },
        "cpuGroups": groups.iter().map(|(n, p)| json!({"name": n, "pids": p})).collect::<Vec<_>>(),
        "serverCpuGroups": args.server_cpu,
        // Other work on the machine skews the figures: the 1-minute load average before/after.
        "loadavgBefore": load_before,
        "loadavgAfter": loadavg(),
        "scenarios": results,
    });
    if let (Some(before), Some(after)) = (load_before, loadavg()) {
        println!("load average before/after: {before:.2} / {after:.2} (the load generator itself adds ~1)");
    }
    match std::fs::write(&args.json, serde_json::to_string_pretty(&out).unwrap_or_default()) {
        Ok(()) => eprintln!("loadgen: wrote {}", args.json),
        Err(e) => eprintln!("loadgen: cannot write {}: {e}", args.json),
    }
    drop(_server);
    if let Some(p) = temp_db {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
}
