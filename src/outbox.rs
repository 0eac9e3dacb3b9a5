//! The outbox: every event from creation until a 2xx acknowledges its batch (or the browser
//! takes it for delivery that outlives the page: [`Outbox::hand_over`]).
//!
//! Owns: the in-memory queue, its byte budget and eviction, and the persisted copy.
//!
//! Persistence is append-only and coalesced. `push` never touches storage; `persist` (called
//! by the web layer at most once per task, and synchronously on `pagehide`) writes the events
//! that are new since the last call as one *chunk* under `{prefix}.q.{writer}.{seq}`, one
//! message JSON per line. A chunk is removed when all its events are acknowledged, and
//! rewritten (without the acknowledged lines) only when a batch covered part of it. So a
//! burst of N events costs one storage write, not N, and never a rewrite of the whole queue.
//!
//! Budgets: `max_queue_bytes` bounds memory; past it the *oldest* waiting events are evicted
//! and counted in `dropped` (the newest context is worth more than the oldest once a queue is
//! that far behind). `max_persist_bytes` bounds storage; events past it stay memory-only until
//! acknowledgements free room. A failing or full storage never loses an event in memory.
//!
//! Chunks written by other tabs can be ingested (`ingest`): lines that are not valid JSON
//! objects within the size limit are discarded and counted in `corrupt`.
//!
//! Must never: write storage from `push`, rewrite unchanged chunks, throw or panic on any
//! storage content.

use std::collections::VecDeque;

use crate::error::StorageError;
use crate::json;
use crate::ports::Storage;
use crate::wire::MAX_MESSAGE_BYTES;

/// Local handle of one queued event.
pub type EntryId = u64;

#[derive(Debug)]
struct Entry {
    id: EntryId,
    json: String,
    /// Index into `Outbox::chunks` once persisted.
    chunk: Option<usize>,
    in_flight: bool,
    /// Handed to the browser for delivery after the page is gone ([`Outbox::hand_over`]):
    /// kept out of storage while in flight.
    handed: bool,
    /// When it was queued (ms), for the age trigger.
    at: f64,
    /// Where its `context.consent` member starts, while it waits for a consent decision
    /// ([`Outbox::restamp`]); 0: not waiting (an encoded message never starts with it).
    stamp_at: usize,
}

#[derive(Debug)]
struct Chunk {
    key: String,
    live: usize,
    bytes: usize,
    /// Some of its lines were acknowledged: rewrite it at the next `persist`.
    dirty: bool,
}

/// Counters for diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub queued: usize,
    pub queued_bytes: usize,
    pub persisted_bytes: usize,
    pub unpersisted: usize,
    pub dropped: u64,
    pub corrupt: u64,
    pub storage_failures: u64,
}

#[derive(Debug)]
pub struct Outbox {
    entries: VecDeque<Entry>,
    chunks: Vec<Option<Chunk>>,
    queued_bytes: usize,
    persisted_bytes: usize,
    unpersisted: usize,
    next_id: EntryId,
    /// `{prefix}.q.`
    queue_prefix: String,
    /// `{prefix}.q.{writer}.`
    own_prefix: String,
    next_seq: u64,
    max_queue_bytes: usize,
    max_persist_bytes: usize,
    /// Do not try to persist again before this time after a failed write.
    persist_paused_until: f64,
    in_flight_n: usize,
    in_flight_bytes: usize,
    /// How many chunks this writer handed to the delivering tab ([`Outbox::release_persisted`])
    /// are still in storage: the delivering tab removes a chunk once it is acknowledged. (A
    /// writer is one page load, so a chunk key with its prefix that leaves storage is one of them.)
    handed: usize,
    stats: OutboxStats,
}

/// A batch taken from the outbox: which entries, and their JSON.
#[derive(Debug)]
pub struct Taken<'a> {
    pub ids: Vec<EntryId>,
    pub messages: Vec<&'a str>,
    pub bytes: usize,
}

impl Outbox {
    pub fn new(prefix: &str, writer: &str, max_queue_bytes: usize, max_persist_bytes: usize) -> Outbox {
        let queue_prefix = [prefix, ".q."].concat();
        let own_prefix = [queue_prefix.as_str(), writer, "."].concat();
        Outbox {
            entries: VecDeque::new(),
            chunks: Vec::new(),
            queued_bytes: 0,
            persisted_bytes: 0,
            unpersisted: 0,
            next_id: 1,
            queue_prefix,
            own_prefix,
            next_seq: 0,
            max_queue_bytes,
            max_persist_bytes,
            persist_paused_until: f64::NEG_INFINITY,
            in_flight_n: 0,
            in_flight_bytes: 0,
            handed: 0,
            stats: OutboxStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Events waiting that are not part of an in-flight batch.
    pub fn waiting(&self) -> usize {
        self.entries.len() - self.in_flight_n
    }

    /// Bytes of events waiting (not in flight).
    pub fn waiting_bytes(&self) -> usize {
        self.queued_bytes - self.in_flight_bytes
    }

    /// When the oldest waiting event was queued.
    pub fn oldest_waiting_at(&self) -> Option<f64> {
        for e in &self.entries {
            if !e.in_flight {
                return Some(e.at);
            }
        }
        None
    }

    /// True when some events were pushed since the last successful `persist`.
    pub fn has_unpersisted(&self) -> bool {
        self.unpersisted > 0
    }

    pub fn stats(&self) -> OutboxStats {
        OutboxStats {
            queued: self.entries.len(),
            queued_bytes: self.queued_bytes,
            persisted_bytes: self.persisted_bytes,
            unpersisted: self.unpersisted,
            ..self.stats
        }
    }

    /// Queues one encoded message. O(1) amortised; no storage access. Evicts the oldest
    /// waiting events when the memory budget is exceeded.
    pub fn push(&mut self, json: String, now: f64) -> EntryId {
        let id = self.next_id;
        self.next_id += 1;
        self.queued_bytes += json.len();
        self.unpersisted += 1;
        self.entries.push_back(Entry { id, json, chunk: None, in_flight: false, handed: false, at: now, stamp_at: 0 });
        id
    }

    /// The event just pushed waits for a consent decision; its `context.consent` member
    /// starts at `at` ([`Outbox::restamp`]).
    pub fn await_stamp(&mut self, at: usize) {
        if let Some(e) = self.entries.back_mut() {
            e.stamp_at = at;
        }
    }

    /// Replaces the `len` bytes of the `context.consent` member of every event that waited for
    /// the consent decision (the only part of an encoded event that is ever rewritten) with
    /// `text`. Such events are unpersisted and not in flight: nothing is written or sent
    /// before the decision.
    pub fn restamp(&mut self, len: usize, text: &str) {
        for e in self.entries.iter_mut() {
            if e.stamp_at == 0 {
                continue;
            }
            let at = std::mem::take(&mut e.stamp_at);
            let (Some(head), Some(tail)) = (e.json.get(..at), e.json.get(at + len..)) else { continue };
            // Rebuilt rather than `replace_range`, whose char-boundary panic brings core::fmt.
            let json = [head, text, tail].concat();
            self.queued_bytes = self.queued_bytes + json.len() - e.json.len();
            e.json = json;
        }
    }

    /// Evicts oldest waiting events while over the memory budget. Returns how many.
    /// Called by the tracker after pushes (cheap when under budget).
    pub fn enforce_budget(&mut self, storage: &mut dyn Storage) -> usize {
        let mut evicted = 0;
        let mut i = 0;
        while self.queued_bytes > self.max_queue_bytes && i < self.entries.len() {
            if self.entries.get(i).is_some_and(|e| e.in_flight) {
                i += 1;
                continue;
            }
            if let Some(e) = self.entries.remove(i) {
                self.forget(&e, storage);
                evicted += 1;
            }
        }
        self.stats.dropped += evicted as u64;
        evicted
    }

    /// Accounting for an entry that leaves the queue (acknowledged, dropped or evicted).
    fn forget(&mut self, e: &Entry, storage: &mut dyn Storage) {
        self.queued_bytes -= e.json.len();
        if e.in_flight {
            self.in_flight_n -= 1;
            self.in_flight_bytes -= e.json.len();
        }
        match e.chunk {
            None => self.unpersisted -= usize::from(!e.handed),
            Some(c) => self.unlink(c, storage),
        }
    }

    /// One line of chunk `c` is no longer to be kept: the chunk is rewritten at the next
    /// persist, or removed now when that was its last line.
    fn unlink(&mut self, c: usize, storage: &mut dyn Storage) {
        let done = match self.chunks.get_mut(c).and_then(Option::as_mut) {
            Some(chunk) => {
                chunk.live -= 1;
                chunk.dirty = true;
                chunk.live == 0
            }
            None => false,
        };
        if done {
            if let Some(chunk) = self.chunks.get_mut(c).and_then(Option::take) {
                storage.remove(&chunk.key);
                self.persisted_bytes -= chunk.bytes;
            }
        }
    }

    /// Writes what is new since the last call as one chunk, and rewrites chunks that lost
    /// lines to acknowledgements. Never fails: a storage error leaves events in memory and
    /// pauses persistence for a few seconds.
    pub fn persist(&mut self, storage: &mut dyn Storage, now: f64) -> Result<(), StorageError> {
        if now < self.persist_paused_until {
            return Ok(());
        }
        self.persist_now(storage, now)
    }

    /// Like [`Outbox::persist`] but ignores a pause after an earlier failure: for the last
    /// chance on `pagehide`.
    pub fn persist_now(&mut self, storage: &mut dyn Storage, now: f64) -> Result<(), StorageError> {
        let result = self.rewrite_dirty(storage).and_then(|_| self.append_new(storage));
        if result.is_err() {
            self.stats.storage_failures += 1;
            self.persist_paused_until = now + 5_000.0;
        }
        result
    }

    fn append_new(&mut self, storage: &mut dyn Storage) -> Result<(), StorageError> {
        if self.unpersisted == 0 || self.max_persist_bytes == 0 {
            return Ok(());
        }
        let room = self.max_persist_bytes.saturating_sub(self.persisted_bytes);
        let mut value = String::new();
        let mut picked = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.chunk.is_some() || e.handed {
                continue;
            }
            if value.len() + e.json.len() + 1 > room {
                break;
            }
            if !value.is_empty() {
                value.push('\n');
            }
            value.push_str(&e.json);
            picked.push(i);
        }
        if picked.is_empty() {
            return Err(StorageError::Full);
        }
        let mut key = String::with_capacity(self.own_prefix.len() + 20);
        key.push_str(&self.own_prefix);
        crate::json::push_u64(&mut key, self.next_seq);
        storage.set(&key, &value)?;
        self.next_seq += 1;
        let c = self.chunks.len();
        self.chunks.push(Some(Chunk { key, live: picked.len(), bytes: value.len(), dirty: false }));
        self.persisted_bytes += value.len();
        self.unpersisted -= picked.len();
        for i in picked {
            if let Some(e) = self.entries.get_mut(i) {
                e.chunk = Some(c);
            }
        }
        Ok(())
    }

    fn rewrite_dirty(&mut self, storage: &mut dyn Storage) -> Result<(), StorageError> {
        for c in 0..self.chunks.len() {
            let Some(chunk) = self.chunks.get(c).and_then(Option::as_ref).filter(|ch| ch.dirty) else { continue };
            let key = chunk.key.clone();
            let old_bytes = chunk.bytes;
            let mut value = String::new();
            for e in &self.entries {
                if e.chunk != Some(c) {
                    continue;
                }
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(&e.json);
            }
            storage.set(&key, &value)?;
            self.persisted_bytes = self.persisted_bytes - old_bytes + value.len();
            if let Some(ch) = self.chunks.get_mut(c).and_then(Option::as_mut) {
                ch.bytes = value.len();
                ch.dirty = false;
            }
        }
        Ok(())
    }

    /// Takes the oldest waiting events (in order) into a batch of at most `max_events` events
    /// and `max_bytes` bytes of messages (at least one event if any waits) and marks them in
    /// flight.
    pub fn take(&mut self, max_events: usize, max_bytes: usize) -> Taken<'_> {
        let mut ids = Vec::new();
        let mut picked = Vec::new();
        let mut bytes = 0;
        for (i, e) in self.entries.iter_mut().enumerate() {
            if e.in_flight {
                continue;
            }
            if ids.len() >= max_events || (!ids.is_empty() && bytes + e.json.len() + 1 > max_bytes) {
                break;
            }
            e.in_flight = true;
            bytes += e.json.len() + 1;
            ids.push(e.id);
            picked.push(i);
            self.in_flight_n += 1;
            self.in_flight_bytes += e.json.len();
        }
        // O(batch): only the picked positions are visited again.
        let mut messages = Vec::with_capacity(picked.len());
        for &i in &picked {
            if let Some(e) = self.entries.get(i) {
                messages.push(e.json.as_str());
            }
        }
        Taken { ids, messages, bytes }
    }

    /// The batch with these entries (sorted, as returned by `take`) failed and will be
    /// retried: they wait again.
    pub fn release(&mut self, ids: &[EntryId]) {
        for e in self.entries.iter_mut() {
            if e.in_flight && ids.binary_search(&e.id).is_ok() {
                e.in_flight = false;
                self.in_flight_n -= 1;
                self.in_flight_bytes -= e.json.len();
                // Handed over but not delivered after all: persisted again at the next persist.
                self.unpersisted += usize::from(std::mem::take(&mut e.handed));
            }
        }
    }

    /// The browser took these in-flight entries (sorted, as returned by `take`) for delivery
    /// that outlives the page (keepalive on `pagehide`): their persisted copy is removed now,
    /// so that no later page load sends them again. They stay in memory, in flight: an answer
    /// still acknowledges them, and a failure ([`Outbox::release`]) persists them again.
    pub fn hand_over(&mut self, ids: &[EntryId], storage: &mut dyn Storage) {
        for i in 0..self.entries.len() {
            let Some(e) = self.entries.get_mut(i).filter(|e| e.in_flight && !e.handed && ids.binary_search(&e.id).is_ok()) else {
                continue;
            };
            e.handed = true;
            match e.chunk.take() {
                Some(c) => self.unlink(c, storage),
                None => self.unpersisted -= 1,
            }
        }
        let _ = self.rewrite_dirty(storage);
    }

    /// The batch with these entries was acknowledged (or rejected for good): remove them from
    /// memory and storage.
    pub fn remove(&mut self, ids: &[EntryId], storage: &mut dyn Storage) {
        // `ids` come from `take`, in queue order: sorted.
        let sorted = ids;
        let mut kept = VecDeque::with_capacity(self.entries.len());
        let entries = std::mem::take(&mut self.entries);
        for e in entries {
            if sorted.binary_search(&e.id).is_ok() {
                self.forget(&e, storage);
            } else {
                kept.push_back(e);
            }
        }
        self.entries = kept;
        // Chunks that were fully acknowledged are gone; the others are rewritten lazily.
    }

    /// Drops waiting events older than `cutoff` and, past `max_events`/`max_bytes`, the
    /// oldest ones (the pre-consent buffer's bounds). Returns how many were dropped.
    pub fn trim(&mut self, cutoff: f64, max_events: usize, max_bytes: usize, storage: &mut dyn Storage) -> usize {
        let mut dropped = 0;
        while let Some(front) = self.entries.front() {
            let over = self.entries.len() > max_events || self.queued_bytes > max_bytes;
            if front.in_flight || !(front.at < cutoff || over) {
                break;
            }
            if let Some(e) = self.entries.pop_front() {
                self.forget(&e, storage);
                dropped += 1;
            }
        }
        self.stats.dropped += dropped as u64;
        dropped
    }

    /// Drops everything waiting (consent denied), keeping in-flight batches' events.
    pub fn purge(&mut self, storage: &mut dyn Storage) -> usize {
        self.drop_waiting(None, storage)
    }

    /// Drops every waiting event but the newest (the final `Consent Changed` record).
    pub fn purge_all_but_last(&mut self, storage: &mut dyn Storage) {
        let last = self.entries.back().map(|e| e.id);
        self.drop_waiting(last, storage);
    }

    /// Drops every waiting (not in-flight) event but `keep`; returns how many. One loop for
    /// both purges (each `filter().map().collect()` was its own copy of `Vec::from_iter`).
    fn drop_waiting(&mut self, keep: Option<EntryId>, storage: &mut dyn Storage) -> usize {
        let mut ids = Vec::new();
        for e in &self.entries {
            if !e.in_flight && Some(e.id) != keep {
                ids.push(e.id);
            }
        }
        self.remove(&ids, storage);
        self.stats.dropped += ids.len() as u64;
        ids.len()
    }

    /// Forgets where events were persisted (the keys were deleted): nothing is rewritten or
    /// removed later, and nothing counts as persisted.
    pub fn forget_persisted(&mut self) {
        for e in self.entries.iter_mut() {
            if e.chunk.take().is_some() {
                self.unpersisted += 1;
            }
        }
        self.chunks.clear();
        self.persisted_bytes = 0;
    }

    /// Counts events dropped for good (rejected by the collector) apart from evictions.
    pub fn count_dropped(&mut self, n: usize) {
        self.stats.dropped += n as u64;
    }

    /// True when `key` is an outbox chunk key (of any writer).
    /// Events this writer handed over wait for the delivering tab's acknowledgement.
    pub fn awaits_handed(&self) -> bool {
        self.handed > 0
    }

    /// A chunk left storage: if this writer had handed it over, it was acknowledged (or, if
    /// this tab takes over delivery, [`Outbox::adopt_all`] makes it its own again).
    pub fn chunk_removed(&mut self, key: &str) -> bool {
        let ours = self.handed > 0 && key.starts_with(&self.own_prefix);
        if ours {
            self.handed -= 1;
        }
        ours
    }

    pub fn is_chunk_key(&self, key: &str) -> bool {
        key.starts_with(&self.queue_prefix)
    }

    fn knows_chunk(&self, key: &str) -> bool {
        self.chunks.iter().flatten().any(|c| c.key == key)
    }

    /// Takes over a chunk written by another writer (a tab, or an earlier page load). Invalid
    /// lines are discarded and counted; an empty result removes the key.
    pub fn ingest(&mut self, key: &str, value: &str, storage: &mut dyn Storage, now: f64) {
        if self.knows_chunk(key) {
            return;
        }
        let c = self.chunks.len();
        let mut live = 0;
        for line in value.split('\n') {
            let ok = line.len() <= MAX_MESSAGE_BYTES && json::validate(line) == Some(json::Kind::Object);
            if !ok {
                if !line.is_empty() {
                    self.stats.corrupt += 1;
                }
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.queued_bytes += line.len();
            self.entries.push_back(Entry {
                id,
                json: line.to_owned(),
                chunk: Some(c),
                in_flight: false,
                handed: false,
                at: now,
                stamp_at: 0,
            });
            live += 1;
        }
        if live == 0 {
            storage.remove(key);
            return;
        }
        let dirty = live != value.split('\n').count();
        self.chunks.push(Some(Chunk { key: key.to_owned(), live, bytes: value.len(), dirty }));
        self.persisted_bytes += value.len();
    }

    /// Ingests every chunk in storage not known yet (on becoming the delivering tab).
    pub fn adopt_all(&mut self, storage: &mut dyn Storage, now: f64) {
        // What this writer handed over is its own to deliver again.
        self.handed = 0;
        let mut keys = storage.keys(&self.queue_prefix);
        // Insertion sort: a handful of keys, and one less sort routine in the wasm.
        for i in 1..keys.len() {
            let mut j = i;
            while let Some([a, b]) = j.checked_sub(1).and_then(|p| keys.get_mut(p..=j)) {
                if chunk_order(a) <= chunk_order(b) {
                    break;
                }
                core::mem::swap(a, b);
                j -= 1;
            }
        }
        for key in keys {
            if let Some(v) = storage.get(&key) {
                self.ingest(&key, &v, storage, now);
            }
        }
    }

    /// Hands persisted, waiting events over to the delivering tab: forgets them here without
    /// touching storage. Events that could not be persisted stay (this tab delivers them).
    pub fn release_persisted(&mut self) {
        let mut kept = VecDeque::new();
        for e in std::mem::take(&mut self.entries) {
            if e.chunk.is_some() && !e.in_flight {
                self.queued_bytes -= e.json.len();
            } else {
                kept.push_back(e);
            }
        }
        self.entries = kept;
        // Chunks are no longer ours to rewrite or remove.
        for (c, slot) in self.chunks.iter_mut().enumerate() {
            if slot.is_some() && !self.entries.iter().any(|e| e.chunk == Some(c)) {
                if let Some(ch) = slot.take() {
                    self.persisted_bytes -= ch.bytes;
                    if ch.key.starts_with(&self.own_prefix) {
                        self.handed += 1;
                    }
                }
            }
        }
    }
}

/// Sort key for chunk keys: writer, then numeric sequence (so `x.10` follows `x.9`).
fn chunk_order(key: &str) -> (&str, u64) {
    match crate::text::rsplit_once(key, b'.') {
        Some((writer, seq)) => (writer, crate::json::parse_decimal(seq).map_or(u64::MAX, |n| n as u64)),
        None => (key, 0),
    }
}

#[cfg(test)]
mod tests;
