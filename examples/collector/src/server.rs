//! The HTTP server: binding, the accept loop with its connection limit, the per-request
//! wrapper (connection-reset faults, CORS, metrics, one structured log line), and graceful
//! shutdown (stop accepting, let in-flight requests finish, then close the store).
//!
//! Owns: connection lifecycle and the store thread's lifetime. Must never: contain endpoint
//! logic, or close the store before the connections that may still write have finished.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::Config;
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

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
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
        let (store, store_thread) = Store::open(&config.db).map_err(StartError::Store)?;
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
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Collector { listener, state, store_thread } = self;
        let router = routes::router(state.clone());
        let limit = Arc::new(Semaphore::new(state.config.max_connections));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = &mut shutdown => break,
            };
            let (stream, _peer) = tokio::select! {
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
            let _ = stream.set_nodelay(true);
            let st = state.clone();
            let router = router.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let st = st.clone();
                let router = router.clone();
                async move { handle(st, router, req).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            let gauge = state.clone();
            gauge.metrics.connections_open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = conn.await;
                gauge.metrics.connections_open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                drop(permit);
            });
        }
        drop(listener);
        let logging = state.config.logging;
        if logging {
            log::info("shutting down", fields! {"graceMs" => state.config.shutdown_grace.as_millis() as u64});
        }
        state.faults.shutting_down();
        let drained = tokio::time::timeout(state.config.shutdown_grace, graceful.shutdown()).await.is_ok();
        if !drained && logging {
            log::warn("grace period over; abandoning open connections", fields! {});
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

async fn handle(st: Shared, router: axum::Router, req: Request<Incoming>) -> Result<Response<Body>, ConnectionReset> {
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
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(grant);
                match router.oneshot(req).await {
                    Ok(r) => r,
                    Err(e) => match e {},
                }
            }
            Err(refused) => refused,
        }
    } else {
        match router.oneshot(req.map(Body::new)).await {
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
    Ok(resp)
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
