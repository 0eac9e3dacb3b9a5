//! Device sync of the cart: when to exchange the cart with the collector's cart endpoint, and
//! what its answers mean.
//!
//! Owns: the sync credentials (the signed-in user and the token the site's backend minted for
//! them), the debounce after local changes, pulls (on connect, at start, when the page becomes
//! visible again), one request in flight, backoff with jitter on failures, giving up on
//! rejections, and the request itself: `PUT {url}/{userId}?writeKey=…` with the encoded cart
//! as body and the token in `X-Omnitrail-Cart-Token`. The collector merges what it receives
//! into the stored cart and answers the merged state, so one `PUT` both pushes and pulls, and
//! a guest cart sent after login merges into the customer's saved cart (nothing is lost:
//! the cart is a CRDT).
//! Must never: perform I/O or read the clock (times are passed in), merge anything itself
//! (the tracker merges the answer), or send a request without credentials.

use crate::config::RetryConfig;
use crate::delivery::{parse_retry_after, Backoff};
use crate::json;

/// Header carrying the per-user cart token.
pub const TOKEN_HEADER: &str = "X-Omnitrail-Cart-Token";
/// A pull is skipped when the last successful sync is more recent than this (ms).
pub const MIN_PULL_INTERVAL_MS: f64 = 5_000.0;

/// Cart options (`config.cart`).
#[derive(Clone, Debug, PartialEq)]
pub struct CartConfig {
    /// The consent category the cart's storage and device sync need. `necessary` (the
    /// default): a cart the shopper filled is a service they asked for, kept whatever they
    /// chose for analytics (its events still follow analytics consent).
    pub category: String,
    /// Base URL of the collector's cart endpoint (`{endpoint}/v1/cart` by default).
    pub sync_url: Option<String>,
    /// Debounce of pushes after local changes (ms).
    pub sync_delay_ms: f64,
}

impl Default for CartConfig {
    fn default() -> Self {
        CartConfig { category: "necessary".into(), sync_url: None, sync_delay_ms: 1_000.0 }
    }
}

/// Who the cart syncs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user_id: String,
    pub token: String,
}

impl Credentials {
    /// The persisted form: `userId \t token`.
    pub fn encode(&self) -> String {
        [self.user_id.as_str(), "\t", self.token.as_str()].concat()
    }
    pub fn decode(s: &str) -> Option<Credentials> {
        let (u, t) = crate::text::rsplit_once(s, b'\t')?;
        (!u.is_empty() && valid_token(t)).then(|| Credentials { user_id: u.to_owned(), token: t.to_owned() })
    }
}

/// A token is printable ASCII without spaces, at most 512 bytes (the reference collector's
/// are 64 hex digits; another backend may use another scheme).
pub fn valid_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 512 && t.bytes().all(|b| b.is_ascii_graphic())
}

/// A request to perform.
#[derive(Clone, Debug, PartialEq)]
pub struct CartRequest {
    pub id: u64,
    /// `PUT` to this URL.
    pub url: String,
    /// The value of [`TOKEN_HEADER`].
    pub token: String,
    /// The encoded cart (`text/plain`).
    pub body: String,
    /// The page is going away: `fetch(..., {keepalive: true})`, the answer will not be read.
    pub keepalive: bool,
}

/// What an answer came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Not the request in flight (an old one, or after a disconnect): ignore.
    Stale,
    /// The collector's merged cart (encoded), to merge into the local one.
    Merged(String),
    /// A failure that is retried later (no answer, 5xx, 429, a garbled 2xx body).
    Retry,
    /// The collector refused the credentials (401/403): sync stops until `connect` again.
    Refused(u16),
    /// Another refusal (404: sync is off at the collector, 400, 413): this change is not
    /// sent again; a later change or pull tries again.
    Rejected(u16),
}

impl SyncOutcome {
    /// The console warning this outcome deserves, if any.
    pub fn warning(&self) -> Option<String> {
        // Concatenation, not `format!`: no `u16` Display and formatting machinery in the wasm.
        let (head, status, tail) = match self {
            SyncOutcome::Refused(status) => (
                "omnitrail: the collector refused the cart token (",
                *status,
                "); cart sync stopped until cart.connect() gets a valid token",
            ),
            SyncOutcome::Rejected(404) => {
                return Some("omnitrail: the collector has no cart endpoint (404: cart sync is off there)".to_owned())
            }
            SyncOutcome::Rejected(status) => ("omnitrail: the collector rejected the cart (", *status, "); not retried"),
            _ => return None,
        };
        let mut s = String::with_capacity(head.len() + tail.len() + 5);
        s.push_str(head);
        json::push_u64(&mut s, u64::from(status));
        s.push_str(tail);
        Some(s)
    }
}

/// Counters for `stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub requests: u64,
    pub merged: u64,
    pub failures: u64,
}

#[derive(Debug)]
pub struct CartSync {
    url: Option<String>,
    write_key: String,
    delay_ms: f64,
    retry: RetryConfig,
    timeout_ms: f64,
    creds: Option<Credentials>,
    /// A push or pull is due at this time (subject to backoff).
    due: Option<f64>,
    /// The request in flight: (id, started).
    in_flight: Option<(u64, f64)>,
    backoff: Backoff,
    next_id: u64,
    last_ok: f64,
    pub stats: SyncStats,
}

impl CartSync {
    pub fn new(url: Option<String>, write_key: &str, delay_ms: f64, retry: RetryConfig, timeout_ms: f64) -> CartSync {
        CartSync {
            url,
            write_key: write_key.to_owned(),
            delay_ms,
            retry,
            timeout_ms,
            creds: None,
            due: None,
            in_flight: None,
            backoff: Backoff::default(),
            next_id: 1,
            last_ok: f64::NEG_INFINITY,
            stats: SyncStats::default(),
        }
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.creds.as_ref()
    }

    /// Starts syncing as `creds` (a new user or token): a sync is due now.
    pub fn connect(&mut self, creds: Credentials, now: f64) {
        if self.creds.as_ref() != Some(&creds) {
            self.creds = Some(creds);
            self.in_flight = None;
            self.backoff = Backoff::default();
            self.last_ok = f64::NEG_INFINITY;
        }
        self.due = Some(now);
    }

    /// Stops syncing (logout, another user, consent withdrawn, refused token).
    pub fn disconnect(&mut self) {
        self.creds = None;
        self.due = None;
        self.in_flight = None;
    }

    /// The cart changed here: push after the debounce delay.
    pub fn local_change(&mut self, now: f64) {
        if self.creds.is_some() {
            let at = now + self.delay_ms;
            self.due = Some(self.due.map_or(at, |d| d.min(at)));
        }
    }

    /// Fetch what other devices did (the page became visible again), unless the last
    /// successful exchange is more recent than [`MIN_PULL_INTERVAL_MS`].
    pub fn pull(&mut self, now: f64) {
        if self.creds.is_some() && now - self.last_ok >= MIN_PULL_INTERVAL_MS {
            self.due = Some(now);
        }
    }

    /// Asks for an exchange now (`cart.sync()`); returns the id of the request that will carry
    /// it (answers to earlier requests do not count), or `None` when not connected.
    pub fn sync_now(&mut self, now: f64) -> Option<u64> {
        self.creds.as_ref()?;
        self.due = Some(now);
        Some(self.next_id)
    }

    /// Connectivity is back: a sync waiting out a backoff goes now.
    pub fn on_online(&mut self) {
        self.backoff.not_before = f64::NEG_INFINITY;
    }

    /// True while a sync is due or in flight.
    pub fn busy(&self) -> bool {
        self.creds.is_some() && (self.due.is_some() || self.in_flight.is_some())
    }

    /// The request to perform now, if any; `body` renders the encoded cart.
    pub fn poll(&mut self, now: f64, body: impl FnOnce() -> String) -> Option<CartRequest> {
        if let Some((_, started)) = self.in_flight {
            if now - started <= self.timeout_ms + 5_000.0 {
                return None;
            }
            // The answer never came: count it failed.
            self.in_flight = None;
            self.fail(now, None, 0.5);
        }
        let due = self.due?;
        if now < due.max(self.backoff.not_before) {
            return None;
        }
        let req = self.request(body(), false)?;
        self.due = None;
        self.in_flight = Some((req.id, now));
        Some(req)
    }

    /// The page is being hidden: a change not yet pushed goes now, with `keepalive`.
    pub fn on_hidden(&mut self, body: impl FnOnce() -> String) -> Option<CartRequest> {
        if self.in_flight.is_some() || self.due.is_none() {
            return None;
        }
        let req = self.request(body(), true)?;
        self.due = None;
        Some(req)
    }

    fn request(&mut self, body: String, keepalive: bool) -> Option<CartRequest> {
        let creds = self.creds.as_ref()?;
        let base = self.url.as_deref()?;
        let mut url = String::with_capacity(base.len() + creds.user_id.len() + self.write_key.len() + 16);
        url.push_str(base);
        url.push('/');
        crate::url::push_encoded(&mut url, &creds.user_id);
        url.push_str("?writeKey=");
        crate::url::push_encoded(&mut url, &self.write_key);
        let id = self.next_id;
        self.next_id += 1;
        self.stats.requests += 1;
        Some(CartRequest { id, url, token: creds.token.clone(), body, keepalive })
    }

    /// The answer to request `id`: HTTP status (0: none), `Retry-After`, the body of a 2xx.
    /// `unit` is a uniform random number in `[0, 1)` (the backoff jitter).
    pub fn on_response(&mut self, id: u64, status: u16, retry_after: Option<&str>, body: Option<&str>, now: f64, unit: f64) -> SyncOutcome {
        if self.in_flight.map(|f| f.0) != Some(id) {
            return SyncOutcome::Stale;
        }
        self.in_flight = None;
        match status {
            200..=299 => match body.and_then(|b| json::member(b, "state")).and_then(json::string_value) {
                Some(state) => {
                    self.backoff.succeed();
                    self.last_ok = now;
                    self.stats.merged += 1;
                    SyncOutcome::Merged(state)
                }
                None => {
                    self.fail(now, None, unit);
                    SyncOutcome::Retry
                }
            },
            401 | 403 => {
                self.stats.failures += 1;
                self.disconnect();
                SyncOutcome::Refused(status)
            }
            408 | 425 | 429 | 500..=599 | 0 => {
                self.fail(now, retry_after.and_then(parse_retry_after), unit);
                SyncOutcome::Retry
            }
            _ => {
                self.stats.failures += 1;
                SyncOutcome::Rejected(status)
            }
        }
    }

    fn fail(&mut self, now: f64, retry_after_ms: Option<f64>, unit: f64) {
        self.stats.failures += 1;
        self.backoff.fail(now, &self.retry, unit, retry_after_ms);
        // Whatever was due stays due; what was in flight is due again (after the backoff).
        self.due = Some(self.due.map_or(now, |d| d.min(now)));
    }

    /// When `poll` should be called again even if nothing else happens.
    pub fn next_wake(&self) -> Option<f64> {
        self.creds.as_ref()?;
        match (self.in_flight, self.due) {
            (Some((_, started)), _) => Some(started + self.timeout_ms + 5_001.0),
            (None, Some(due)) => Some(due.max(self.backoff.not_before)),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync() -> CartSync {
        CartSync::new(Some("http://c.test/v1/cart".into()), "wk", 1_000.0, RetryConfig::default(), 30_000.0)
    }
    fn creds(u: &str) -> Credentials {
        Credentials { user_id: u.into(), token: "ab12".into() }
    }
    fn answer(state: &str) -> String {
        let mut s = String::from("{\"state\":");
        json::push_str(&mut s, state);
        s.push_str(",\"cart\":null}");
        s
    }

    #[test]
    fn nothing_without_credentials() {
        let mut s = sync();
        s.local_change(0.0);
        s.pull(0.0);
        assert_eq!(s.sync_now(0.0), None);
        assert_eq!(s.poll(10_000.0, || "C1".into()), None);
        assert_eq!(s.next_wake(), None);
        assert!(!s.busy());
    }

    #[test]
    fn connect_pulls_at_once_and_builds_the_request() {
        let mut s = sync();
        s.connect(creds("user 42/é"), 100.0);
        assert_eq!(s.next_wake(), Some(100.0));
        let r = s.poll(100.0, || "C1\t1\n".into()).expect("due now");
        assert_eq!(r.url, "http://c.test/v1/cart/user%2042%2F%C3%A9?writeKey=wk");
        assert_eq!((r.token.as_str(), r.body.as_str(), r.keepalive), ("ab12", "C1\t1\n", false));
        assert_eq!(s.poll(100.0, || unreachable!()), None, "one in flight");
        let out = s.on_response(r.id, 200, None, Some(&answer("C1\tmerged\n")), 150.0, 0.5);
        assert_eq!(out, SyncOutcome::Merged("C1\tmerged\n".into()));
        assert!(!s.busy());
        assert_eq!(s.on_response(r.id, 200, None, Some(&answer("x")), 151.0, 0.5), SyncOutcome::Stale);
    }

    #[test]
    fn local_changes_are_debounced_and_a_change_during_flight_is_sent_after() {
        let mut s = sync();
        s.connect(creds("u"), 0.0);
        let first = s.poll(0.0, || "a".into()).unwrap();
        s.local_change(10.0);
        s.local_change(500.0);
        assert_eq!(s.poll(600.0, || unreachable!()), None);
        assert_eq!(s.on_response(first.id, 200, None, Some(&answer("m")), 700.0, 0.5), SyncOutcome::Merged("m".into()));
        assert_eq!(s.next_wake(), Some(1_010.0), "the first change's debounce");
        assert_eq!(s.poll(1_000.0, || unreachable!()), None);
        assert!(s.poll(1_010.0, || "b".into()).is_some());
    }

    #[test]
    fn failures_back_off_and_retry_refusals_stop() {
        let mut s = sync();
        s.connect(creds("u"), 0.0);
        let r = s.poll(0.0, || "a".into()).unwrap();
        assert_eq!(s.on_response(r.id, 503, Some("2"), None, 10.0, 0.0), SyncOutcome::Retry);
        assert_eq!(s.next_wake(), Some(2_010.0), "Retry-After");
        let mut offline = sync();
        offline.connect(creds("u"), 0.0);
        let r0 = offline.poll(0.0, || "a".into()).unwrap();
        offline.on_response(r0.id, 0, None, None, 10.0, 0.99);
        assert!(offline.poll(11.0, || "a".into()).is_none(), "backing off");
        offline.on_online();
        assert!(offline.poll(11.0, || "a".into()).is_some(), "online again: at once");
        assert_eq!(s.poll(2_000.0, || unreachable!()), None);
        let r = s.poll(2_010.0, || "a".into()).unwrap();
        assert_eq!(s.on_response(r.id, 200, None, Some("{\"nostate\":1}"), 2_020.0, 0.0), SyncOutcome::Retry, "garbled body");
        let r = s.poll(5_000.0, || "a".into()).unwrap();
        assert_eq!(s.on_response(r.id, 404, None, None, 5_010.0, 0.0), SyncOutcome::Rejected(404));
        assert!(!s.busy(), "not retried");
        s.local_change(6_000.0);
        let r = s.poll(7_000.0, || "a".into()).unwrap();
        assert_eq!(s.on_response(r.id, 403, None, None, 7_010.0, 0.0), SyncOutcome::Refused(403));
        assert_eq!(s.credentials(), None);
        s.local_change(8_000.0);
        assert_eq!(s.poll(20_000.0, || unreachable!()), None);
        assert_eq!(s.stats, SyncStats { requests: 4, merged: 0, failures: 4 });
    }

    #[test]
    fn a_lost_answer_times_out_and_is_retried() {
        let mut s = sync();
        s.connect(creds("u"), 0.0);
        let r = s.poll(0.0, || "a".into()).unwrap();
        assert_eq!(s.next_wake(), Some(35_001.0));
        assert_eq!(s.poll(35_000.0, || unreachable!()), None);
        let again = s.poll(35_001.0, || "a".into());
        assert!(again.is_none(), "backoff after the timeout");
        let again = s.poll(40_000.0, || "a".into()).expect("retried");
        assert_ne!(again.id, r.id);
        assert_eq!(s.on_response(r.id, 200, None, Some(&answer("late")), 40_001.0, 0.0), SyncOutcome::Stale);
    }

    #[test]
    fn pulls_are_rate_limited_and_hidden_pages_push_with_keepalive() {
        let mut s = sync();
        s.connect(creds("u"), 0.0);
        let r = s.poll(0.0, || "a".into()).unwrap();
        s.on_response(r.id, 200, None, Some(&answer("m")), 10.0, 0.0);
        s.pull(1_000.0);
        assert!(!s.busy(), "synced 1 s ago");
        s.pull(5_010.0);
        assert!(s.busy(), "5 s later");
        let ticket = s.sync_now(5_010.0).unwrap();
        assert_eq!(s.poll(5_010.0, || "a".into()).unwrap().id, ticket, "cart.sync() is settled by the next request");
        assert_eq!(s.on_hidden(|| unreachable!()), None, "in flight: nothing more to say");
        let mut s = sync();
        s.connect(creds("u"), 0.0);
        let r = s.poll(0.0, || "a".into()).unwrap();
        s.on_response(r.id, 200, None, Some(&answer("m")), 10.0, 0.0);
        s.local_change(20.0);
        let k = s.on_hidden(|| "b".into()).expect("pending change");
        assert!(k.keepalive);
        assert!(!s.busy());
    }

    #[test]
    fn credentials_round_trip_and_tokens_are_checked() {
        let c = creds("user\u{e9}");
        assert_eq!(Credentials::decode(&c.encode()), Some(c));
        assert_eq!(Credentials::decode("u\t"), None);
        assert_eq!(Credentials::decode("\tab"), None);
        assert_eq!(Credentials::decode("u\ta b"), None);
        assert!(!valid_token(&"a".repeat(513)));
    }
}
