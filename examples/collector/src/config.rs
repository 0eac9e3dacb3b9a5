//! Runtime configuration: the command-line flags / `OMNITRAIL_*` environment variables, parsed
//! into a plain [`Config`] that the rest of the collector reads.
//!
//! Owns: flag names, defaults, env var names, the `KEY=origin,origin` write-key syntax and the
//! origin allowlist matching. Must never: open sockets or files, or read the environment
//! anywhere but in [`Cli::into_config`]'s caller (`main`) — tests build a [`Config`] directly.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::admin::{AdminToken, AdminTokenError, Scope};
pub use crate::store::StoreSpec;

/// The store when neither `--store` nor `--db` is given: a SQLite file in the working directory.
pub const DEFAULT_STORE: &str = "omnitrail.db";

/// Everything the collector needs to run. Build it with [`Config::for_tests`] in tests.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Where events are stored: a SQLite path (or `:memory:`), or a PostgreSQL URL.
    pub store: StoreSpec,
    pub write_keys: Vec<WriteKey>,
    pub test_control: bool,
    /// Connections counted against the global cap (see `conn_limits`): at the cap the
    /// longest-idle connection is evicted, or the newcomer is shed when all are busy.
    pub max_connections: usize,
    /// Open connections per client IP address; more are shed at once. 0 = unlimited.
    pub max_connections_per_ip: usize,
    /// A new connection that sends no byte within this is closed.
    pub first_byte_timeout: Duration,
    /// Time to send a request's headers: from the connection's first byte for its first
    /// request, from the end of the previous response on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request in flight for this long is closed.
    pub keep_alive_timeout: Duration,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub shutdown_grace: Duration,
    /// Name of the SDK's anonymous-id cookie that `POST /v1/identity` re-issues.
    pub cookie_name: String,
    /// `Domain` attribute of the re-issued cookie (the registrable domain); host-only when None.
    pub cookie_domain: Option<String>,
    /// Always mark the re-issued cookie `Secure` (otherwise only when `X-Forwarded-Proto: https`).
    pub cookie_secure: bool,
    /// Write structured logs (one line per request, lifecycle events) to stderr.
    pub logging: bool,
    /// HMAC secret of the per-user cart tokens (`/v1/cart/{userId}`); the cart endpoint is
    /// disabled (404) without it.
    pub cart_secret: Option<String>,
    /// Tokens that may read people's data (viewer, journeys, metrics); none: those routes
    /// answer 403 `admin_disabled`. See `admin.rs`.
    pub admin_tokens: Vec<AdminToken>,
    /// Messages per second each write key may send (a token bucket holding `rate_burst`);
    /// past it, requests are answered 429 with `Retry-After`. `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Never mark the re-issued identity cookie `Secure`, even off localhost (plain-http
    /// deployments and tests only).
    pub cookie_insecure: bool,
    /// Delete events older than this (received time), and the rows derived from them;
    /// `None`: keep everything. See `retention.rs`.
    pub retention: Option<Retention>,
}

/// How long events are kept (`--retention-days`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub days: u32,
    /// How often the purge runs (it also runs shortly after start).
    pub every: Duration,
}
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_sec: f64,
    pub burst: f64,
}

/// The admin token `Config::for_tests` configures (tests send it as `Bearer`).
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-0123456789";

impl Config {
    /// An in-memory collector on an ephemeral loopback port with test control on and the
    /// default `demo` key.
    pub fn for_tests() -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: StoreSpec::Sqlite(":memory:".into()),
            write_keys: vec![WriteKey::any_origin("demo")],
            test_control: true,
            max_connections: 256,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            first_byte_timeout: Duration::from_millis(DEFAULT_FIRST_BYTE_TIMEOUT_MS),
            header_read_timeout: Duration::from_millis(DEFAULT_HEADER_TIMEOUT_MS),
            keep_alive_timeout: Duration::from_millis(DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
            shutdown_grace: Duration::from_secs(5),
            cookie_name: DEFAULT_COOKIE_NAME.into(),
            cookie_domain: None,
            cookie_secure: false,
            logging: false,
            cart_secret: None,
            admin_tokens: vec![AdminToken { token: TEST_ADMIN_TOKEN.into(), scope: Scope::All }],
            rate_limit: None,
            retention: None,
            cookie_insecure: false,
        }
    }

    pub fn key(&self, key: &str) -> Option<&WriteKey> {
        self.write_keys.iter().find(|k| k.key == key)
    }

    /// Whether any write key accepts this origin (used for preflights, which carry no key).
    pub fn any_key_allows(&self, origin: &str) -> bool {
        self.write_keys.iter().any(|k| k.allows(origin))
    }
}

pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_KEEP_ALIVE_TIMEOUT_MS: u64 = 5_000;

/// The SDK's default anonymous-id cookie name (shared through `omnitrail::wire`).
pub const DEFAULT_COOKIE_NAME: &str = omnitrail::wire::DEFAULT_COOKIE_NAME;

/// A write key and the browser origins allowed to send with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteKey {
    pub key: String,
    pub origins: OriginPolicy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPolicy {
    Any,
    /// Exact origins (`https://shop.example.com`) or subdomain wildcards (`https://*.example.com`).
    List(Vec<String>),
}

impl WriteKey {
    pub fn any_origin(key: &str) -> WriteKey {
        WriteKey { key: key.to_string(), origins: OriginPolicy::Any }
    }

    /// Parses `KEY`, `KEY=*` or `KEY=https://a.example,https://*.b.example`.
    /// A bare `KEY` allows any origin.
    pub fn parse(spec: &str) -> Result<WriteKey, ConfigError> {
        let spec = spec.trim();
        let (key, origins) = match spec.split_once('=') {
            Some((k, o)) => (k.trim(), Some(o)),
            None => (spec, None),
        };
        if key.is_empty() {
            return Err(ConfigError::EmptyWriteKey(spec.to_string()));
        }
        // `:` would make the cart token's HMAC input `key:userId` ambiguous (and cannot travel
        // as a Basic auth username); spaces and controls cannot travel in a header.
        if !key.bytes().all(|b| b.is_ascii_graphic() && b != b':' && b != b';' && b != b',') {
            return Err(ConfigError::BadWriteKey(key.to_string()));
        }
        let origins = match origins {
            None => OriginPolicy::Any,
            Some(list) => {
                let items: Vec<String> = list
                    .split(',')
                    .map(|o| normalize_origin(o.trim()))
                    .filter(|o| !o.is_empty())
                    .collect();
                if items.iter().any(|o| o == "*") {
                    OriginPolicy::Any
                } else if items.is_empty() {
                    return Err(ConfigError::EmptyOriginList(key.to_string()));
                } else {
                    OriginPolicy::List(items)
                }
            }
        };
        Ok(WriteKey { key: key.to_string(), origins })
    }

    /// Whether a browser on `origin` may send with this key.
    pub fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            OriginPolicy::Any => true,
            OriginPolicy::List(list) => {
                let origin = normalize_origin(origin);
                list.iter().any(|pattern| origin_matches(pattern, &origin))
            }
        }
    }
}

fn normalize_origin(o: &str) -> String {
    o.trim_end_matches('/').to_ascii_lowercase()
}

fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == origin {
        return true;
    }
    // `scheme://*.domain` matches any subdomain (not the bare domain) on that scheme.
    if let Some((scheme, rest)) = pattern.split_once("://*.") {
        if let Some((o_scheme, o_host)) = origin.split_once("://") {
            return o_scheme == scheme && o_host.ends_with(&format!(".{rest}"));
        }
    }
    false
}

#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    EmptyWriteKey(String),
    EmptyOriginList(String),
    BadWriteKey(String),
    Admin(AdminTokenError),
    BadRateLimit,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::EmptyWriteKey(s) => write!(f, "empty write key in {s:?}"),
            ConfigError::EmptyOriginList(k) => write!(f, "write key {k:?} has an empty origin list"),
            ConfigError::BadWriteKey(k) => {
                write!(f, "write key {k:?} may contain only printable ASCII without spaces, ':', ';' or ','")
            }
            ConfigError::Admin(e) => write!(f, "{e}"),
            ConfigError::BadRateLimit => write!(f, "--rate-limit must be a non-negative number of messages per second"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Command-line flags; each has an `OMNITRAIL_*` environment equivalent.
#[derive(Parser, Debug)]
#[command(name = "omnitrail-collector", version, about = "Omnitrail reference collector (Segment-compatible, SQLite or PostgreSQL)")]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "OMNITRAIL_ADDR", default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,

    /// Where to store events: a SQLite database path (or `:memory:`), or a `postgres://` /
    /// `postgresql://` URL. Default: `omnitrail.db`.
    #[arg(long, env = "OMNITRAIL_STORE")]
    pub store: Option<String>,

    /// PostgreSQL store: most connections this instance holds.
    #[arg(long, env = "OMNITRAIL_PG_POOL_SIZE", default_value_t = crate::store::postgres::DEFAULT_POOL_SIZE)]
    pub pg_pool_size: usize,

    /// PostgreSQL store: longest wait for a free connection before answering 503.
    #[arg(long, env = "OMNITRAIL_PG_POOL_TIMEOUT_MS", default_value_t = crate::store::postgres::DEFAULT_POOL_TIMEOUT_MS)]
    pub pg_pool_timeout_ms: u64,

    /// Delete events received more than this many days ago (and their touches and identity
    /// links; consents and carts are kept); 0 = keep everything.
    #[arg(long, env = "OMNITRAIL_RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u32,

    /// The older name of `--store` (kept for compatibility; `--store` wins when both are set).
    #[arg(long, env = "OMNITRAIL_DB")]
    pub db: Option<String>,

    /// Write key, optionally with its origin allowlist: `KEY`, `KEY=*`,
    /// `KEY=https://shop.example.com,https://*.example.com`. Repeatable; in the env var separate
    /// keys with `;`. Default: `demo` allowing any origin.
    #[arg(long = "write-key", env = "OMNITRAIL_WRITE_KEY", value_delimiter = ';')]
    pub write_keys: Vec<String>,

    /// Enable the /test/* control endpoints (fault injection, stats, message dump, reset).
    #[arg(long, env = "OMNITRAIL_TEST_CONTROL")]
    pub test_control: bool,

    /// Maximum open connections. At the limit the connection idle longest (no request in
    /// flight) is closed to make room; when all are busy, new ones get a fast 503.
    #[arg(long, env = "OMNITRAIL_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,

    /// Maximum open connections per client IP address (more are answered 503 and closed);
    /// 0 = unlimited.
    #[arg(long, env = "OMNITRAIL_MAX_CONNECTIONS_PER_IP", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,

    /// Milliseconds a new connection may stay silent before it is closed.
    #[arg(long, env = "OMNITRAIL_FIRST_BYTE_TIMEOUT_MS", default_value_t = DEFAULT_FIRST_BYTE_TIMEOUT_MS)]
    pub first_byte_timeout_ms: u64,

    /// Milliseconds to send a request's headers (from the first byte, or from the previous
    /// response on a kept-alive connection).
    #[arg(long, env = "OMNITRAIL_HEADER_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_TIMEOUT_MS)]
    pub header_timeout_ms: u64,

    /// Milliseconds a kept-alive connection may wait for its next request.
    #[arg(long, env = "OMNITRAIL_KEEP_ALIVE_TIMEOUT_MS", default_value_t = DEFAULT_KEEP_ALIVE_TIMEOUT_MS)]
    pub keep_alive_timeout_ms: u64,

    /// Milliseconds shutdown waits for in-flight requests.
    #[arg(long, env = "OMNITRAIL_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,

    /// Name of the SDK's anonymous-id cookie, re-issued by POST /v1/identity.
    #[arg(long, env = "OMNITRAIL_COOKIE_NAME", default_value = DEFAULT_COOKIE_NAME)]
    pub cookie_name: String,

    /// `Domain` of the re-issued cookie (your registrable domain, e.g. `example.com`).
    #[arg(long, env = "OMNITRAIL_COOKIE_DOMAIN")]
    pub cookie_domain: Option<String>,

    /// Always set `Secure` on the re-issued cookie (default: only behind `X-Forwarded-Proto: https`).
    #[arg(long, env = "OMNITRAIL_COOKIE_SECURE")]
    pub cookie_secure: bool,

    /// Do not write logs (per-request lines, lifecycle events) to stderr.
    #[arg(long, env = "OMNITRAIL_QUIET")]
    pub quiet: bool,

    /// Secret of the per-user cart tokens (HMAC-SHA256 of `writeKey:userId`); enables
    /// GET/PUT /v1/cart/{userId}.
    #[arg(long, env = "OMNITRAIL_CART_SECRET", hide_env_values = true)]
    pub cart_secret: Option<String>,

    /// Admin token that may read people's data (journey viewer, /v1/journeys, /metrics):
    /// `TOKEN` (every write key) or `TOKEN=key1,key2`; at least 16 characters. Repeatable; in
    /// the env var separate tokens with `;`. Without one, those routes are disabled.
    #[arg(long = "admin-token", env = "OMNITRAIL_ADMIN_TOKEN", value_delimiter = ';', hide_env_values = true)]
    pub admin_tokens: Vec<String>,

    /// Messages per second each write key may send (burst: 10 seconds' worth); past it the
    /// collector answers 429 with Retry-After. 0 = unlimited.
    #[arg(long, env = "OMNITRAIL_RATE_LIMIT", default_value_t = DEFAULT_RATE_LIMIT)]
    pub rate_limit: f64,

    /// Never set `Secure` on the re-issued identity cookie (default: `Secure` unless the
    /// collector is reached as localhost / 127.0.0.1 / [::1] over plain http).
    #[arg(long, env = "OMNITRAIL_COOKIE_INSECURE", conflicts_with = "cookie_secure")]
    pub cookie_insecure: bool,
}

/// Default `--rate-limit`: messages per second per write key.
pub const DEFAULT_RATE_LIMIT: f64 = 5_000.0;
/// Seconds of the rate a write key may send at once.
pub const RATE_BURST_SECS: f64 = 10.0;

impl Cli {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut write_keys = Vec::new();
        for spec in self.write_keys.iter().filter(|s| !s.trim().is_empty()) {
            write_keys.push(WriteKey::parse(spec)?);
        }
        if write_keys.is_empty() {
            write_keys.push(WriteKey::any_origin("demo"));
        }
        if !(self.rate_limit.is_finite() && self.rate_limit >= 0.0) {
            return Err(ConfigError::BadRateLimit);
        }
        let mut admin_tokens = Vec::new();
        for spec in self.admin_tokens.iter().filter(|s| !s.trim().is_empty()) {
            admin_tokens.push(AdminToken::parse(spec).map_err(ConfigError::Admin)?);
        }
        let mut store = StoreSpec::parse(self.store.as_deref().or(self.db.as_deref()).unwrap_or(DEFAULT_STORE));
        if let StoreSpec::Postgres(pg) = &mut store {
            pg.pool_size = self.pg_pool_size.max(1);
            pg.pool_timeout = Duration::from_millis(self.pg_pool_timeout_ms.max(1));
        }
        let config = Config {
            addr: self.addr,
            store,
            retention: (self.retention_days > 0).then_some(Retention { days: self.retention_days, every: Duration::from_secs(3600) }),
            write_keys,
            test_control: self.test_control,
            max_connections: self.max_connections.max(1),
            max_connections_per_ip: self.max_connections_per_ip,
            first_byte_timeout: Duration::from_millis(self.first_byte_timeout_ms.max(1)),
            header_read_timeout: Duration::from_millis(self.header_timeout_ms.max(1)),
            keep_alive_timeout: Duration::from_millis(self.keep_alive_timeout_ms.max(1)),
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            cookie_name: self.cookie_name,
            cookie_domain: self.cookie_domain.filter(|d| !d.is_empty()),
            cookie_secure: self.cookie_secure,
            logging: !self.quiet,
            cart_secret: self.cart_secret.filter(|s| !s.is_empty()),
            admin_tokens,
            rate_limit: (self.rate_limit > 0.0)
                .then_some(RateLimit { per_sec: self.rate_limit, burst: self.rate_limit * RATE_BURST_SECS }),
            cookie_insecure: self.cookie_insecure,
        };
        for t in &config.admin_tokens {
            t.check(&config).map_err(ConfigError::Admin)?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("omnitrail-collector").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn store_flag_selects_the_backend_and_db_stays_an_alias() {
        // Only flags here: the env vars may be set by whoever runs the tests.
        let store = |args: &[&str]| {
            let c = cli(args);
            StoreSpec::parse(c.store.as_deref().or(c.db.as_deref()).unwrap_or(DEFAULT_STORE))
        };
        assert_eq!(store(&["--store", "x.db"]), StoreSpec::Sqlite("x.db".into()));
        assert_eq!(store(&["--db", "y.db"]), StoreSpec::Sqlite("y.db".into()));
        assert_eq!(store(&["--db", "y.db", "--store", ":memory:"]), StoreSpec::Sqlite(":memory:".into()));
        let pg = |url: &str| StoreSpec::Postgres(crate::store::postgres::PgConfig::new(url));
        assert_eq!(store(&["--store", "postgres://u@h/db"]), pg("postgres://u@h/db"));
        assert_eq!(store(&["--store", "PostgreSQL://h/db"]), pg("PostgreSQL://h/db"));
        // A path that merely mentions postgres is still a file.
        assert_eq!(store(&["--store", "./postgres://x"]), StoreSpec::Sqlite("./postgres://x".into()));
        assert_eq!(pg("postgres://u:secret@h:5/db?sslmode=disable").display(), "postgres://u:***@h:5/db");
    }

    #[test]
    fn retention_days_zero_keeps_everything() {
        let c = cli(&["--retention-days", "7"]).into_config().unwrap();
        assert_eq!(c.retention, Some(Retention { days: 7, every: Duration::from_secs(3600) }));
        assert_eq!(cli(&["--retention-days", "0"]).into_config().unwrap().retention, None);
    }

    #[test]
    fn parses_write_key_specs() {
        assert_eq!(WriteKey::parse("k").unwrap().origins, OriginPolicy::Any);
        assert_eq!(WriteKey::parse("k=*").unwrap().origins, OriginPolicy::Any);
        let k = WriteKey::parse("k=https://A.example.com/, https://*.b.com").unwrap();
        assert!(k.allows("https://a.example.com"));
        assert!(k.allows("https://x.b.com"));
        assert!(!k.allows("https://b.com"));
        assert!(!k.allows("http://x.b.com"));
        assert!(!k.allows("https://evil.example"));
        assert!(WriteKey::parse("=x").is_err());
        assert!(WriteKey::parse("k=").is_err());
        assert_eq!(WriteKey::parse("a:b"), Err(ConfigError::BadWriteKey("a:b".into())));
        assert_eq!(WriteKey::parse("a b=*"), Err(ConfigError::BadWriteKey("a b".into())));
    }
}
