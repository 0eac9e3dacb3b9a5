//! Counters: the Prometheus metrics of `GET /metrics` (monotonic for the life of the process)
//! and the resettable counters of `GET /test/stats`.
//!
//! Owns: metric names, histogram buckets and the Prometheus text rendering. Must never: block
//! (atomics and short mutexes only), or be reset except the test counters by `/test/reset`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::store::StoreStats;
use crate::validate::Rejection;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Counters behind `GET /test/stats`; `/test/reset` zeroes them.
#[derive(Default)]
pub struct TestCounters {
    /// Ingestion requests, whatever their outcome.
    pub requests: AtomicU64,
    /// Messages in ingestion requests answered 2xx (valid, duplicate and rejected ones).
    pub received: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    /// Ingestion requests answered by an injected fault (status or reset).
    pub faulted: AtomicU64,
    /// Ingestion requests delayed by a hang fault.
    pub hung: AtomicU64,
    /// Ingestion requests whose body arrived gzip-compressed (and decompressed).
    pub compressed: AtomicU64,
    /// Bytes of ingestion request bodies as they arrived (before decompression).
    pub body_bytes: AtomicU64,
    /// The store generation (`Store::reset` starts a new one) that `received`, `duplicates`
    /// and `rejected` describe.
    generation: Mutex<u64>,
}

impl TestCounters {
    /// Counts an answered request's messages. `generation` is the store generation its
    /// messages were committed in (`None`: nothing was committed). A request committed
    /// before the last reset is not counted: the reset removed its rows, even if its handler
    /// gets here after the reset's (the race is real: a commit and a reset can be answered
    /// by the same writer pass). One committed after a reset whose handler has not zeroed
    /// the counters yet zeroes them first.
    pub fn answered(&self, generation: Option<u64>, received: u64, duplicates: u64, rejected: u64) {
        let mut current = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = generation {
            if g < *current {
                return;
            }
            if g > *current {
                self.zero_answered();
                *current = g;
            }
        }
        self.received.fetch_add(received, Relaxed);
        self.duplicates.fetch_add(duplicates, Relaxed);
        self.rejected.fetch_add(rejected, Relaxed);
    }

    /// Zeroes the counters once the store was emptied into `generation`.
    pub fn reset(&self, generation: u64) {
        let mut current = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        for c in [&self.requests, &self.faulted, &self.hung, &self.compressed, &self.body_bytes] {
            c.store(0, Relaxed);
        }
        // Equal: a request committed after this reset got here first and zeroed them already.
        if generation > *current {
            self.zero_answered();
            *current = generation;
        }
    }

    fn zero_answered(&self) {
        for c in [&self.received, &self.duplicates, &self.rejected] {
            c.store(0, Relaxed);
        }
    }
}

/// Connection-level counters (admission and timeouts), rendered in `/metrics`.
#[derive(Default)]
pub struct ConnCounters {
    /// Refused at admission because the client address had too many connections open.
    pub shed_per_ip: AtomicU64,
    /// Refused at admission because every slot had a request in flight.
    pub shed_capacity: AtomicU64,
    /// Closed while idle to make room for a new connection.
    pub evicted: AtomicU64,
    /// Closed because no byte arrived in time after accept.
    pub timeout_first_byte: AtomicU64,
    /// Closed because the request headers did not complete in time.
    pub timeout_header: AtomicU64,
    /// Kept-alive connections closed after waiting too long for their next request.
    pub timeout_keep_alive: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    pub test: TestCounters,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejects: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
    /// Open client connections (gauge).
    pub connections_open: AtomicI64,
    pub conn: ConnCounters,
}

impl Metrics {
    /// Records one finished HTTP request. `route` is a fixed label (not the raw path).
    pub fn request(&self, route: &'static str, status: u16, elapsed: Duration) {
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route, status)).or_insert(0) += 1;
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.latency_sum_us.fetch_add(elapsed.as_micros() as u64, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
    }

    pub fn ingested(&self, stored: u64, duplicates: u64) {
        self.stored.fetch_add(stored, Relaxed);
        self.duplicates.fetch_add(duplicates, Relaxed);
    }

    pub fn rejected(&self, code: &'static str) {
        *self.rejects.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_insert(0) += 1;
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, store: &StoreStats) -> String {
        let mut out = String::new();
        out.push_str("# HELP omnitrail_connections_open Open client connections.\n");
        out.push_str("# TYPE omnitrail_connections_open gauge\n");
        let _ = writeln!(out, "omnitrail_connections_open {}", self.connections_open.load(Relaxed));
        let c = &self.conn;
        out.push_str("# HELP omnitrail_connections_shed_total Connections refused at accept (fast 503, then closed), by reason.\n");
        out.push_str("# TYPE omnitrail_connections_shed_total counter\n");
        let _ = writeln!(out, "omnitrail_connections_shed_total{{reason=\"per_ip\"}} {}", c.shed_per_ip.load(Relaxed));
        let _ = writeln!(out, "omnitrail_connections_shed_total{{reason=\"capacity\"}} {}", c.shed_capacity.load(Relaxed));
        out.push_str("# HELP omnitrail_connections_evicted_total Idle connections closed to make room for new ones.\n");
        out.push_str("# TYPE omnitrail_connections_evicted_total counter\n");
        let _ = writeln!(out, "omnitrail_connections_evicted_total {}", c.evicted.load(Relaxed));
        out.push_str("# HELP omnitrail_connections_timed_out_total Connections closed by a timeout, by phase.\n");
        out.push_str("# TYPE omnitrail_connections_timed_out_total counter\n");
        let _ = writeln!(out, "omnitrail_connections_timed_out_total{{phase=\"first_byte\"}} {}", c.timeout_first_byte.load(Relaxed));
        let _ = writeln!(out, "omnitrail_connections_timed_out_total{{phase=\"header\"}} {}", c.timeout_header.load(Relaxed));
        let _ = writeln!(out, "omnitrail_connections_timed_out_total{{phase=\"keep_alive\"}} {}", c.timeout_keep_alive.load(Relaxed));
        out.push_str("# HELP omnitrail_store_commits_total SQLite transactions committed with ingests (group commits).\n");
        out.push_str("# TYPE omnitrail_store_commits_total counter\n");
        let _ = writeln!(out, "omnitrail_store_commits_total {}", store.commits.load(Relaxed));
        out.push_str("# HELP omnitrail_store_committed_requests_total Ingest requests committed; / commits = mean group size.\n");
        out.push_str("# TYPE omnitrail_store_committed_requests_total counter\n");
        let _ = writeln!(out, "omnitrail_store_committed_requests_total {}", store.committed_requests.load(Relaxed));
        out.push_str("# HELP omnitrail_store_failed_commits_total Transactions that failed to commit (answered 503).\n");
        out.push_str("# TYPE omnitrail_store_failed_commits_total counter\n");
        let _ = writeln!(out, "omnitrail_store_failed_commits_total {}", store.failed_commits.load(Relaxed));
        out.push_str("# HELP omnitrail_store_panics_total Store jobs that met a bug (answered with an error; the store went on).\n");
        out.push_str("# TYPE omnitrail_store_panics_total counter\n");
        let _ = writeln!(out, "omnitrail_store_panics_total {}", store.panics.load(Relaxed));
        out.push_str("# HELP omnitrail_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE omnitrail_http_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "omnitrail_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP omnitrail_messages_stored_total Messages newly stored.\n");
        out.push_str("# TYPE omnitrail_messages_stored_total counter\n");
        let _ = writeln!(out, "omnitrail_messages_stored_total {}", self.stored.load(Relaxed));
        out.push_str("# HELP omnitrail_messages_duplicate_total Messages ignored as duplicates of a stored messageId.\n");
        out.push_str("# TYPE omnitrail_messages_duplicate_total counter\n");
        let _ = writeln!(out, "omnitrail_messages_duplicate_total {}", self.duplicates.load(Relaxed));
        out.push_str("# HELP omnitrail_messages_rejected_total Messages rejected by validation, by reason.\n");
        out.push_str("# TYPE omnitrail_messages_rejected_total counter\n");
        let rejects = self.rejects.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for code in Rejection::CODES {
            let n = rejects.get(code).copied().unwrap_or(0);
            let _ = writeln!(out, "omnitrail_messages_rejected_total{{reason=\"{code}\"}} {n}");
        }
        out.push_str("# HELP omnitrail_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE omnitrail_http_request_duration_seconds histogram\n");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "omnitrail_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                self.latency_buckets[i].load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(out, "omnitrail_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "omnitrail_http_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "omnitrail_http_request_duration_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(c: &TestCounters) -> (u64, u64, u64) {
        (c.received.load(Relaxed), c.duplicates.load(Relaxed), c.rejected.load(Relaxed))
    }

    #[test]
    fn a_commit_from_before_a_reset_is_not_counted_after_it() {
        let c = TestCounters::default();
        c.answered(Some(0), 10, 0, 0);
        // A replay committed in generation 0 (all duplicates), then the store is reset into
        // generation 1, and the reset's handler zeroes the counters before the replay's
        // handler records it.
        c.reset(1);
        c.answered(Some(0), 10, 10, 0);
        assert_eq!(answered(&c), (0, 0, 0), "its rows are gone: it must not count");
        c.answered(Some(1), 3, 0, 1);
        assert_eq!(answered(&c), (3, 0, 1));
    }

    #[test]
    fn a_commit_after_a_reset_counts_even_if_recorded_before_the_resets_handler() {
        let c = TestCounters::default();
        c.answered(Some(0), 10, 0, 0);
        c.requests.store(5, Relaxed);
        // The store is reset into generation 1, a new request commits in it and records
        // before the reset's handler runs.
        c.answered(Some(1), 4, 1, 0);
        assert_eq!(answered(&c), (4, 1, 0), "the old counts are zeroed first");
        c.reset(1);
        assert_eq!(answered(&c), (4, 1, 0), "and not zeroed again");
        assert_eq!(c.requests.load(Relaxed), 0);
        // Nothing committed (e.g. every message rejected): counted as is.
        c.answered(None, 2, 0, 2);
        assert_eq!(answered(&c), (6, 1, 2));
    }
}
