//! Connections cannot starve the server: thousands of idle and slow sockets (from many client
//! addresses, 127.0.0.2.., which Linux routes to loopback) do not delay a normal client, the
//! per-address limit sheds at once, and silent, slow or idle kept-alive connections are closed
//! by their timeouts. Real sockets on loopback; every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use omnitrail_collector::conn_limits::raise_nofile_limit;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A client socket bound to `src` (any 127.x.y.z address) connected to `addr`.
async fn connect_from(src: Ipv4Addr, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((src, 0)))?;
    match tokio::time::timeout(Duration::from_secs(2), s.connect(addr)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

fn connect_from_blocking(
    rt: &tokio::runtime::Runtime,
    src: Ipv4Addr,
    addr: SocketAddr,
) -> TcpStream {
    let s = rt
        .block_on(connect_from(src, addr))
        .expect("connects")
        .into_std()
        .unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one response (status line, headers, `Content-Length` body) from a kept-alive socket.
fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + len {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok((status, head));
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// How long until the server closes `s` (EOF or reset), reading at most `limit`.
fn closed_after(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue, // e.g. an error response before the close
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(started.elapsed()), // reset
        }
    }
}

fn metric(addr: SocketAddr, line_prefix: &str) -> f64 {
    let text = admin_get(addr, "/metrics").text();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_prefix)
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no metric {line_prefix} in:\n{text}"))
}

fn normal_batch(addr: SocketAddr, id: &str) -> (u16, Duration) {
    let body = batch(vec![serde_json::json!({"type":"track","event":"x","messageId":id,"anonymousId":"a","timestamp":TS})]).to_string();
    let started = Instant::now();
    let status = try_request(addr, "POST", "/v1/batch", &[], body.as_bytes())
        .map(|r| r.status)
        .unwrap_or(0);
    (status, started.elapsed())
}

#[test]
fn two_thousand_idle_and_slow_sockets_do_not_delay_a_normal_batch() {
    let (_, nofile) = raise_nofile_limit().expect("raise the open-file limit");
    assert!(nofile >= 4096, "this test needs 4096 open files (2,000 client sockets and the server's); ulimit -Hn is {nofile}");
    // Long timeouts: only admission (eviction and per-address shedding) may protect the server.
    let c = start_with(|cfg| {
        cfg.max_connections = 512;
        cfg.max_connections_per_ip = 64;
        cfg.first_byte_timeout = Duration::from_secs(60);
        cfg.header_read_timeout = Duration::from_secs(60);
        cfg.keep_alive_timeout = Duration::from_secs(60);
    });
    let addr = c.addr;
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    // 25 addresses × 80 sockets, each address's opened in a row, so each overruns its limit.
    let (addresses, per_address) = (25u8, 80usize);
    let mut idle = Vec::new();
    let mut connect_errors = 0;
    let opened = Instant::now();
    rt.block_on(async {
        for a in 0..addresses {
            let src = Ipv4Addr::new(127, 0, 0, 2 + a);
            for i in 0..per_address {
                let s = match connect_from(src, addr).await {
                    Ok(s) => s,
                    Err(_) => {
                        connect_errors += 1;
                        continue;
                    }
                };
                match i % 3 {
                    // Silent.
                    0 => idle.push(s),
                    // Slow: one header byte a second, never finishing.
                    1 => {
                        let stop = stop.clone();
                        tokio::spawn(async move {
                            let head = b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Slow: ";
                            for n in 0..120usize {
                                if stop.load(Ordering::Relaxed) {
                                    break;
                                }
                                let byte = if n < head.len() { head[n] } else { b'a' };
                                if s.writable().await.is_err() || s.try_write(&[byte]).is_err() {
                                    break;
                                }
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        });
                    }
                    // A complete request, then silence on the kept-alive connection.
                    _ => {
                        let _ = s.writable().await;
                        let _ = s.try_write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
                        idle.push(s);
                    }
                }
            }
        }
    });
    let opened = opened.elapsed();
    assert!(
        connect_errors < 20,
        "{connect_errors} hostile connects failed"
    );

    let mut times = Vec::new();
    for n in 0..5 {
        let (status, took) = normal_batch(addr, &format!("00000000-0000-4000-8000-00000000000{n}"));
        assert_eq!(
            status, 200,
            "normal batch {n} with 2,000 hostile sockets open"
        );
        times.push(took);
    }
    let healthz = Instant::now();
    assert_eq!(get(addr, "/healthz").status, 200);
    let healthz = healthz.elapsed();
    times.sort();
    eprintln!("2,000 hostile sockets opened in {opened:?}; normal batch latencies (sorted): {times:?}; /healthz {healthz:?}");
    assert!(
        times[0] < Duration::from_millis(100),
        "best of 5 normal batches took {:?}",
        times[0]
    );
    assert!(
        times[4] < Duration::from_secs(1),
        "worst of 5 normal batches took {:?}",
        times[4]
    );

    // Admission did the work: per-address shedding and evictions, and the gauge is bounded.
    assert!(metric(addr, "omnitrail_connections_shed_total{reason=\"per_ip\"}") >= 25.0 * 10.0);
    assert!(metric(addr, "omnitrail_connections_evicted_total") >= 1000.0);
    let open = metric(addr, "omnitrail_connections_open");
    assert!(open <= 512.0 + 16.0, "{open} connections open");

    // Closing the hostile sockets brings the gauge back down (bounded wait).
    stop.store(true, Ordering::Relaxed);
    drop(idle);
    drop(rt); // ends the slow writers, closing their sockets
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = metric(addr, "omnitrail_connections_open");
        if open <= 1.0 {
            break; // the /metrics request's own connection
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still counted after the clients left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slow_request_bodies_cannot_hold_every_slot() {
    // Every slot taken by a request whose body trickles in (the body timeout is 30 s): such
    // requests are not delivered yet, so a new client evicts the oldest of them.
    let c = start_with(|cfg| {
        cfg.max_connections = 32;
        cfg.first_byte_timeout = Duration::from_secs(60);
        cfg.header_read_timeout = Duration::from_secs(60);
    });
    let rt = runtime();
    let src = Ipv4Addr::new(127, 0, 0, 5);
    let slow: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = connect_from_blocking(&rt, src, c.addr);
            s.write_all(
                b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"batch\":[",
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300)); // their handlers now wait for the body
    for n in 0..3 {
        let (status, took) = normal_batch(c.addr, &format!("slow-body-{n}"));
        assert_eq!(
            status, 200,
            "normal batch {n} with every slot held by a slow body"
        );
        assert!(
            took < Duration::from_secs(1),
            "normal batch {n} took {took:?}"
        );
    }
    // The first normal batch evicted the oldest slow body; its slot then stayed free.
    let evicted = metric(c.addr, "omnitrail_connections_evicted_total");
    assert!(evicted >= 1.0, "{evicted} evicted");
    std::thread::sleep(Duration::from_millis(100));
    let closed = slow
        .into_iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 1];
            !matches!((&*s).read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert!(closed >= 1, "no slow body was closed");
}

#[test]
fn the_per_address_limit_sheds_the_65th_connection_with_a_fast_503() {
    let c = start_with(|cfg| {
        cfg.max_connections_per_ip = 64;
        cfg.first_byte_timeout = Duration::from_secs(30);
    });
    let rt = runtime();
    let src = Ipv4Addr::new(127, 0, 0, 9);
    let mut held: Vec<TcpStream> = (0..64)
        .map(|_| connect_from_blocking(&rt, src, c.addr))
        .collect();
    let mut extra = connect_from_blocking(&rt, src, c.addr);
    let started = Instant::now();
    let mut raw = Vec::new();
    let _ = extra.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 503 "), "{text:?}");
    assert!(
        text.contains("Retry-After: 1\r\n") && text.contains("Connection: close\r\n"),
        "{text:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "shedding took {:?}",
        started.elapsed()
    );
    // The first 64 were admitted: nothing was written to them.
    for s in &held {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let r = (&*s).read(&mut b);
        assert!(
            matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{r:?}"
        );
    }
    // Another address is unaffected.
    assert_eq!(get(c.addr, "/healthz").status, 200);
    // Closing one frees a place for that address.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = connect_from_blocking(&rt, src, c.addr);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        if let Ok((status, _)) = read_response(&mut s) {
            if status == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the address never got its place back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        metric(
            c.addr,
            "omnitrail_connections_shed_total{reason=\"per_ip\"}"
        ) >= 1.0
    );
}

#[test]
fn a_silent_connection_is_closed_after_the_first_byte_timeout() {
    let c = start_with(|cfg| cfg.first_byte_timeout = Duration::from_millis(300));
    let mut silent = TcpStream::connect(c.addr).unwrap();
    let took = closed_after(&mut silent, Duration::from_secs(5)).expect("closed");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    // A client that speaks within the timeout is served.
    let mut s = TcpStream::connect(c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().0, 200);
    assert_eq!(
        metric(
            c.addr,
            "omnitrail_connections_timed_out_total{phase=\"first_byte\"}"
        ),
        1.0
    );
}

#[test]
fn slow_headers_are_cut_off_by_the_header_timeout() {
    let c = start_with(|cfg| cfg.header_read_timeout = Duration::from_millis(500));
    let mut s = TcpStream::connect(c.addr).unwrap();
    let started = Instant::now();
    let mut closed = false;
    // One byte every 50 ms: the first byte arrived, the headers never complete.
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .chain([b'a'; 200].iter())
    {
        if s.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = if closed {
        Some(started.elapsed())
    } else {
        closed_after(&mut s, Duration::from_secs(3)).map(|_| started.elapsed())
    };
    let took = took.expect("the slow connection was closed");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    assert_eq!(
        metric(
            c.addr,
            "omnitrail_connections_timed_out_total{phase=\"header\"}"
        ),
        1.0
    );
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let c = start_with(|cfg| {
        cfg.keep_alive_timeout = Duration::from_millis(400);
        cfg.header_read_timeout = Duration::from_secs(10);
    });
    let mut s = TcpStream::connect(c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Keep-alive works within the timeout...
    for _ in 0..2 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s).unwrap().0, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    // ...and an idle connection is closed after it.
    let took = closed_after(&mut s, Duration::from_secs(5)).expect("closed");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    assert_eq!(
        metric(
            c.addr,
            "omnitrail_connections_timed_out_total{phase=\"keep_alive\"}"
        ),
        1.0
    );
}

#[test]
fn shutdown_closes_idle_connections_at_once() {
    let c = start_with(|cfg| {
        cfg.first_byte_timeout = Duration::from_secs(30);
        cfg.shutdown_grace = Duration::from_secs(10);
    });
    let rt = runtime();
    let mut silent = connect_from_blocking(&rt, Ipv4Addr::new(127, 0, 0, 3), c.addr);
    let mut kept = TcpStream::connect(c.addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept).unwrap().0, 200);
    let mut partial = TcpStream::connect(c.addr).unwrap();
    partial.write_all(b"GET /heal").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    c.stop(); // waits for the graceful shutdown
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "shutdown waited {took:?} for idle connections"
    );
    for s in [&mut silent, &mut kept, &mut partial] {
        assert!(closed_after(s, Duration::from_secs(2)).is_some());
    }
}

/// hyper 1's `header_read_timeout` starts when hyper first polls the connection: the server
/// hands the socket to hyper only after its first byte, so the header clock starts there.
#[test]
fn the_header_timeout_starts_at_the_first_byte_not_at_accept() {
    let c = start_with(|cfg| {
        cfg.first_byte_timeout = Duration::from_secs(5);
        cfg.header_read_timeout = Duration::from_millis(200);
    });
    let mut s = TcpStream::connect(c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::thread::sleep(Duration::from_millis(600)); // silent for 3× the header timeout
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().0, 200);
}

/// hyper restarts its header timer as soon as a response is written, so on a kept-alive
/// connection it also bounds the wait for the next request (whichever timeout is shorter).
#[test]
fn the_header_timeout_also_bounds_a_kept_alive_connections_next_request() {
    let c = start_with(|cfg| {
        cfg.keep_alive_timeout = Duration::from_secs(30);
        cfg.header_read_timeout = Duration::from_millis(400);
    });
    let mut s = TcpStream::connect(c.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().0, 200);
    let took = closed_after(&mut s, Duration::from_secs(5)).expect("closed");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    assert_eq!(
        metric(
            c.addr,
            "omnitrail_connections_timed_out_total{phase=\"header\"}"
        ),
        1.0
    );
}
