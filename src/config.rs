//! SDK configuration: every option, its default and its valid range.
//!
//! Owns: option defaults and validation. Must never: read options from JS (the web layer
//! converts), or accept a configuration it cannot honour.

use crate::error::ConfigError;

/// Delivery retry policy: exponential backoff with full jitter, capped.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    /// First backoff ceiling in ms (attempt 1 waits a random time in `[0, base]`).
    pub base_ms: f64,
    /// Cap of the backoff ceiling in ms.
    pub max_ms: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { base_ms: 1_000.0, max_ms: 60_000.0 }
    }
}

/// How batch bodies travel (`compression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Plain JSON text, always: every Segment-compatible collector reads it.
    None,
    /// Negotiated (the default): plain until the endpoint advertised that it reads gzip
    /// (`Accept-Encoding: gzip` on a 2xx, RFC 7694, as the reference collector answers), then
    /// as [`Compression::Gzip`]. Remembered per endpoint across page loads.
    #[default]
    Auto,
    /// Gzip (the browser's `CompressionStream`), marked with `?compression=gzip` and the gzip
    /// magic bytes, without asking: for collectors known to read those.
    Gzip,
}

impl Compression {
    /// Whether a batch body of `len` bytes (uncompressed) goes gzipped: only when configured
    /// (`Auto`: once the endpoint `advertised` gzip), never for an `unload` send (the page
    /// is going away: the request must leave synchronously, and compressing is asynchronous),
    /// and only from [`wire::GZIP_MIN_BYTES`](crate::wire::GZIP_MIN_BYTES) on. The batch
    /// limits (`maxBatchBytes`, the keepalive budget) apply to the uncompressed body either way.
    pub fn applies(self, len: usize, unload: bool, advertised: bool) -> bool {
        let wanted = match self {
            Compression::None => false,
            Compression::Auto => advertised,
            Compression::Gzip => true,
        };
        wanted && !unload && len >= crate::wire::GZIP_MIN_BYTES
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Identifies the source at the collector (Segment's write key).
    pub write_key: String,
    /// Collector base URL, e.g. `https://t.example.com` (no trailing slash needed).
    pub endpoint: String,
    /// Send as soon as this many events are waiting.
    pub flush_at: usize,
    /// Send events at the latest this long (ms) after they were tracked.
    pub flush_interval_ms: f64,
    /// Upper bound of a batch body in bytes (≤ the Segment limit of 500 KB).
    pub max_batch_bytes: usize,
    /// Upper bound of events in one batch.
    pub max_batch_events: usize,
    /// Bytes of events the outbox keeps in memory; past it the oldest waiting events are
    /// evicted and counted as dropped.
    pub max_queue_bytes: usize,
    /// Bytes of events the outbox writes to storage; events past it stay memory-only until
    /// room frees up.
    pub max_persist_bytes: usize,
    pub retry: RetryConfig,
    /// Namespace of every storage key (versioned).
    pub storage_prefix: String,
    /// A request that has not answered in this many ms is treated as failed and retried.
    pub request_timeout_ms: f64,
    /// Inactivity that ends a session (ms).
    pub session_timeout_ms: f64,
    /// Emit a `Session Started` track event when a session starts.
    pub session_started_event: bool,
    /// Name of the first-party anonymous-id cookie.
    pub cookie_name: String,
    /// `Domain=` of the cookie; by default the registrable domain, found by probing.
    pub cookie_domain: Option<String>,
    /// Lifetime of the cookie (days).
    pub cookie_max_age_days: f64,
    /// The collector's identity endpoint (`…/v1/identity`), asked once per session to
    /// re-issue the cookie server-side (Safari caps script-set cookies at 7 days).
    pub identity_endpoint: Option<String>,
    /// Cross-domain hand-over: domains that share the customer's identity.
    pub link: crate::linker::LinkConfig,
    /// Rewrite clicked links to other linked domains with `decorate`.
    pub auto_decorate: bool,
    /// Query parameters removed from every URL and referrer before they leave the page.
    pub redact_params: Vec<String>,
    /// Custom channel rules (tried before the preset's table), the preset (GA4's default
    /// channel group, or it with our heuristics) and internal hosts.
    pub channels: crate::channel::ChannelConfig,
    /// Recent touchpoints kept in the journey.
    pub max_touches: usize,
    /// Track events that carry the whole journey (`context.omnitrail.journey`).
    pub conversion_events: Vec<String>,
    /// Page views the SDK sends by itself.
    pub page_views: PageViews,
    /// Consent categories, mode, GPC/DNT handling and the pre-consent buffer.
    pub consent: crate::consent::ConsentConfig,
    /// No cookies; the identity lives in memory only (a new anonymous id per page load
    /// unless the site or a native app provides one).
    pub cookieless: bool,
    /// The shared cart: consent category, device sync endpoint and debounce.
    pub cart: crate::cart_sync::CartConfig,
    /// In a native app's web view, hand batches to the app (bridge `batch` messages) instead
    /// of sending them.
    pub native_events: bool,
    /// Gzip batch bodies before sending them (see [`Compression::applies`]).
    pub compression: Compression,
}

/// Automatic page views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageViews {
    /// A page view when the SDK starts, unless the page calls `page()` itself first.
    pub on_load: bool,
    /// A page view on `history.pushState`/`replaceState`/`popstate` to a new URL.
    pub on_route_change: bool,
    /// Fragment changes count as new URLs (hash routers).
    pub on_hash_change: bool,
    /// `data-ot-event` elements send their event on click / submit.
    pub declarative: bool,
    /// Clicks on links to other sites send `Outbound Link Clicked`.
    pub outbound_links: bool,
}

impl Config {
    pub fn new(write_key: impl Into<String>, endpoint: impl Into<String>) -> Config {
        Config {
            write_key: write_key.into(),
            endpoint: endpoint.into(),
            flush_at: 20,
            flush_interval_ms: 1_000.0,
            max_batch_bytes: crate::wire::MAX_BATCH_BYTES,
            max_batch_events: 1_000,
            max_queue_bytes: 16 * 1024 * 1024,
            max_persist_bytes: 1024 * 1024,
            retry: RetryConfig::default(),
            storage_prefix: "ot1".into(),
            request_timeout_ms: 30_000.0,
            session_timeout_ms: 30.0 * 60_000.0,
            session_started_event: false,
            cookie_name: crate::wire::DEFAULT_COOKIE_NAME.into(),
            cookie_domain: None,
            cookie_max_age_days: 365.0,
            identity_endpoint: None,
            link: crate::linker::LinkConfig { linked_domains: Vec::new(), max_age_ms: 120_000.0 },
            auto_decorate: false,
            redact_params: crate::text::owned(crate::url::DEFAULT_REDACT_PARAMS),
            channels: crate::channel::ChannelConfig::default(),
            max_touches: crate::journey::DEFAULT_MAX_TOUCHES,
            conversion_events: crate::text::owned(crate::journey::DEFAULT_CONVERSION_EVENTS),
            page_views: PageViews { on_load: true, on_route_change: true, on_hash_change: false, declarative: true, outbound_links: false },
            consent: crate::consent::ConsentConfig::default(),
            cookieless: false,
            cart: crate::cart_sync::CartConfig::default(),
            native_events: false,
            compression: Compression::Auto,
        }
    }

    /// Checks every option; the endpoint loses a trailing slash.
    pub fn validated(mut self) -> Result<Config, ConfigError> {
        if self.write_key.trim().is_empty() {
            return Err(ConfigError::MissingWriteKey);
        }
        while self.endpoint.ends_with('/') {
            self.endpoint.pop();
        }
        let e = &self.endpoint;
        let rest = e.strip_prefix("https://").or_else(|| e.strip_prefix("http://"));
        if !rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace)) {
            return Err(ConfigError::InvalidEndpoint(self.endpoint));
        }
        range("flushAt", self.flush_at as f64, 1.0, 10_000.0)?;
        range("flushInterval", self.flush_interval_ms, 0.0, 3_600_000.0)?;
        range("maxBatchBytes", self.max_batch_bytes as f64, 1024.0, crate::wire::MAX_BATCH_BYTES as f64)?;
        range("maxBatchEvents", self.max_batch_events as f64, 1.0, 100_000.0)?;
        range("maxQueueBytes", self.max_queue_bytes as f64, 64.0 * 1024.0, 1024.0 * 1024.0 * 1024.0)?;
        range("maxPersistBytes", self.max_persist_bytes as f64, 0.0, 64.0 * 1024.0 * 1024.0)?;
        range("retry.baseMs", self.retry.base_ms, 1.0, 3_600_000.0)?;
        range("retry.maxMs", self.retry.max_ms, self.retry.base_ms, 86_400_000.0)?;
        range("requestTimeout", self.request_timeout_ms, 100.0, 600_000.0)?;
        range("sessionTimeout", self.session_timeout_ms, 1_000.0, 7.0 * 86_400_000.0)?;
        range("cookieMaxAgeDays", self.cookie_max_age_days, 0.0, 400.0)?;
        range("handoverMaxAge", self.link.max_age_ms, 1_000.0, 86_400_000.0)?;
        range("maxTouches", self.max_touches as f64, 1.0, crate::journey::MAX_TOUCHES_LIMIT as f64)?;
        let cookie_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !cookie_ok(&self.cookie_name) {
            return Err(ConfigError::WrongType { option: "cookieName", expected: "a cookie name of letters, digits, - _ ." });
        }
        if self.cookie_domain.as_deref().is_some_and(|d| !cookie_ok(d)) {
            return Err(ConfigError::WrongType { option: "cookieDomain", expected: "a domain name" });
        }
        if let Some(e) = &self.identity_endpoint {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                return Err(ConfigError::InvalidEndpoint(e.clone()));
            }
        }
        range("cart.syncDelay", self.cart.sync_delay_ms, 0.0, 600_000.0)?;
        if let Some(e) = &self.cart.sync_url {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                return Err(ConfigError::InvalidEndpoint(e.clone()));
            }
        }
        if self.cart.category.is_empty() {
            return Err(ConfigError::WrongType { option: "cart.category", expected: "a consent category name" });
        }
        if self.storage_prefix.is_empty() || self.storage_prefix.contains(['.', ' ']) {
            return Err(ConfigError::WrongType { option: "storagePrefix", expected: "a non-empty string without dots or spaces" });
        }
        Ok(self)
    }

    /// The base URL of the cart endpoint: `cart.syncEndpoint`, else `{endpoint}/v1/cart`.
    pub fn cart_url(&self) -> String {
        self.cart.sync_url.clone().unwrap_or_else(|| [self.endpoint.as_str(), "/v1/cart"].concat())
    }

    /// `{endpoint}/v1/batch`
    pub fn batch_url(&self) -> String {
        let mut u = self.endpoint.clone();
        u.push_str(crate::wire::BATCH_PATH);
        u
    }
}

fn range(option: &'static str, v: f64, min: f64, max: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v >= min && v <= max {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { option, min, max })
    }
}

/// The warning for a second `Omnitrail(config)` in a page where one already runs with the
/// same `storagePrefix` but another write key or endpoint: it shares the running one.
pub fn already_running(prefix: &str) -> String {
    [
        "omnitrail: already running in this page with storagePrefix \"",
        prefix,
        "\" and another writeKey or endpoint: this instance is that one (its configuration is ignored). Give a separate instance its own storagePrefix.",
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_endpoint_is_normalised() {
        let c = Config::new("k", "http://127.0.0.1:8787/").validated().unwrap();
        assert_eq!(c.batch_url(), "http://127.0.0.1:8787/v1/batch");
    }

    #[test]
    fn rejects_bad_options() {
        assert_eq!(Config::new(" ", "http://x").validated(), Err(ConfigError::MissingWriteKey));
        assert!(matches!(Config::new("k", "ftp://x").validated(), Err(ConfigError::InvalidEndpoint(_))));
        assert!(matches!(Config::new("k", "http://").validated(), Err(ConfigError::InvalidEndpoint(_))));
        let mut c = Config::new("k", "http://x");
        c.flush_at = 0;
        assert!(matches!(c.validated(), Err(ConfigError::OutOfRange { option: "flushAt", .. })));
        let mut c = Config::new("k", "http://x");
        c.retry.max_ms = 10.0;
        assert!(matches!(c.validated(), Err(ConfigError::OutOfRange { option: "retry.maxMs", .. })));
    }

    #[test]
    fn gzip_only_when_configured_not_keepalive_and_worth_it() {
        use crate::wire::GZIP_MIN_BYTES as MIN;
        assert_eq!(Config::new("k", "http://x").compression, Compression::Auto, "negotiated by default");
        assert!(!Compression::None.applies(500_000, false, true));
        assert!(Compression::Gzip.applies(MIN, false, false), "gzip: without asking");
        assert!(Compression::Gzip.applies(500 * 1024, false, false));
        assert!(!Compression::Gzip.applies(MIN - 1, false, true), "a body this small is not worth it");
        assert!(!Compression::Auto.applies(500_000, false, false), "auto: plain until advertised");
        assert!(Compression::Auto.applies(MIN, false, true));
        assert!(!Compression::Auto.applies(MIN - 1, false, true));
        // pagehide / visibilitychange: the keepalive request goes out plain, synchronously.
        assert!(!Compression::Gzip.applies(60_000, true, true));
        assert!(!Compression::Auto.applies(60_000, true, true));
    }

    #[test]
    fn batch_limits_bound_the_uncompressed_body_whatever_the_compression() {
        use crate::testing::{ManualClock, MemoryStorage, SeqIds};
        let env = crate::message::Environment {
            user_agent: "UA".into(),
            host: "shop.example.com".into(),
            signals: Default::default(),
            locale: "en".into(),
            timezone: "UTC".into(),
            screen: None,
        };
        let mut cfg = Config::new("k", "https://c.example.com");
        cfg.compression = Compression::Gzip;
        cfg.max_batch_bytes = 8 * 1024;
        let mut t = crate::Tracker::new(cfg, MemoryStorage::default(), ManualClock::at(1.0e12), SeqIds::seeded(1), "t", env);
        t.become_leader();
        let props = format!(r#"{{"pad":"{}"}}"#, "x".repeat(700));
        for _ in 0..30 {
            t.track("E", Some(&props), &crate::CallOptions::default()).unwrap();
        }
        t.flush();
        let s = t.poll().expect("a batch");
        assert!(s.body.len() <= 8 * 1024 && s.events > 1, "{} bytes, {} events", s.body.len(), s.events);
        assert!(t.config().compression.applies(s.body.len(), s.unload, false));
        // What is left goes out on pagehide: within the keepalive budget, and plain.
        let hidden = t.on_hidden(true);
        assert!(!hidden.is_empty());
        for s in hidden {
            assert!(s.keepalive && s.body.len() <= crate::wire::KEEPALIVE_BYTES);
            assert!(!t.config().compression.applies(s.body.len(), s.unload, true));
        }
    }
}
