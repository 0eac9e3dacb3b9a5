//! Fault injection for the SDK's end-to-end tests (`POST /test/fault`, only with
//! `--test-control`): make ingestion answer a status, reset connections, or hang.
//!
//! Owns: the fault specification, its expiry (`forMs`) / count, and the decision for each
//! ingestion request. Must never: affect non-ingestion endpoints (the test harness must always
//! be able to clear a fault), or store anything for a faulted request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Body of `POST /test/fault`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// HTTP status to answer with (mode `status`, the default when `status` is given).
    pub status: Option<u16>,
    /// `status` (default), `reset` (close the connection without answering) or `hang`.
    pub mode: Option<String>,
    /// How long the fault lasts; until cleared when absent.
    #[serde(rename = "forMs")]
    pub for_ms: Option<u64>,
    /// Only the next N ingestion requests are faulted.
    pub count: Option<u64>,
    /// Seconds, sent as the `Retry-After` header with `status`.
    #[serde(rename = "retryAfter")]
    pub retry_after: Option<u64>,
    /// `hang` only: delay each request this long instead of until the fault ends.
    #[serde(rename = "delayMs")]
    pub delay_ms: Option<u64>,
    /// `{"clear": true}` removes the fault.
    pub clear: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Status { status: u16, retry_after: Option<u64> },
    Reset,
    Hang { delay: Option<Duration> },
}

#[derive(Debug, PartialEq, Eq)]
pub enum FaultError {
    MissingStatus,
    InvalidStatus(u16),
    UnknownMode(String),
}

impl std::fmt::Display for FaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultError::MissingStatus => write!(f, "mode status needs \"status\""),
            FaultError::InvalidStatus(s) => write!(f, "status {s} is not in 200..=599"),
            FaultError::UnknownMode(m) => write!(f, "unknown mode {m:?} (status, reset, hang)"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Active {
    kind: FaultKind,
    until: Option<Instant>,
    remaining: Option<u64>,
}

impl Active {
    fn live(&self, now: Instant) -> bool {
        self.until.map_or(true, |u| now < u) && self.remaining.map_or(true, |n| n > 0)
    }
}

#[derive(Default)]
pub struct Faults {
    active: Mutex<Option<Active>>,
    shutting_down: AtomicBool,
}

impl Faults {
    /// Installs (or, with `clear`, removes) a fault. Returns the installed kind.
    pub fn set(&self, spec: FaultSpec) -> Result<Option<FaultKind>, FaultError> {
        if spec.clear == Some(true) || spec.mode.as_deref() == Some("clear") {
            self.clear();
            return Ok(None);
        }
        let kind = match spec.mode.as_deref().unwrap_or("status") {
            "status" => {
                let status = spec.status.ok_or(FaultError::MissingStatus)?;
                if !(200..=599).contains(&status) {
                    return Err(FaultError::InvalidStatus(status));
                }
                FaultKind::Status { status, retry_after: spec.retry_after }
            }
            "reset" => FaultKind::Reset,
            "hang" => FaultKind::Hang { delay: spec.delay_ms.map(Duration::from_millis) },
            other => return Err(FaultError::UnknownMode(other.to_string())),
        };
        let active = Active {
            kind,
            until: spec.for_ms.map(|ms| Instant::now() + Duration::from_millis(ms)),
            remaining: spec.count,
        };
        *self.lock() = Some(active);
        Ok(Some(kind))
    }

    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// Decides the fault for one ingestion request (consuming one of `count`).
    pub fn take(&self) -> Option<FaultKind> {
        let mut guard = self.lock();
        let now = Instant::now();
        match guard.as_mut() {
            Some(a) if a.live(now) => {
                if let Some(n) = a.remaining.as_mut() {
                    *n = n.saturating_sub(1);
                }
                Some(a.kind)
            }
            Some(a) => {
                // Expired by time: gone. Exhausted by count: kept (inactive) so requests held by
                // a count-limited hang stay held until `clear`.
                if a.until.is_some_and(|u| now >= u) {
                    *guard = None;
                }
                None
            }
            None => None,
        }
    }

    /// Only peeks (no count consumed): whether the next ingestion request would be reset.
    pub fn reset_pending(&self) -> bool {
        let guard = self.lock();
        matches!(*guard, Some(a) if a.kind == FaultKind::Reset && a.live(Instant::now()))
    }

    /// Waits while a hang fault is active (or `delay` elapses), bounded by shutdown.
    pub async fn hang(&self, delay: Option<Duration>) {
        let started = Instant::now();
        loop {
            if self.shutting_down.load(Ordering::Relaxed) {
                return;
            }
            if let Some(d) = delay {
                if started.elapsed() >= d {
                    return;
                }
            }
            let still = {
                let guard = self.lock();
                matches!(*guard, Some(a) if matches!(a.kind, FaultKind::Hang { .. })
                    && a.until.map_or(true, |u| Instant::now() < u))
            };
            if !still {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Releases hung requests so shutdown can finish them.
    pub fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_and_clear() {
        let f = Faults::default();
        f.set(FaultSpec { status: Some(503), count: Some(2), ..Default::default() }).unwrap();
        assert!(f.take().is_some());
        assert!(f.take().is_some());
        assert!(f.take().is_none());
        f.set(FaultSpec { mode: Some("reset".into()), ..Default::default() }).unwrap();
        assert!(f.reset_pending());
        f.set(FaultSpec { clear: Some(true), ..Default::default() }).unwrap();
        assert!(!f.reset_pending());
        assert_eq!(f.set(FaultSpec { status: Some(42), ..Default::default() }), Err(FaultError::InvalidStatus(42)));
        assert!(f.set(FaultSpec { mode: Some("x".into()), ..Default::default() }).is_err());
    }

    #[tokio::test]
    async fn count_limited_hang_holds_until_clear() {
        let f = std::sync::Arc::new(Faults::default());
        f.set(FaultSpec { mode: Some("hang".into()), count: Some(1), ..Default::default() }).unwrap();
        assert!(matches!(f.take(), Some(FaultKind::Hang { .. })));
        let held = tokio::spawn({
            let f = f.clone();
            async move { f.hang(None).await }
        });
        assert!(f.take().is_none(), "the second request is not held");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!held.is_finished(), "a later request must not release the held one");
        f.clear();
        tokio::time::timeout(Duration::from_secs(2), held).await.unwrap().unwrap();
    }

    #[test]
    fn expires() {
        let f = Faults::default();
        f.set(FaultSpec { status: Some(500), for_ms: Some(0), ..Default::default() }).unwrap();
        assert!(f.take().is_none());
    }
}
