//! The state shared by every request handler.
//!
//! Owns: nothing but the wiring of config, store handle, faults and metrics. Must never: hold
//! request data, or locks across awaits.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub faults: Faults,
    pub metrics: Metrics,
    pub limiter: RateLimiter,
    pub started: Instant,
}

pub type Shared = Arc<AppState>;

/// Facts a handler attaches to its response for the request log line.
#[derive(Clone, Debug, Default)]
pub struct LogInfo {
    pub write_key: Option<String>,
    pub messages: Option<usize>,
    pub stored: Option<u64>,
    pub duplicates: Option<u64>,
    pub rejected: Option<usize>,
    pub error: Option<&'static str>,
}
