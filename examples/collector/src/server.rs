//! The HTTP server: binding, the accept loop, each connection's life (admission by
//! `conn_limits`, a fast 503 for shed sockets, the first-byte / header / keep-alive timeouts,
//! eviction), the per-request wrapper (connection-reset faults, CORS, metrics, one structured
//! log line), and graceful shutdown (stop accepting, close idle connections, let in-flight
//! requests finish, then close the store).
//!
//! Owns: connection lifecycle and the store thread's lifetime. Must never: contain endpoint
//! logic, wait for a connection slot before `accept` (slow sockets would lock every client
//! out), drop a connection while its request is being handled (except by a reset fault), or
//! close the store before the connections that may still write have finished.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::config::Config;
use crate::conn_limits::{BodyWatch, ConnGuard, ConnTable, RequestGuard, Shed};
use crate::cors;
use crate::faults::FaultKind;
use crate::fields;
use crate::log;
use crate::metrics::Metrics;
use crate::routes::{self, Route};
use crate::state::{AppState, LogInfo, Shared};
use crate::store::{Store, StoreError, StoreThread};

#[derive(Debug)]
pub enum StartError {
    Store(StoreError),
    Bind(SocketAddr, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Store(e) => write!(f, "{e}"),
            StartError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Returned by the service to make hyper drop the connection without answering (a
/// connection-reset fault, or a connection that is being closed).
#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed without an answer")
    }
}

impl std::error::Error for ConnectionReset {}

/// A bound, not yet serving, collector.
pub struct Collector {
    listener: TcpListener,
    state: Shared,
    store_thread: StoreThread,
}

impl Collector {
    /// Opens the store and binds the listener.
    pub async fn bind(config: Config) -> Result<Collector, StartError> {
        let (store, store_thread) = Store::open(&config.store).await.map_err(StartError::Store)?;
        let listener = TcpListener::bind(config.addr).await.map_err(|e| StartError::Bind(config.addr, e))?;
        let state = Arc::new(AppState {
            limiter: crate::ratelimit::RateLimiter::new(config.rate_limit),
            config,
            store,
            faults: Default::default(),
            metrics: Metrics::default(),
            started: Instant::now(),
        });
        Ok(Collector { listener, state, store_thread })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.addr)
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests (bounded by the
    /// configured grace period) and closes the store.
    ///
    /// The loop never waits for a connection slot: every socket is accepted at once and then
    /// admitted, made room for (a connection without a delivered request is evicted), or shed
    /// with a fast 503 by [`ConnTable::admit`]; see `conn_limits`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Collector { listener, state, store_thread } = self;
        let router = routes::router(state.clone());
        let retention =
            state.config.retention.map(|r| crate::retention::spawn(state.store.clone(), r, state.config.logging));
        let table = ConnTable::new(state.config.max_connections, state.config.max_connections_per_ip);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        // Shedding is logged at most every SHED_LOG_EVERY (an attack must not flood the log).
        let mut shed_logged: Option<Instant> = None;
        let mut shed_unlogged = (0u64, 0u64);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        log::warn("accept failed", fields! {"error" => e.to_string()});
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let admitted = match table.admit(peer.ip()) {
                Ok(a) => a,
                Err(reason) => {
                    let counter = match reason {
                        Shed::PerIp => &state.metrics.conn.shed_per_ip,
                        Shed::Capacity => &state.metrics.conn.shed_capacity,
                    };
                    counter.fetch_add(1, Relaxed);
                    shed(stream);
                    match reason {
                        Shed::PerIp => shed_unlogged.0 += 1,
                        Shed::Capacity => shed_unlogged.1 += 1,
                    }
                    if state.config.logging && shed_logged.map_or(true, |t| t.elapsed() >= SHED_LOG_EVERY) {
                        log::warn(
                            "shedding connections",
                            fields! {"perIp" => shed_unlogged.0, "capacity" => shed_unlogged.1, "lastPeer" => peer.ip().to_string()},
                        );
                        shed_logged = Some(Instant::now());
                        shed_unlogged = (0, 0);
                    }
                    continue;
                }
            };
            if admitted.evicted_other {
                state.metrics.conn.evicted.fetch_add(1, Relaxed);
            }
            let _ = stream.set_nodelay(true);
            // Subscribed now, before any shutdown signal, so that shutdown waits for it.
            let watcher = graceful.watcher();
            state.metrics.connections_open.fetch_add(1, Relaxed);
            tokio::spawn(serve_connection(state.clone(), router.clone(), stream, admitted.guard, watcher));
        }
        drop(listener);
        let logging = state.config.logging;
        if logging {
            log::info("shutting down", fields! {"graceMs" => state.config.shutdown_grace.as_millis() as u64});
        }
        state.faults.shutting_down();
        // Connections with no request in flight (idle, silent, or still sending headers) are
        // closed now; those with one finish it and then close (keep-alive is turned off).
        table.evict_all_idle();
        let drained = tokio::time::timeout(state.config.shutdown_grace, graceful.shutdown()).await.is_ok();
        if !drained && logging {
            log::warn("grace period over; abandoning open connections", fields! {});
        }
        if let Some(task) = retention {
            task.abort();
        }
        // Everything acknowledged so far is committed; commit what is queued and stop.
        state.store.close().await;
        drop(router);
        drop(state);
        let _ = tokio::task::spawn_blocking(move || store_thread.join()).await;
        if logging {
            log::info("stopped", fields! {});
        }
    }
}

const SHED_LOG_EVERY: Duration = Duration::from_secs(10);

/// What a shed connection gets: written without reading the request and without waiting (a
/// fresh socket's send buffer always has room), then the socket is closed.
const SHED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\n\
Content-Length: 43\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
\r\n\
{\"ok\":false,\"error\":\"too_many_connections\"}";

fn shed(stream: TcpStream) {
    let _ = stream.try_write(SHED_RESPONSE);
    drop(stream);
}

/// How a connection ended (for the metrics).
enum Ended {
    Closed,
    Evicted,
    FirstByteTimeout,
    HeaderTimeout,
    KeepAliveTimeout,
}

async fn serve_connection(st: Shared, router: axum::Router, stream: TcpStream, guard: ConnGuard, watcher: Watcher) {
    let guard = Arc::new(guard);
    let ended = tokio::select! {
        e = drive(&st, router, stream, guard.clone(), watcher) => e,
        // Only connections without a delivered request are evicted (idle, still sending headers,
        // or a handler waiting for a slow body): dropping `drive` loses nothing acknowledged.
        _ = guard.evicted() => Ended::Evicted,
    };
    let c = &st.metrics.conn;
    match ended {
        Ended::Closed | Ended::Evicted => {}
        Ended::FirstByteTimeout => {
            c.timeout_first_byte.fetch_add(1, Relaxed);
        }
        Ended::HeaderTimeout => {
            c.timeout_header.fetch_add(1, Relaxed);
        }
        Ended::KeepAliveTimeout => {
            c.timeout_keep_alive.fetch_add(1, Relaxed);
        }
    }
    st.metrics.connections_open.fetch_sub(1, Relaxed);
    // `guard` (the connection's place in the table) is released here, after the socket.
}

/// Waits for the first byte, then serves HTTP/1.1 on the connection until it ends.
async fn drive(st: &Shared, router: axum::Router, stream: TcpStream, guard: Arc<ConnGuard>, watcher: Watcher) -> Ended {
    let cfg = &st.config;
    // hyper's header timer starts when hyper first polls the connection; waiting for the first
    // byte here gives silent sockets their own, shorter deadline.
    let mut first = [0u8; 1];
    match tokio::time::timeout(cfg.first_byte_timeout, stream.peek(&mut first)).await {
        Err(_) => return Ended::FirstByteTimeout,
        Ok(Ok(0)) | Ok(Err(_)) => return Ended::Closed,
        Ok(Ok(_)) => {}
    }
    let st2 = st.clone();
    let conn_guard = guard.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let st = st2.clone();
        let router = router.clone();
        let conn_guard = conn_guard.clone();
        async move { handle(st, router, req, &conn_guard).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    let conn = watcher.watch(conn);
    tokio::pin!(conn);
    let keep_alive = cfg.keep_alive_timeout;
    loop {
        // Kept-alive connections (that served a request) idle past `keep_alive` are closed;
        // ones that never completed a request are bounded by the header timeout instead.
        let check_at = match guard.idle_since() {
            Some((since, true)) => since + keep_alive,
            _ => Instant::now() + keep_alive,
        };
        tokio::select! {
            r = &mut conn => {
                return match r {
                    Err(e) if e.is_timeout() => Ended::HeaderTimeout,
                    _ => Ended::Closed,
                };
            }
            _ = tokio::time::sleep_until(check_at.into()) => {
                if guard.expire_if_idle_since(keep_alive) {
                    return Ended::KeepAliveTimeout;
                }
            }
        }
    }
}

/// A response body that keeps its request marked in flight until hyper has written it all
/// (and drops it), so the connection cannot be evicted mid-response.
struct InFlightBody {
    inner: Body,
    _request: RequestGuard,
}

impl hyper::body::Body for InFlightBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that tells the connection table when the handler is waiting for body data
/// (the request is not delivered yet: a slow body is evictable) and when the body has ended.
struct WatchedBody {
    inner: Incoming,
    watch: BodyWatch,
    waiting: bool,
    done: bool,
}

impl WatchedBody {
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            if self.waiting {
                self.watch.done();
            }
        }
    }
}

impl hyper::body::Body for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.finish(),
            Poll::Pending if !this.done && !this.waiting => {
                this.waiting = true;
                this.watch.waiting();
            }
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        // The handler is done with the body (read, refused or abandoned): delivered.
        self.finish();
    }
}

async fn handle(st: Shared, router: axum::Router, req: Request<Incoming>, conn: &ConnGuard) -> Result<Response<Body>, ConnectionReset> {
    // An evicted (or keep-alive-expired) connection is being closed: do not start its request.
    let Some(in_flight) = conn.begin_request() else {
        return Err(ConnectionReset);
    };
    let watch = in_flight.body_watch();
    let req = req.map(|inner| Body::new(WatchedBody { inner, watch, waiting: false, done: false }));
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = Route::classify(&path);
    let origin = req.headers().get("origin").and_then(|o| o.to_str().ok()).map(str::to_string);

    if route == Route::Ingest && method == Method::POST && st.faults.reset_pending() {
        if let Some(FaultKind::Reset) = st.faults.take() {
            use std::sync::atomic::Ordering::Relaxed;
            st.metrics.test.requests.fetch_add(1, Relaxed);
            st.metrics.test.faulted.fetch_add(1, Relaxed);
            st.metrics.request(route.label(), 0, started.elapsed()); // status 0: no response
            if st.config.logging {
                log::info("request", fields! {"method" => method.as_str(), "path" => path, "status" => 0, "error" => "fault_reset"});
            }
            return Err(ConnectionReset);
        }
    }

    let admin = route.needs_admin() && method != Method::OPTIONS;
    let mut resp = if method == Method::OPTIONS {
        cors::preflight(&st, route, req.headers())
    } else if admin {
        match crate::admin::authorize(&st.config, req.headers()) {
            Ok(grant) => {
                let mut req = req;
                req.extensions_mut().insert(grant);
                match router.oneshot(req).await {
                    Ok(r) => r,
                    Err(e) => match e {},
                }
            }
            Err(refused) => refused,
        }
    } else {
        match router.oneshot(req).await {
            Ok(r) => r,
            Err(e) => match e {},
        }
    };
    resp.headers_mut().insert("x-content-type-options", axum::http::HeaderValue::from_static("nosniff"));
    if route.needs_admin() {
        crate::admin::protect(resp.headers_mut());
    }
    if method != Method::OPTIONS {
        cors::apply(&st, route, origin.as_deref(), resp.headers_mut());
    }
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    st.metrics.request(route.label(), status, elapsed);
    if st.config.logging {
        let info = resp.extensions().get::<LogInfo>().cloned().unwrap_or_default();
        let mut f = fields! {
            "method" => method.as_str(),
            "path" => path,
            "status" => status,
            "ms" => (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        };
        let extra = [
            ("origin", origin.map(|o| json!(o))),
            ("writeKey", info.write_key.map(|k| json!(k))),
            ("messages", info.messages.map(|n| json!(n))),
            ("stored", info.stored.map(|n| json!(n))),
            ("duplicates", info.duplicates.map(|n| json!(n))),
            ("rejected", info.rejected.map(|n| json!(n))),
            ("error", info.error.map(|e| json!(e))),
        ];
        for (k, v) in extra {
            if let Some(v) = v {
                f.insert(k.into(), v);
            }
        }
        log::info("request", f);
    }
    Ok(resp.map(|inner| Body::new(InFlightBody { inner, _request: in_flight })))
}

/// A collector running on its own thread and runtime (for tests and the load generator).
/// Dropping it shuts the collector down gracefully and waits for it.
pub struct Background {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn start(config: Config) -> Result<Background, StartError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("omnitrail-collector".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StartError::Bind(config.addr, e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Collector::bind(config).await {
                        Ok(c) => {
                            let _ = ready_tx.send(Ok(c.local_addr()));
                            c.run(async {
                                let _ = stop_rx.await;
                            })
                            .await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| StartError::Bind(SocketAddr::from(([0, 0, 0, 0], 0)), e))?;
        let addr = ready_rx
            .recv()
            .map_err(|_| StartError::Store(StoreError::Closed))??;
        Ok(Background { addr, stop: Some(stop_tx), thread: Some(thread) })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful shutdown, waiting for it to complete.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::SHED_RESPONSE;

    #[test]
    fn the_shed_response_is_well_formed() {
        let text = std::str::from_utf8(SHED_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())), "{head}");
        assert!(head.contains("\r\nRetry-After: 1") && head.contains("\r\nConnection: close"));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "too_many_connections");
    }
}
