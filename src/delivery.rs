//! Delivery policy: when a batch goes out, and what a response means.
//!
//! Owns: the flush triggers (count, bytes, age, explicit flush), the single in-flight batch,
//! exponential backoff with full jitter, `Retry-After`, the offline pause, and the mapping
//! from HTTP status to [`Outcome`].
//! Must never: perform I/O or read the clock (times are passed in).

use crate::config::RetryConfig;

/// What a delivery attempt came to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// 2xx: the collector has the events.
    Ack,
    /// Try again later; `after_ms` is the server's `Retry-After`, if any.
    Retry { after_ms: Option<f64> },
    /// 413: the body was too large: split it.
    TooLarge,
    /// A non-retryable rejection (400, 401, 403, 422, other 4xx): drop the events.
    Reject,
}

impl Outcome {
    /// Classifies an HTTP response. `status == 0` means no response (network error, CORS
    /// failure, timeout, abort). `retry_after` is the raw `Retry-After` header.
    pub fn from_status(status: u16, retry_after: Option<&str>) -> Outcome {
        match status {
            200..=299 => Outcome::Ack,
            413 => Outcome::TooLarge,
            408 | 425 | 429 => Outcome::Retry { after_ms: retry_after.and_then(parse_retry_after) },
            400..=499 => Outcome::Reject,
            500..=599 => Outcome::Retry { after_ms: retry_after.and_then(parse_retry_after) },
            _ => Outcome::Retry { after_ms: None },
        }
    }
}

/// The collector refused a batch for good (a 4xx other than 408/413/425/429): the events are
/// dropped, and the page's developer must hear why, once per status (a wrong write key gives
/// 401 to every batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub events: usize,
}

impl Refusal {
    /// The console warning, up to the collector's own text, which the web layer appends.
    pub fn message(&self) -> String {
        let hint = match self.status {
            401 => "check `writeKey`: the collector does not know it",
            403 => "check that the collector allows this page's origin for the write key",
            400 | 422 => "the collector could not accept the batch",
            _ => "the collector refuses this endpoint's batches",
        };
        let mut m = String::from("omnitrail: the collector answered HTTP ");
        crate::json::push_u64(&mut m, self.status.into());
        m.push_str(" to a batch (");
        crate::json::push_u64(&mut m, self.events as u64);
        m.push_str(" events dropped, counted in stats().rejected; said once per status): ");
        m.push_str(hint);
        m.push_str(". It said: ");
        m
    }
}

/// `Retry-After` as delay-seconds (HTTP-dates are rare from collectors and ignored: the
/// backoff applies instead). Capped at one hour.
pub fn parse_retry_after(v: &str) -> Option<f64> {
    let secs = crate::json::parse_decimal(v.trim())?;
    Some(secs.min(3600.0) * 1000.0)
}

/// Backoff state between attempts.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    /// Consecutive failed attempts.
    pub failures: u32,
    /// No attempt before this time.
    pub not_before: f64,
}

impl Backoff {
    /// Records a failure at `now`; `unit` is a uniform random number in `[0, 1)`.
    /// Full jitter: wait `unit * min(max, base * 2^(failures-1))`, but never less than the
    /// server's `Retry-After`.
    pub fn fail(&mut self, now: f64, cfg: &RetryConfig, unit: f64, retry_after_ms: Option<f64>) -> f64 {
        self.failures = self.failures.saturating_add(1);
        let ceiling = (cfg.base_ms * 2f64.powi(self.failures.min(30) as i32 - 1)).min(cfg.max_ms);
        let jitter = unit.clamp(0.0, 1.0) * ceiling;
        let delay = retry_after_ms.map_or(jitter, |ra| ra.max(jitter.min(cfg.max_ms)));
        self.not_before = now + delay;
        delay
    }

    pub fn succeed(&mut self) {
        self.failures = 0;
        self.not_before = f64::NEG_INFINITY;
    }
}

/// Inputs of the send decision.
#[derive(Clone, Copy, Debug)]
pub struct Readiness {
    pub waiting: usize,
    pub oldest_age_ms: f64,
    pub waiting_bytes: usize,
    pub flush_requested: bool,
}

/// Thresholds of the send decision.
#[derive(Clone, Copy, Debug)]
pub struct Triggers {
    pub flush_at: usize,
    pub flush_interval_ms: f64,
    pub max_batch_bytes: usize,
}

/// True when waiting events should go out now (ignoring backoff and in-flight limits).
pub fn due(r: Readiness, t: Triggers) -> bool {
    r.waiting > 0
        && (r.flush_requested || r.waiting >= t.flush_at || r.waiting_bytes >= t.max_batch_bytes || r.oldest_age_ms >= t.flush_interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert_eq!(Outcome::from_status(200, None), Outcome::Ack);
        assert_eq!(Outcome::from_status(207, None), Outcome::Ack);
        assert_eq!(Outcome::from_status(429, Some("3")), Outcome::Retry { after_ms: Some(3000.0) });
        assert_eq!(Outcome::from_status(503, Some(" 1.5 ")), Outcome::Retry { after_ms: Some(1500.0) });
        assert_eq!(Outcome::from_status(503, Some("Wed, 21 Oct 2015 07:28:00 GMT")), Outcome::Retry { after_ms: None });
        assert_eq!(Outcome::from_status(500, None), Outcome::Retry { after_ms: None });
        assert_eq!(Outcome::from_status(0, None), Outcome::Retry { after_ms: None });
        assert_eq!(Outcome::from_status(408, None), Outcome::Retry { after_ms: None });
        for s in [400, 401, 403, 404, 422] {
            assert_eq!(Outcome::from_status(s, None), Outcome::Reject, "{s}");
        }
        assert_eq!(Outcome::from_status(413, None), Outcome::TooLarge);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("99999"), Some(3_600_000.0));
    }

    #[test]
    fn a_refusal_says_what_to_check() {
        let m = Refusal { status: 401, events: 3 }.message();
        assert!(m.starts_with("omnitrail: the collector answered HTTP 401 to a batch (3 events dropped"), "{m}");
        assert!(m.contains("writeKey") && m.ends_with("It said: "), "{m}");
        assert!(Refusal { status: 403, events: 1 }.message().contains("origin"));
    }

    #[test]
    fn backoff_is_exponential_capped_and_jittered() {
        let cfg = RetryConfig { base_ms: 1000.0, max_ms: 8000.0 };
        let mut b = Backoff::default();
        // With unit just under 1 the delay approaches the ceiling: 1, 2, 4, 8, 8 s.
        let delays: Vec<f64> = (0..5).map(|_| b.fail(0.0, &cfg, 0.999_999, None)).collect();
        for (d, ceiling) in delays.iter().zip([1000.0, 2000.0, 4000.0, 8000.0, 8000.0]) {
            assert!(*d <= ceiling && *d > ceiling * 0.99, "{d} vs {ceiling}");
        }
        // Full jitter: unit 0 means no wait at all.
        assert_eq!(b.fail(10.0, &cfg, 0.0, None), 0.0);
        b.succeed();
        assert_eq!(b.failures, 0);
        assert!(b.not_before < 0.0);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let cfg = RetryConfig { base_ms: 1000.0, max_ms: 60_000.0 };
        let mut b = Backoff::default();
        assert_eq!(b.fail(100.0, &cfg, 0.1, Some(5000.0)), 5000.0);
        assert_eq!(b.not_before, 5100.0);
        // A Retry-After longer than the cap is still honoured.
        assert_eq!(b.fail(0.0, &cfg, 0.0, Some(120_000.0)), 120_000.0);
    }

    #[test]
    fn triggers() {
        let t = Triggers { flush_at: 20, flush_interval_ms: 1000.0, max_batch_bytes: 1000 };
        let r = Readiness { waiting: 1, oldest_age_ms: 0.0, waiting_bytes: 10, flush_requested: false };
        assert!(!due(r, t));
        assert!(due(Readiness { waiting: 20, ..r }, t));
        assert!(due(Readiness { oldest_age_ms: 1000.0, ..r }, t));
        assert!(due(Readiness { waiting_bytes: 1000, ..r }, t));
        assert!(due(Readiness { flush_requested: true, ..r }, t));
        assert!(!due(Readiness { waiting: 0, flush_requested: true, ..r }, t));
    }
}
