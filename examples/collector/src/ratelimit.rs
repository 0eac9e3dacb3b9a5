//! Per-write-key rate limit: a token bucket of messages per key. A write key is public (it is
//! in every page), so one abusive client could otherwise fill the store at the expense of
//! everyone; past the rate the collector answers `429` with `Retry-After`, which the SDK
//! honours (it backs off and keeps the events).
//!
//! Owns: the buckets and the refill arithmetic. Must never: block, grow beyond the configured
//! write keys (callers check the key first), or refuse a request while its bucket is full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every write key seen so far.
#[derive(Debug)]
pub struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes `messages` from `key`'s bucket at `now`; `Err(retry_after)` when there are not
    /// enough. A request larger than the whole bucket passes when the bucket is full (and
    /// leaves it in debt), so no valid request is refused forever.
    pub fn take(&self, key: &str, messages: usize, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else { return Ok(()) };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_string()).or_insert(Bucket { tokens: limit.burst, at: now }),
        };
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * limit.per_sec).min(limit.burst);
        b.at = now;
        let want = messages as f64;
        if b.tokens >= want || b.tokens >= limit.burst {
            b.tokens -= want;
            return Ok(());
        }
        let missing = want.min(limit.burst) - b.tokens;
        let secs = (missing / limit.per_sec).ceil().clamp(1.0, 3600.0);
        Err(Duration::from_secs(secs as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate_and_answers_when_to_retry() {
        let r = RateLimiter::new(Some(RateLimit { per_sec: 10.0, burst: 20.0 }));
        let t0 = Instant::now();
        assert!(r.take("k", 20, t0).is_ok());
        assert_eq!(r.take("k", 5, t0), Err(Duration::from_secs(1)));
        assert!(r.take("other", 20, t0).is_ok(), "buckets are per key");
        assert!(r.take("k", 5, t0 + Duration::from_millis(500)).is_ok());
        assert_eq!(r.take("k", 20, t0 + Duration::from_millis(500)), Err(Duration::from_secs(2)));
    }

    #[test]
    fn a_request_bigger_than_the_bucket_passes_when_it_is_full() {
        let r = RateLimiter::new(Some(RateLimit { per_sec: 10.0, burst: 20.0 }));
        let t0 = Instant::now();
        assert!(r.take("k", 50, t0).is_ok());
        assert!(r.take("k", 1, t0).is_err());
        assert!(r.take("k", 1, t0 + Duration::from_secs(4)).is_ok(), "the debt is paid back at the rate");
    }

    #[test]
    fn unlimited_without_a_limit() {
        let r = RateLimiter::new(None);
        assert!(r.take("k", usize::MAX, Instant::now()).is_ok());
    }
}
