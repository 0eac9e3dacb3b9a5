//! The delivery component: the outbox, batching, the requests in flight, backoff and the
//! tab's delivery role.
//!
//! Owns: the outbox (its chunks `{prefix}.q.{writer}.{seq}`, consent category: collection),
//! this tab's [`Role`], the one normal batch in flight plus keepalive batches, backoff and
//! the batch-size split after a 413, the offline pause, the gzip decision (`compression.rs`; negotiated: the
//! endpoint that advertised gzip is remembered in `{prefix}.gz`, same category), the
//! succession marker `{prefix}.lead` (the delivering tab's id, removed after its last
//! hand-over: [`Delivery::become_leader`]), what of the browser's keepalive quota is in use,
//! and the delivery counters. Outcomes enter as data ([`Delivery::on_answer`]).
//! Must never: send while consent is pending, send a persisted event another tab may be
//! sending (followers hand theirs over), or write storage other than through its handle.

use super::component::{Component, ConsentChange};
use super::Role;
use crate::config::{Compression, Config, RetryConfig};
use crate::consent::{BufferLimits, Collection};
use crate::delivery::{due, Backoff, Outcome, Readiness, Refusal, Triggers};
use crate::message;
use crate::outbox::{EntryId, Outbox, OutboxStats};
use crate::ports::{IdSource, Storage};
use crate::store::{Category, Store};
use crate::wire::KEEPALIVE_BYTES;

/// How long a tab taking delivery over waits at most for the marker of the tab it succeeds to
/// leave its storage view ([`Delivery::become_leader`]): that tab vanished without `pagehide`
/// (a crash) or its removals are late; the persisted events are then adopted as they are
/// (at least once).
pub const SUCCESSION_WAIT_MS: f64 = 2_000.0;

/// How this tab came to deliver ([`Delivery::become_leader`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Succession {
    /// The delivery lock (or lease) was free when this tab asked: its page load, or the page
    /// shown again.
    Free,
    /// Granted after waiting: the tab that delivered before has just let it go.
    TakeOver,
}

/// A batch request to perform.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRequest {
    pub batch_id: u64,
    pub url: String,
    pub body: String,
    /// Use `fetch(..., {keepalive: true})`: the request outlives the page. Every unload send,
    /// and a normal batch that fits in half of what is left of the keepalive quota
    /// ([`Delivery::keepalive_fits`]; a gzipped one is decided when its gzipped size is known,
    /// [`Delivery::compressed`]): if the page goes while it is in flight, the browser carries
    /// it on, so [`Delivery::hand_over`] counts it as sent instead of sending it again.
    pub keepalive: bool,
    /// Sent by [`Delivery::on_hidden`] (the page is being hidden): plain, no timeout.
    pub unload: bool,
    pub events: usize,
}

#[derive(Debug)]
struct InFlight {
    batch_id: u64,
    entries: Vec<EntryId>,
    started: f64,
    keepalive: bool,
    unload: bool,
    /// Handed to the browser at unload ([`Delivery::hand_over`]): no persisted copy.
    handed: bool,
    /// Body bytes as sent, gzipped or plain (of the keepalive quota while `keepalive`).
    bytes: usize,
    /// Sent gzipped (see [`Delivery::compress`]).
    compressed: bool,
    /// Being gzipped: the request has not left yet ([`Delivery::compressed`]). The page
    /// going away sends these entries plain with keepalive instead ([`Delivery::on_hidden`]).
    compressing: bool,
}

/// How a delivery attempt ended, as the web layer observed it: the core decides what it
/// means ([`Delivery::on_answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    /// The collector answered (`Retry-After` and `Accept-Encoding` as sent).
    Http { status: u16, retry_after: Option<&'a str>, accept_encoding: Option<&'a str> },
    /// No answer: a network error, CORS failure, timeout or abort.
    NoAnswer,
    /// Handed to what never answers: the native app (`nativeEvents`: whether its bridge took
    /// it) or the browser's beacon queue (`sendBeacon` where there is no `fetch`: whether it
    /// queued it). Taken counts as delivered.
    Handed { accepted: bool },
}

/// The delivery counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub delivered: u64,
    pub rejected: u64,
    pub batches: u64,
    pub retries: u64,
}

/// What delivery needs from the configuration.
#[derive(Debug)]
struct Settings {
    url: String,
    write_key: String,
    flush_at: usize,
    flush_interval_ms: f64,
    max_batch_bytes: usize,
    max_batch_events: usize,
    max_queue_bytes: usize,
    request_timeout_ms: f64,
    retry: RetryConfig,
    compression: Compression,
    buffer: BufferLimits,
}

pub struct Delivery {
    set: Settings,
    outbox: Outbox,
    role: Role,
    backoff: Backoff,
    in_flight: Vec<InFlight>,
    next_batch_id: u64,
    flush_requested: bool,
    online: bool,
    /// Batch size limit after a 413 (halved each time), reset on success.
    split_events: usize,
    /// The collector refused a gzipped batch: send plain from now on.
    compression_refused: bool,
    /// `compression: "auto"`: the endpoint advertised gzip (in the last 2xx, or remembered
    /// in [`Delivery::gzip_key`] from an earlier page load).
    gzip_advertised: bool,
    /// `{prefix}.gz`: holds the batch URL of the endpoint that advertised gzip.
    gzip_key: String,
    /// `{prefix}.lead`: the delivering tab's id, from its adoption until its last hand-over.
    lead_key: String,
    /// This tab's id (the marker's value).
    tab: String,
    /// Taking delivery over from a tab whose marker this tab's storage view still shows: the
    /// persisted outbox is adopted once the marker's removal arrives, or at this time.
    adopt_at: Option<f64>,
    /// An attempt failed since `flush()` last asked ([`Delivery::settle_flush`]).
    attempt_failed: bool,
    /// The length of the `context.consent` member of the events queued while consent is
    /// pending (the outbox knows where it is in each): granting stamps them with the consent
    /// they are sent under ([`Delivery::on_consent`]).
    pending_stamp_len: usize,
    /// The statuses of refusals already reported, and the one to report now
    /// ([`Delivery::take_refusal`]).
    refused: Vec<u16>,
    refusal: Option<Refusal>,
    /// `pagehide` came and the page was not elected again since: it may be gone.
    left: bool,
    /// Keepalive requests answered whose body the page has not read to the end, with their
    /// bytes: Chromium counts them against the page's keepalive quota until then (measured:
    /// a 40 KB keepalive request answered a moment before, its body unread, made the next
    /// 40 KB one fail; 300 ms later, or once read, it did not), so [`Delivery::keepalive_room`]
    /// does too ([`Delivery::answer_read`]).
    keepalive_held: Vec<InFlight>,
    /// The collector's last answer asked for a retry (5xx, 429, …): what the browser takes
    /// at unload may not be stored, so a copy stays ([`Delivery::hand_over`]).
    collector_failing: bool,
    /// A normal batch sent with keepalive got no answer on this page (a refusal, a network
    /// error, a timeout): normal batches go without keepalive from then on.
    keepalive_lost: bool,
    stats: DeliveryStats,
}

impl Delivery {
    #[inline(always)]
    pub fn new(cfg: &Config, tab: &str, storage: &dyn Storage) -> Delivery {
        let url = cfg.batch_url();
        let gzip_key = [cfg.storage_prefix.as_str(), ".gz"].concat();
        let gzip_advertised = cfg.compression == Compression::Auto && storage.get(&gzip_key).is_some_and(|v| v == url);
        Delivery {
            set: Settings {
                url,
                write_key: cfg.write_key.clone(),
                flush_at: cfg.flush_at,
                flush_interval_ms: cfg.flush_interval_ms,
                max_batch_bytes: cfg.max_batch_bytes,
                max_batch_events: cfg.max_batch_events,
                max_queue_bytes: cfg.max_queue_bytes,
                request_timeout_ms: cfg.request_timeout_ms,
                retry: cfg.retry.clone(),
                compression: cfg.compression,
                buffer: cfg.consent.buffer,
            },
            outbox: Outbox::new(&cfg.storage_prefix, tab, cfg.max_queue_bytes, cfg.max_persist_bytes),
            role: Role::Undecided,
            backoff: Backoff::default(),
            in_flight: Vec::new(),
            next_batch_id: 1,
            flush_requested: false,
            online: true,
            split_events: cfg.max_batch_events,
            compression_refused: false,
            gzip_advertised,
            gzip_key,
            lead_key: [cfg.storage_prefix.as_str(), ".lead"].concat(),
            tab: tab.to_owned(),
            adopt_at: None,
            attempt_failed: false,
            pending_stamp_len: 0,
            refused: Vec::new(),
            refusal: None,
            left: false,
            keepalive_held: Vec::new(),
            collector_failing: false,
            keepalive_lost: false,
            stats: DeliveryStats::default(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }
    pub fn stats(&self) -> DeliveryStats {
        self.stats
    }
    pub fn outbox_stats(&self) -> OutboxStats {
        self.outbox.stats()
    }
    /// True when nothing waits or is in flight.
    pub fn is_idle(&self) -> bool {
        self.outbox.is_empty()
    }

    /// Queues an encoded message (`consent`: where its `context.consent` member is); bounds
    /// the pre-consent buffer and the memory budget.
    #[inline(always)]
    pub fn queue(&mut self, json: String, consent: std::ops::Range<usize>, now: f64, collection: Collection, storage: &mut dyn Storage) {
        self.outbox.push(json, now);
        if collection == Collection::Pending {
            self.outbox.await_stamp(consent.start);
            self.pending_stamp_len = consent.len();
            self.trim_buffer(now, storage);
        }
        if self.outbox.stats().queued_bytes > self.set.max_queue_bytes {
            self.outbox.enforce_budget(storage);
        }
    }

    fn trim_buffer(&mut self, now: f64, storage: &mut dyn Storage) {
        let b = self.set.buffer;
        self.outbox.trim(now - b.ttl_ms, b.max_events, b.max_bytes, storage);
    }

    /// Asks for everything waiting to go out now (ignores count/age thresholds, not backoff).
    pub fn flush(&mut self) {
        self.flush_requested = true;
    }

    pub fn set_online(&mut self, online: bool) {
        self.online = online;
        if online {
            // Connectivity is back: retry now rather than at the end of a long backoff.
            self.backoff.not_before = f64::NEG_INFINITY;
        }
    }

    /// This tab delivers from now on. Taking over ([`Succession::TakeOver`]) from a tab whose
    /// marker `{prefix}.lead` this tab still sees, it waits before adopting the persisted
    /// outbox: that tab handed its last events to the browser as it left and removed their
    /// persisted lines, then its marker ([`Delivery::hand_over`]), but this tab's storage view
    /// (another renderer process's) receives those removals asynchronously, after the lock
    /// (measured, `tests/bench/five-tabs-close.mjs`: 30–60 handed events sent again in 6 of 20
    /// runs before this rule, none in 40 with it). A tab's storage changes
    /// reach the others in the order it made them, so once the marker's removal is here, so
    /// are the removals before it ([`Delivery::on_storage_change`]); at the latest after
    /// [`SUCCESSION_WAIT_MS`]. Nothing is forgotten: what storage holds then is adopted.
    pub fn become_leader(&mut self, storage: &mut dyn Storage, now: f64, how: Succession) {
        self.left = false;
        if self.role == Role::Leader {
            return;
        }
        self.role = Role::Leader;
        if how == Succession::TakeOver && storage.get(&self.lead_key).is_some_and(|v| v != self.tab) {
            self.adopt_at = Some(now + SUCCESSION_WAIT_MS);
        } else {
            self.adopt(storage, now);
        }
    }

    /// Adopts every persisted chunk and marks this tab as the delivering one.
    fn adopt(&mut self, storage: &mut dyn Storage, now: f64) {
        self.adopt_at = None;
        self.outbox.adopt_all(storage, now);
        let _ = storage.set(&self.lead_key, &self.tab);
    }

    /// The page is leaving (perhaps into the back/forward cache): it gave up the delivery
    /// lock, so it queues and persists but sends nothing until elected again.
    /// A wait to take over ends with it: elected again, the page adopts at once.
    pub fn suspend(&mut self) {
        self.role = Role::Undecided;
        self.adopt_at = None;
    }

    pub fn become_follower(&mut self, storage: &mut dyn Storage, now: f64) {
        self.role = Role::Follower;
        self.adopt_at = None;
        let _ = self.outbox.persist(storage, now);
        self.outbox.release_persisted();
    }

    /// The next request to perform now, if any.
    pub fn poll(&mut self, now: f64, collection: Collection, storage: &mut dyn Storage, ids: &mut dyn IdSource) -> Option<BatchRequest> {
        self.expire_stuck(now, storage, ids);
        if collection == Collection::Pending {
            self.trim_buffer(now, storage);
            return None;
        }
        if self.role == Role::Undecided || !self.online || now < self.backoff.not_before {
            return None;
        }
        // Taking over: nothing leaves before the persisted events are adopted (they lead).
        match self.adopt_at {
            Some(t) if now >= t => self.adopt(storage, now),
            Some(_) => return None,
            None => {}
        }
        if self.in_flight.iter().any(|f| !f.unload) {
            return None;
        }
        let ready = Readiness {
            waiting: self.outbox.waiting(),
            oldest_age_ms: self.outbox.oldest_waiting_at().map_or(0.0, |t| now - t),
            waiting_bytes: self.outbox.waiting_bytes(),
            flush_requested: self.flush_requested,
        };
        let triggers = Triggers {
            flush_at: self.set.flush_at,
            flush_interval_ms: self.set.flush_interval_ms,
            max_batch_bytes: self.set.max_batch_bytes,
        };
        if !due(ready, triggers) {
            if ready.waiting == 0 {
                self.flush_requested = false;
            }
            return None;
        }
        let max_bytes = self.set.max_batch_bytes - message::BATCH_OVERHEAD - self.set.write_key.len();
        self.take_batch(now, self.split_events, max_bytes, false)
    }

    fn take_batch(&mut self, now: f64, max_events: usize, max_bytes: usize, unload: bool) -> Option<BatchRequest> {
        let fits = self.keepalive_fits();
        let taken = self.outbox.take(max_events, max_bytes);
        if taken.ids.is_empty() {
            return None;
        }
        let body = message::batch_body(taken.messages.iter().copied(), now, &self.set.write_key, taken.bytes);
        let batch_id = self.next_batch_id;
        self.next_batch_id += 1;
        let events = taken.ids.len();
        let bytes = body.len();
        let keepalive = unload || bytes <= fits;
        self.in_flight.push(InFlight {
            batch_id,
            entries: taken.ids,
            started: now,
            keepalive,
            unload,
            handed: false,
            bytes,
            compressed: false,
            compressing: false,
        });
        self.stats.batches += 1;
        Some(BatchRequest { batch_id, url: self.set.url.clone(), body, keepalive, unload, events })
    }

    /// The largest normal batch (bytes as sent) that goes with keepalive: half of what is left
    /// of the quota, so that the `pagehide` batch beside it still has room; none after a normal
    /// keepalive batch got no answer on this page. Then the batch in flight when the page goes
    /// is handed over ([`Delivery::hand_over`]) instead of cancelled by the browser and sent
    /// again.
    fn keepalive_fits(&self) -> usize {
        if self.keepalive_lost {
            0
        } else {
            self.keepalive_room() / 2
        }
    }

    /// What is left of the browser's keepalive quota (64 KB of bodies in flight per page, less
    /// 1 KB of margin) beside this tab's keepalive requests in flight.
    fn keepalive_room(&self) -> usize {
        let keepalive_bytes = |list: &[InFlight]| {
            let mut n = 0;
            for f in list {
                if f.keepalive {
                    n += f.bytes;
                }
            }
            n
        };
        let used = keepalive_bytes(&self.in_flight) + keepalive_bytes(&self.keepalive_held);
        (KEEPALIVE_BYTES - 1024).saturating_sub(used)
    }

    /// A request whose answer never came is treated as failed.
    fn expire_stuck(&mut self, now: f64, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        let limit = self.set.request_timeout_ms + 5_000.0;
        let mut stuck = Vec::new();
        for f in &self.in_flight {
            if now - f.started > limit {
                stuck.push(f.batch_id);
            }
        }
        for id in stuck {
            self.on_outcome(id, Outcome::Retry { after_ms: None }, now, storage, ids);
        }
    }

    /// The answer to a batch request. A 2xx (or the app taking the batch) acknowledges it;
    /// anything else counts as a failed attempt for `flush()`. A compressed batch refused as
    /// unreadable (400, 415) is sent again plain, nothing is compressed any more on this page,
    /// and the endpoint is no longer remembered as reading gzip. An answer to a batch no
    /// longer in flight (expired, or sent again on `pagehide`) is ignored.
    pub fn on_answer(&mut self, batch_id: u64, answer: Answer<'_>, now: f64, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        let Some(pos) = self.in_flight.iter().position(|f| f.batch_id == batch_id) else { return };
        let outcome = match answer {
            Answer::Http { status, retry_after, accept_encoding } => {
                if let Some(f) = self.in_flight.get(pos).filter(|f| f.keepalive) {
                    let held = InFlight { entries: Vec::new(), ..*f };
                    self.keepalive_held.push(held);
                }
                let ok = (200..300).contains(&status);
                self.attempt_failed |= !ok;
                let refused = matches!(status, 400 | 415) && self.in_flight.get(pos).is_some_and(|f| f.compressed);
                self.compression_refused |= refused;
                if ok || refused {
                    self.learn_encoding(ok && accept_encoding.is_some_and(crate::wire::advertises_gzip), storage);
                }
                if refused {
                    let flight = self.in_flight.swap_remove(pos);
                    self.outbox.release(&flight.entries);
                    self.flush_requested = true;
                    return;
                }
                let outcome = Outcome::from_status(status, retry_after);
                self.collector_failing = matches!(outcome, Outcome::Retry { .. });
                if outcome == Outcome::Reject && !self.refused.contains(&status) {
                    self.refused.push(status);
                    let events = self.in_flight.get(pos).map_or(0, |f| f.entries.len());
                    self.refusal = Some(Refusal { status, events });
                }
                outcome
            }
            Answer::Handed { accepted: true } => Outcome::Ack,
            // The browser detaches (and may reject) a keepalive request when the page goes:
            // what it took at unload counts as sent.
            Answer::NoAnswer if self.left && self.in_flight.get(pos).is_some_and(|f| f.handed) => Outcome::Ack,
            Answer::NoAnswer | Answer::Handed { accepted: false } => {
                self.attempt_failed = true;
                self.keepalive_lost |= self.in_flight.get(pos).is_some_and(|f| f.keepalive && !f.unload);
                Outcome::Retry { after_ms: None }
            }
        };
        self.on_outcome(batch_id, outcome, now, storage, ids);
    }

    /// The page has read the body of the answer to `batch_id` to the end (or failed to): a
    /// keepalive request no longer uses the browser's quota.
    pub fn answer_read(&mut self, batch_id: u64) {
        if let Some(pos) = self.keepalive_held.iter().position(|f| f.batch_id == batch_id) {
            self.keepalive_held.swap_remove(pos);
        }
    }

    /// A refusal to tell the page's developer about: the first for its status on this page.
    pub fn take_refusal(&mut self) -> Option<Refusal> {
        self.refusal.take()
    }

    /// What `flush()` promises learn at the end of a tick (`quiet`: nothing went out in it and
    /// no wake-up is pending): `Some(true)` once everything is acknowledged, `Some(false)`
    /// when an attempt failed (it will be retried) or nothing more will happen on its own
    /// (offline), `None` while delivery is under way or the role is undecided. A rejected
    /// batch empties the queue too, but is not delivered.
    #[inline(always)]
    pub fn settle_flush(&mut self, quiet: bool) -> Option<bool> {
        let failed = std::mem::take(&mut self.attempt_failed);
        // A follower's events are delivered by the delivering tab: `flush()` waits until that
        // tab has removed every chunk it was handed (acknowledged), or this tab takes over.
        // Taking over, the persisted events (this tab's among them) are not adopted yet.
        let handed = (self.role == Role::Follower && self.outbox.awaits_handed()) || self.adopt_at.is_some();
        let idle = self.is_idle() && !handed;
        let stalled = quiet && self.role != Role::Undecided && !handed;
        (idle || stalled || failed).then_some(idle && !failed)
    }

    /// What became of a batch.
    pub fn on_outcome(&mut self, batch_id: u64, outcome: Outcome, now: f64, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        let Some(pos) = self.in_flight.iter().position(|f| f.batch_id == batch_id) else { return };
        let flight = self.in_flight.swap_remove(pos);
        match outcome {
            Outcome::Ack => {
                self.stats.delivered += flight.entries.len() as u64;
                self.outbox.remove(&flight.entries, storage);
                self.backoff.succeed();
                self.split_events = self.set.max_batch_events;
            }
            Outcome::Reject => {
                self.stats.rejected += flight.entries.len() as u64;
                self.outbox.count_dropped(flight.entries.len());
                self.outbox.remove(&flight.entries, storage);
            }
            Outcome::TooLarge if flight.entries.len() > 1 => {
                self.split_events = (flight.entries.len() / 2).max(1);
                self.outbox.release(&flight.entries);
                // Both halves were due already: send them without waiting for thresholds.
                self.flush_requested = true;
            }
            Outcome::TooLarge => {
                self.stats.rejected += 1;
                self.outbox.count_dropped(1);
                self.outbox.remove(&flight.entries, storage);
            }
            Outcome::Retry { after_ms } => {
                self.stats.retries += 1;
                self.outbox.release(&flight.entries);
                if !flight.unload {
                    let unit = ids.unit();
                    self.backoff.fail(now, &self.set.retry, unit, after_ms);
                }
            }
        }
    }

    /// The page is being hidden (`leaving`: `pagehide`): persist synchronously (when `storage`
    /// may write) and return what should go out with `keepalive` now, within what is left of
    /// the 64 KB keepalive quota. A batch still being gzipped would leave too late (or never):
    /// its events go in this plain keepalive request instead, first, and the gzipped one is
    /// not sent ([`Delivery::compressed`]). When the page is leaving, so do the events of a
    /// request that left unanswered without keepalive (one too big for the quota): the browser
    /// cancels it with the page; if it reached the collector anyway, the copy is a duplicate
    /// the collector drops by messageId.
    ///
    /// What it returns is handed to the browser at once; then [`Delivery::hand_over`].
    pub fn on_hidden(&mut self, now: f64, collection: Collection, storage: &mut dyn Storage, leaving: bool) -> Option<BatchRequest> {
        if collection == Collection::Allowed {
            let _ = self.outbox.persist_now(storage, now);
        }
        if self.role == Role::Follower {
            self.outbox.release_persisted();
        }
        self.left |= leaving;
        if self.role == Role::Undecided || !self.online || collection == Collection::Pending {
            return None;
        }
        while let Some(pos) = self.in_flight.iter().position(|f| f.compressing || leaving && !f.keepalive) {
            let flight = self.in_flight.swap_remove(pos);
            self.outbox.release(&flight.entries);
        }
        let budget = self.keepalive_room().saturating_sub(message::BATCH_OVERHEAD + self.set.write_key.len());
        // Too little room left beside the keepalive requests in flight: what waits stays
        // persisted for the next page (or for this one, shown again).
        if budget < 1024 {
            return None;
        }
        self.take_batch(now, self.set.max_batch_events, budget, true)
    }

    /// Exactly once at unload: called once the requests [`Delivery::on_hidden`] returned were
    /// handed to the browser (in the microtask after them: Chromium's refusal of a request over
    /// the keepalive quota arrives later, measured, which is why [`Delivery::keepalive_room`]
    /// counts what Chromium counts; a refusal that arrives first releases its events). A
    /// keepalive request outlives the page, so when the page is online and the collector's
    /// last answer did not ask for a retry, what the keepalive requests in flight carry
    /// counts as sent: its persisted copy is removed ([`Outbox::hand_over`]) and the next
    /// page load does not send it again; once the page has left, their failure too counts as
    /// sent (the browser detaches them from the page). Offline nothing was sent, and while
    /// the collector fails (5xx, 429) the copy stays: at least once.
    ///
    /// Once the page has left, its succession marker goes last (when it is this tab's): a tab
    /// taking delivery over adopts the persisted events once it sees that removal, so after
    /// these ([`Delivery::become_leader`]).
    pub fn hand_over(&mut self, storage: &mut dyn Storage) {
        if self.online && !self.collector_failing {
            for f in self.in_flight.iter_mut().filter(|f| f.keepalive) {
                f.handed = true;
                self.outbox.hand_over(&f.entries, storage);
            }
        }
        if self.left && storage.get(&self.lead_key).is_some_and(|v| v == self.tab) {
            storage.remove(&self.lead_key);
        }
    }

    /// When `poll` is due again (timeouts of requests in flight, the next batch).
    pub fn wake(&self, collection: Collection) -> Option<f64> {
        let mut wake: Option<f64> = None;
        let mut at = |t: f64| wake = Some(wake.map_or(t, |w: f64| w.min(t)));
        for f in &self.in_flight {
            at(f.started + self.set.request_timeout_ms + 5_001.0);
        }
        if let Some(t) = self.adopt_at {
            at(t);
        }
        let sendable = collection != Collection::Pending;
        if sendable && self.role != Role::Undecided && self.online && self.outbox.waiting() > 0 {
            let not_before = self.backoff.not_before;
            let age_due = self.outbox.oldest_waiting_at().map_or(0.0, |t| t + self.set.flush_interval_ms);
            at(if self.flush_requested { not_before } else { age_due.max(not_before) });
        }
        wake
    }
}

impl<S: Storage> Component<S> for Delivery {
    fn category(&self) -> Category<'_> {
        Category::Collection
    }

    fn persist(&mut self, storage: &mut dyn Storage, now: f64) {
        let _ = self.outbox.persist(storage, now);
        if self.role == Role::Follower {
            self.outbox.release_persisted();
        }
    }

    fn on_consent(&mut self, change: ConsentChange, store: &mut Store<S>, _ids: &mut dyn IdSource, now: f64) {
        if change.granted() {
            // What waited for the choice is sent under it: each event carries the consent it
            // is sent with, so a downstream consent filter keeps what the visitor allowed.
            let mut members = String::new();
            store.consent().push_context_member(&mut members);
            self.outbox.restamp(self.pending_stamp_len, &members);
            let _ = self.outbox.persist_now(store.collecting(), now);
        } else if change.refused() {
            self.outbox.purge(store.collecting());
        } else if change.revoked() {
            // The chunks were deleted with every other key: nothing persisted is left.
            self.outbox.forget_persisted();
            let mut erase = store.eraser();
            if change.keep_last {
                self.outbox.purge_all_but_last(&mut erase);
            } else {
                self.outbox.purge(&mut erase);
            }
        }
    }

    fn on_storage_change(&mut self, key: &str, value: Option<&str>, store: &mut Store<S>, now: f64) -> bool {
        if key == self.gzip_key {
            // Another tab learnt what the endpoint reads.
            self.gzip_advertised = self.set.compression == Compression::Auto && value == Some(self.set.url.as_str());
            return true;
        }
        if key == self.lead_key {
            // The tab this one succeeds removed its marker after its hand-over: what it removed
            // before is visible here now.
            if self.role == Role::Leader && self.adopt_at.is_some() {
                self.adopt(store.collecting(), now);
            }
            return true;
        }
        if !self.outbox.is_chunk_key(key) {
            return false;
        }
        if value.is_none() && self.outbox.chunk_removed(key) {
            return true;
        }
        if self.role == Role::Leader && value.is_some() {
            // The event's value may be stale: events arrive asynchronously, and this tab may
            // have adopted the chunk (`become_leader`), delivered it and removed it since.
            // What storage holds now is the truth; a chunk that is gone was acknowledged.
            if let Some(current) = store.read().get(key) {
                self.outbox.ingest(key, &current, store.collecting(), now);
            }
        }
        true
    }
}

mod compression;
#[cfg(test)]
mod tests;
