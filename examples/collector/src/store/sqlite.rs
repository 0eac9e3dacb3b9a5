//! The SQLite store (the default): durable storage in one file, owned by one dedicated writer
//! thread (plus, for on-disk databases, one reader thread with its own read-only connection,
//! so that viewer and test queries never delay ingestion; WAL lets it read while the writer
//! commits).
//!
//! Owns (the schema, pragmas and migrations are in `sqlite/schema.rs`, the marketer rows in
//! `sqlite/marketing.rs`): the writer and reader threads, group commit (every ingest job waiting in the queue goes into one
//! transaction, each job in its own savepoint, and nobody is answered before the commit
//! returns — so a 2xx means durable), the blast radius of a bug (a panicking job is answered
//! with an error and the thread goes on), and the SQLite read queries. Must never: be called
//! from async code except through the [`SqliteStore`] handle, know about HTTP, or answer an
//! ingest before commit.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use omnitrail::wire::MessageType;
use rusqlite::{params, Connection};
use tokio::sync::{mpsc, oneshot};

use omnitrail::cart::Cart;

use super::*;
use crate::timefmt;

mod marketing;
mod schema;

use schema::{open_connection, open_reader};

/// Most ingest jobs committed together in one transaction.
const MAX_GROUP: usize = 256;
const QUEUE: usize = 1024;

/// The filter as the JSON array text the queries' `json_each(?)` reads (`NULL` = all).
pub(crate) fn key_list(keys: &KeyFilter) -> Option<String> {
    keys.as_ref().map(|k| serde_json::to_string(k).unwrap_or_else(|_| "[]".into()))
}


enum Job {
    Ingest(IngestBatch, oneshot::Sender<Result<Committed, StoreError>>),
    Messages(MessageFilter, oneshot::Sender<Result<Vec<String>, StoreError>>),
    Counts(oneshot::Sender<Result<StoredCounts, StoreError>>),
    /// Empty the store; answers the new generation.
    Reset(oneshot::Sender<Result<u64, StoreError>>),
    Identities(u32, KeyFilter, oneshot::Sender<Result<Vec<IdentitySummary>, StoreError>>),
    Timeline(String, u32, KeyFilter, oneshot::Sender<Result<Timeline, StoreError>>),
    Ping(oneshot::Sender<Result<(), StoreError>>),
    /// Rows of the marketer views (`store/marketing.rs`).
    Attribution(AttributionQuery, oneshot::Sender<Result<AttributionRows, StoreError>>),
    Segment(SegmentQuery, oneshot::Sender<Result<SegmentRows, StoreError>>),
    Profile(String, KeyFilter, oneshot::Sender<Result<ProfileRows, StoreError>>),
    /// The stored cart state of (write key, user id), if any.
    CartGet(String, String, oneshot::Sender<Result<Option<String>, StoreError>>),
    /// Merge a cart into the stored one (read, merge, write in one transaction).
    CartMerge(String, String, Box<Cart>, oneshot::Sender<Result<String, StoreError>>),
    /// Delete old rows (retention): before, limit per table.
    Purge(String, u32, oneshot::Sender<Result<Purged, StoreError>>),
    /// Commit what is queued before it, then stop the writer.
    Close(oneshot::Sender<()>),
}

impl Job {
    fn label(&self) -> &'static str {
        match self {
            Job::Ingest(..) => "ingest",
            Job::Messages(..) => "messages",
            Job::Counts(_) => "counts",
            Job::Reset(_) => "reset",
            Job::Identities(..) => "identities",
            Job::Timeline(..) => "timeline",
            Job::Ping(_) => "ping",
            Job::Attribution(..) => "attribution",
            Job::Segment(..) => "segment",
            Job::Profile(..) => "profile",
            Job::CartGet(..) => "cart_get",
            Job::CartMerge(..) => "cart_merge",
            Job::Purge(..) => "purge",
            Job::Close(_) => "close",
        }
    }
}


/// Cheap, cloneable handle to the writer (and reader) thread.
#[derive(Clone)]
pub struct SqliteStore {
    tx: mpsc::Sender<Job>,
    /// The reader thread's queue; the writer's for `:memory:` (one connection sees the data).
    read_tx: mpsc::Sender<Job>,
    stats: Arc<StoreStats>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and starts the writer thread.
    pub fn open(path: &str) -> Result<(SqliteStore, StoreThread), StoreError> {
        let conn = open_connection(path)?;
        let stats = Arc::new(StoreStats::default());
        let spawn = |name: &str, conn: Connection, rx: mpsc::Receiver<Job>| {
            let stats = stats.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || writer_loop(conn, rx, &stats))
                .map_err(|e| StoreError::Open(e.to_string()))
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut handles = vec![spawn("omnitrail-store", conn, rx)?];
        let read_tx = if path == ":memory:" {
            tx.clone()
        } else {
            let reader = open_reader(path)?;
            let (read_tx, read_rx) = mpsc::channel(QUEUE);
            handles.push(spawn("omnitrail-store-reader", reader, read_rx)?);
            read_tx
        };
        Ok((SqliteStore { tx, read_tx, stats }, StoreThread::new(handles)))
    }

    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job) -> Result<T, StoreError> {
        Self::call_on(&self.tx, make).await
    }

    async fn read<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job) -> Result<T, StoreError> {
        Self::call_on(&self.read_tx, make).await
    }

    async fn call_on<T>(
        tx: &mpsc::Sender<Job>,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        tx.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores the batch durably; resolves only after the transaction has committed.
    pub async fn ingest(&self, batch: IngestBatch) -> Result<Committed, StoreError> {
        self.call(|r| Job::Ingest(batch, r)).await
    }

    /// Raw messages in receive order.
    pub async fn messages(&self, filter: MessageFilter) -> Result<Vec<String>, StoreError> {
        self.read(|r| Job::Messages(filter, r)).await
    }

    pub async fn counts(&self) -> Result<StoredCounts, StoreError> {
        self.read(Job::Counts).await
    }

    /// Empties the store (test control); resolves with the new generation.
    pub async fn reset(&self) -> Result<u64, StoreError> {
        self.call(Job::Reset).await
    }

    /// Recent people of the write keys `keys` lets through.
    pub async fn identities(&self, limit: u32, keys: KeyFilter) -> Result<Vec<IdentitySummary>, StoreError> {
        self.read(|r| Job::Identities(limit, keys, r)).await
    }

    /// The ids linked to `id` and their messages, newest first, within the write keys `keys`
    /// lets through.
    pub async fn timeline(&self, id: String, limit: u32, keys: KeyFilter) -> Result<Timeline, StoreError> {
        self.read(|r| Job::Timeline(id, limit, keys, r)).await
    }

    /// Stops the writer after everything queued before this call is committed. Later calls on
    /// any handle fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        for tx in [&self.read_tx, &self.tx] {
            let (reply, rx) = oneshot::channel();
            if tx.send(Job::Close(reply)).await.is_ok() {
                let _ = rx.await;
            }
        }
    }

    /// The stored cart state (the [`Cart::encode`] text) of a user, if any. Read on the
    /// writer, so a 2xx of a previous merge is always visible.
    pub async fn cart(&self, write_key: String, user_id: String) -> Result<Option<String>, StoreError> {
        self.call(|r| Job::CartGet(write_key, user_id, r)).await
    }

    /// Merges `incoming` into the user's stored cart (never overwrites) and commits before
    /// resolving; returns the merged state. Read-merge-write runs on the writer thread in one
    /// transaction, so concurrent merges cannot lose each other's updates.
    pub async fn merge_cart(&self, write_key: String, user_id: String, incoming: Cart) -> Result<String, StoreError> {
        self.call(|r| Job::CartMerge(write_key, user_id, Box::new(incoming), r)).await
    }

    /// What the attribution report is computed from.
    pub async fn attribution_rows(&self, q: AttributionQuery) -> Result<AttributionRows, StoreError> {
        self.read(|r| Job::Attribution(q, r)).await
    }

    /// What segments are computed from.
    pub async fn segment_rows(&self, q: SegmentQuery) -> Result<SegmentRows, StoreError> {
        self.read(|r| Job::Segment(q, r)).await
    }

    /// What a person's profile is built from (`id`: any of their ids).
    pub async fn profile_rows(&self, id: String, keys: KeyFilter) -> Result<ProfileRows, StoreError> {
        self.read(|r| Job::Profile(id, keys, r)).await
    }

    /// Retention: deletes old rows on the writer, at most `limit` per table per call so that
    /// ingests queued meanwhile are not held up long.
    pub async fn purge(&self, before: String, limit: u32) -> Result<Purged, StoreError> {
        self.call(|r| Job::Purge(before, limit, r)).await
    }

    /// Round-trips a trivial query through the writer (health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call(Job::Ping).await
    }
}

/// Serves jobs in arrival order until closed. Runs both the writer and the reader thread
/// (the reader is only ever sent read jobs).
fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Job>, stats: &StoreStats) {
    let mut pending: Vec<Job> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while pending.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => pending.push(job),
                Err(_) => break,
            }
        }
        // Keep arrival order: consecutive ingests are committed together; any other job
        // first flushes the ingests queued before it.
        let mut group = Vec::new();
        let mut closing = None;
        for job in pending.drain(..) {
            match job {
                Job::Ingest(batch, reply) => group.push((batch, reply)),
                Job::Close(reply) => {
                    closing = Some(reply);
                    break;
                }
                other => {
                    commit_group(&mut conn, std::mem::take(&mut group), stats);
                    // A panicking read drops its reply: that caller sees `Closed` (503).
                    let _ = guarded(stats, other.label(), || run_other(&mut conn, other, stats));
                }
            }
        }
        commit_group(&mut conn, group, stats);
        if let Some(reply) = closing {
            // Jobs drained after the close (and any still queued) are dropped: their callers
            // see `Closed` and answer 503, so nothing unstored is acknowledged.
            pending.clear();
            rx.close();
            if !conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
            }
            let _ = reply.send(());
            return;
        }
    }
    // Channel closed: every handle dropped; the last commit is done. Checkpoint so the main
    // file is complete without the WAL (best effort).
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

type IngestReply = oneshot::Sender<Result<Committed, StoreError>>;

fn commit_group(conn: &mut Connection, group: Vec<(IngestBatch, IngestReply)>, stats: &StoreStats) {
    if group.is_empty() {
        return;
    }
    let (batches, replies): (Vec<IngestBatch>, Vec<IngestReply>) = group.into_iter().unzip();
    match guarded(stats, "ingest", || commit_batches(conn, &batches)) {
        Some(result) => answer_group(result, replies, stats),
        // A bug met one of the batches (the transaction rolled back when the panic unwound):
        // commit each batch on its own, so that only the one that meets it again fails.
        None if batches.len() > 1 => {
            for (batch, reply) in batches.iter().zip(replies) {
                match guarded(stats, "ingest", || commit_batches(conn, std::slice::from_ref(batch))) {
                    Some(result) => answer_group(result, vec![reply], stats),
                    None => {
                        let _ = reply.send(Err(StoreError::Internal));
                    }
                }
            }
        }
        None => {
            for reply in replies {
                let _ = reply.send(Err(StoreError::Internal));
            }
        }
    }
}

/// Runs one job's work, turning a panic (a bug; never expected from any input) into `None`,
/// counted in `stats.panics`, so that the store thread goes on serving everyone else. The
/// collector is built with `panic = "unwind"` for this (see Cargo.toml).
fn guarded<T>(stats: &StoreStats, what: &str, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(_) => {
            stats.panics.fetch_add(1, Relaxed);
            crate::log::warn("store job panicked; answered with an error", crate::fields! {"job" => what});
            None
        }
    }
}

type GroupResult = Result<Vec<Result<IngestOutcome, StoreError>>, rusqlite::Error>;

/// One transaction, each batch in its own savepoint.
fn commit_batches(conn: &mut Connection, batches: &[IngestBatch]) -> GroupResult {
    let mut tx = conn.transaction()?;
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut sp = tx.savepoint()?;
        match insert_batch(&sp, batch) {
            Ok(outcome) => {
                sp.commit()?;
                outcomes.push(Ok(outcome));
            }
            Err(e) => {
                sp.rollback()?;
                outcomes.push(Err(StoreError::Sqlite(e)));
            }
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

fn answer_group(result: GroupResult, replies: Vec<IngestReply>, stats: &StoreStats) {
    match result {
        Ok(outcomes) => {
            stats.commits.fetch_add(1, Relaxed);
            stats.committed_requests.fetch_add(replies.len() as u64, Relaxed);
            let generation = stats.generation.load(Relaxed);
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome.map(|outcome| Committed { outcome, generation }));
            }
        }
        Err(e) => {
            stats.failed_commits.fetch_add(1, Relaxed);
            let msg = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Open(format!("commit failed: {msg}"))));
            }
        }
    }
}

fn insert_batch(conn: &Connection, batch: &IngestBatch) -> Result<IngestOutcome, rusqlite::Error> {
    let received_at = timefmt::format(batch.received_at);
    let sent_at = batch.sent_at.map(timefmt::format);
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (write_key, message_id, type, event, name, anonymous_id, user_id,
            session_id, timestamp, corrected_timestamp, sent_at, received_at, raw,
            batch_context, batch_integrations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (write_key, message_id) DO NOTHING",
    )?;
    let mut link = conn.prepare_cached(
        "INSERT INTO identities (write_key, anonymous_id, user_id, source, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (write_key, anonymous_id, user_id) DO UPDATE SET last_seen = excluded.last_seen",
    )?;
    let mut seen = conn.prepare_cached(
        "INSERT INTO identities (write_key, anonymous_id, user_id, source, first_seen, last_seen)
         VALUES (?1, ?2, ?3, 'message', ?4, ?4)
         ON CONFLICT (write_key, anonymous_id, user_id) DO NOTHING",
    )?;
    let mut touch = conn.prepare_cached(
        "INSERT INTO touches (write_key, anonymous_id, user_id, client_at, channel, at, source, medium, campaign)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT DO NOTHING",
    )?;
    let mut consent = conn.prepare_cached(
        "INSERT INTO consents (write_key, anonymous_id, user_id, at, analytics, marketing)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (write_key, anonymous_id, user_id) DO UPDATE
           SET at = excluded.at, analytics = excluded.analytics, marketing = excluded.marketing
           WHERE excluded.at >= consents.at",
    )?;
    let mut outcome = Vec::with_capacity(batch.messages.len());
    for m in &batch.messages {
        #[cfg(test)]
        if m.message_id == tests::POISON {
            panic!("poison message (test of the store's blast radius)");
        }
        let corrected = timefmt::corrected(m.timestamp, batch.sent_at, batch.received_at);
        let n = insert.execute(params![
            batch.write_key,
            m.message_id,
            m.kind.as_str(),
            m.event,
            m.name,
            m.anonymous_id,
            m.user_id,
            m.session_id,
            timefmt::format(m.timestamp),
            timefmt::format(corrected),
            sent_at,
            received_at,
            m.raw,
            batch.context,
            batch.integrations,
        ])?;
        let new = n == 1;
        if new {
            // The identity graph: identify and alias link ids, and so do an anonymousId and a
            // userId sent together on any message (source "message"; kept at its first sight,
            // so a signed-in visitor's every message costs one index probe, not a write).
            match m.kind {
                MessageType::Identify | MessageType::Alias => {
                    let from = if m.kind == MessageType::Alias { &m.previous_id } else { &m.anonymous_id };
                    if let Some((from, user)) = from.as_ref().zip(m.user_id.as_ref()) {
                        link.execute(params![batch.write_key, from, user, m.kind.as_str(), received_at])?;
                    }
                }
                _ => {
                    if let Some((anon, user)) = m.anonymous_id.as_ref().zip(m.user_id.as_ref()) {
                        seen.execute(params![batch.write_key, anon, user, received_at])?;
                    }
                }
            }
            let (a, u) = (m.anonymous_id.as_deref().unwrap_or(""), m.user_id.as_deref().unwrap_or(""));
            if let Some(t) = &m.touch {
                let at = timefmt::format(timefmt::corrected(t.at, batch.sent_at, batch.received_at));
                let client_at = timefmt::format(t.at);
                touch.execute(params![batch.write_key, a, u, client_at, t.channel, at, t.source, t.medium, t.campaign])?;
            }
            if m.consent.is_known() {
                let c = m.consent;
                consent.execute(params![batch.write_key, a, u, timefmt::format(corrected), c.analytics, c.marketing])?;
            }
        }
        outcome.push(new);
    }
    Ok(outcome)
}

fn run_other(conn: &mut Connection, job: Job, stats: &StoreStats) {
    match job {
        Job::Ingest(..) | Job::Close(_) => {}
        Job::Messages(filter, reply) => {
            let _ = reply.send(query_messages(conn, &filter).map_err(StoreError::from));
        }
        Job::Counts(reply) => {
            let _ = reply.send(query_counts(conn).map_err(StoreError::from));
        }
        Job::Reset(reply) => {
            let r = conn.execute_batch(
                "BEGIN; DELETE FROM messages; DELETE FROM identities; DELETE FROM touches; DELETE FROM consents; DELETE FROM carts; COMMIT;",
            );
            if r.is_err() {
                let _ = conn.execute_batch("ROLLBACK;");
            }
            let r = r.map(|()| stats.generation.fetch_add(1, Relaxed) + 1);
            let _ = reply.send(r.map_err(StoreError::from));
        }
        Job::Identities(limit, keys, reply) => {
            let _ = reply.send(query_identities(conn, limit, &keys).map_err(StoreError::from));
        }
        Job::Timeline(id, limit, keys, reply) => {
            let _ = reply.send(query_timeline(conn, &id, limit, &keys).map_err(StoreError::from));
        }
        Job::Attribution(q, reply) => {
            let _ = reply.send(marketing::attribution_rows(conn, &q).map_err(StoreError::from));
        }
        Job::Segment(q, reply) => {
            let _ = reply.send(marketing::segment_rows(conn, &q).map_err(StoreError::from));
        }
        Job::Profile(id, keys, reply) => {
            let _ = reply.send(marketing::profile_rows(conn, &id, &keys).map_err(StoreError::from));
        }
        Job::Ping(reply) => {
            let r = conn.query_row("SELECT 1", [], |_| Ok(()));
            let _ = reply.send(r.map_err(StoreError::from));
        }
        Job::CartGet(key, user, reply) => {
            let _ = reply.send(load_cart(conn, &key, &user).map_err(StoreError::from));
        }
        Job::Purge(before, limit, reply) => {
            let _ = reply.send(purge(conn, &before, limit).map_err(StoreError::from));
        }
        Job::CartMerge(key, user, incoming, reply) => {
            let _ = reply.send(merge_cart(conn, &key, &user, &incoming));
        }
    }
}


fn load_cart(conn: &Connection, key: &str, user: &str) -> Result<Option<String>, rusqlite::Error> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached("SELECT state FROM carts WHERE write_key = ?1 AND user_id = ?2")?
        .query_row(params![key, user], |r| r.get(0))
        .optional()
}

fn merge_cart(conn: &mut Connection, key: &str, user: &str, incoming: &Cart) -> Result<String, StoreError> {
    let tx = conn.transaction()?;
    // A stored state this build cannot decode (written before the merge capped its entries,
    // or damaged) is replaced by the incoming one rather than refusing this user forever.
    let mut cart = match load_cart(&tx, key, user)? {
        Some(text) if !text.is_empty() => Cart::decode(&text, CART_REPLICA).unwrap_or_else(|| {
            crate::log::warn("stored cart could not be read; replaced by the merged incoming state", crate::fields! {"bytes" => text.len()});
            Cart::new(CART_REPLICA)
        }),
        _ => Cart::new(CART_REPLICA),
    };
    cart.merge(incoming);
    let state = cart.encode();
    let now = timefmt::format(timefmt::now());
    tx.execute(
        "INSERT INTO carts (write_key, user_id, state, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (write_key, user_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        params![key, user, state, now],
    )?;
    tx.commit()?;
    Ok(state)
}

fn purge(conn: &mut Connection, before: &str, limit: u32) -> Result<Purged, rusqlite::Error> {
    let tx = conn.transaction()?;
    let messages = tx.execute(
        "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE received_at < ?1 LIMIT ?2)",
        params![before, limit],
    )?;
    let touches = tx.execute(
        "DELETE FROM touches WHERE (write_key, anonymous_id, user_id, client_at, channel) IN
           (SELECT write_key, anonymous_id, user_id, client_at, channel FROM touches WHERE at < ?1 LIMIT ?2)",
        params![before, limit],
    )?;
    let links = tx.execute(
        "DELETE FROM identities WHERE (write_key, anonymous_id, user_id) IN
           (SELECT write_key, anonymous_id, user_id FROM identities WHERE last_seen < ?1 LIMIT ?2)",
        params![before, limit],
    )?;
    tx.commit()?;
    Ok(Purged { messages: messages as u64, touches: touches as u64, links: links as u64, keys: 0 })
}

fn query_messages(conn: &Connection, f: &MessageFilter) -> Result<Vec<String>, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT raw FROM messages
         WHERE (?1 IS NULL OR write_key = ?1) AND (?2 IS NULL OR type = ?2)
         ORDER BY id LIMIT ?3",
    )?;
    let limit = f.limit.map(i64::from).unwrap_or(-1);
    let rows = stmt.query_map(params![f.write_key, f.kind, limit], |r| r.get::<_, String>(0))?;
    rows.collect()
}

fn query_counts(conn: &Connection) -> Result<StoredCounts, rusqlite::Error> {
    let mut counts = StoredCounts::default();
    let mut stmt = conn.prepare_cached("SELECT type, COUNT(*) FROM messages GROUP BY type")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (kind, n) = row?;
        counts.stored += n as u64;
        counts.by_type.insert(kind, n as u64);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT event, COUNT(*) FROM messages WHERE type = 'track' AND event IS NOT NULL GROUP BY event",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (event, n) = row?;
        counts.by_event.insert(event, n as u64);
    }
    Ok(counts)
}

/// Recent people (see [`people`]): the pairs of the latest 100,000 messages and the latest
/// 100,000 links.
fn query_identities(conn: &Connection, limit: u32, keys: &KeyFilter) -> Result<Vec<IdentitySummary>, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id, user_id, COUNT(*), MAX(received_at) FROM messages
         WHERE id > (SELECT COALESCE(MAX(id), 0) - 100000 FROM messages)
           AND (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1)))
         GROUP BY anonymous_id, user_id",
    )?;
    let keys = key_list(keys);
    let pairs: Vec<PairCount> = stmt
        .query_map(params![keys], |r| {
            Ok(PairCount { anonymous_id: r.get(0)?, user_id: r.get(1)?, count: r.get::<_, i64>(2)? as u64, last_seen: r.get(3)? })
        })?
        .collect::<Result<_, _>>()?;
    let mut links = conn.prepare_cached(
        "SELECT anonymous_id, user_id FROM identities
         WHERE (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1)))
         ORDER BY last_seen DESC LIMIT 100000",
    )?;
    let links: Vec<(String, String)> =
        links.query_map(params![keys], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?.collect::<Result<_, _>>()?;
    Ok(people(pairs, links, limit))
}

/// Expands `id` through the identity graph (breadth first, both directions, within the keys
/// `keys` lets through). The walk stops at [`MAX_TIMELINE_IDS`] ids or
/// [`MAX_TIMELINE_LINK_ROWS`] rows read, whichever comes first; each id is looked up once (a
/// hash set), so its cost is linear in the rows read.
fn linked_ids(conn: &Connection, id: &str, keys: &KeyFilter) -> Result<Vec<String>, rusqlite::Error> {
    let keys = key_list(keys);
    let mut next_ids = conn.prepare_cached(
        "SELECT user_id FROM identities WHERE anonymous_id = ?1
           AND (?2 IS NULL OR write_key IN (SELECT value FROM json_each(?2)))
         UNION SELECT anonymous_id FROM identities WHERE user_id = ?1
           AND (?2 IS NULL OR write_key IN (SELECT value FROM json_each(?2)))
         LIMIT ?3",
    )?;
    let mut walk = super::Walk::new(id);
    while let Some((cur, budget)) = walk.next() {
        for row in next_ids.query_map(params![cur, keys, budget], |r| r.get::<_, String>(0))? {
            if !walk.visit(row?) {
                break;
            }
        }
    }
    Ok(walk.into_ids())
}

/// The messages of every id linked to `id` (see [`linked_ids`]), newest first.
fn query_timeline(conn: &Connection, id: &str, limit: u32, keys: &KeyFilter) -> Result<Timeline, rusqlite::Error> {
    let ids = linked_ids(conn, id, keys)?;
    let keys = key_list(keys);
    let list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT type, event, name, corrected_timestamp, received_at, raw FROM messages
         WHERE (anonymous_id IN (SELECT value FROM json_each(?1))
                OR user_id IN (SELECT value FROM json_each(?1)))
           AND (?3 IS NULL OR write_key IN (SELECT value FROM json_each(?3)))
         ORDER BY corrected_timestamp DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![list, limit, keys], |r| {
        Ok(TimelineRow {
            kind: r.get(0)?,
            event: r.get(1)?,
            name: r.get(2)?,
            timestamp: r.get(3)?,
            received_at: r.get(4)?,
            raw: r.get(5)?,
        })
    })?;
    Ok((ids, rows.collect::<Result<_, _>>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message id that makes `insert_batch` panic (tests only): stands for any bug a request
    /// may meet on the store thread.
    pub const POISON: &str = "poison-message-id";

    fn batch(ids: &[&str]) -> IngestBatch {
        let now = timefmt::now();
        let messages = ids
            .iter()
            .map(|id| {
                let raw = format!(
                    r#"{{"type":"track","event":"E","messageId":"{id}","anonymousId":"a","timestamp":"2024-05-01T12:00:00Z"}}"#
                );
                crate::validate::validate(&raw).expect("valid")
            })
            .collect();
        IngestBatch { write_key: "demo".into(), received_at: now, sent_at: None, context: None, integrations: None, messages }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_meets_a_bug_fails_alone_and_the_store_goes_on() {
        let (store, thread) = SqliteStore::open(":memory:").unwrap();
        // Queued together, so they would share one transaction: only the poison batch fails.
        let (good, bad, later) = tokio::join!(
            store.ingest(batch(&["m1", "m2"])),
            store.ingest(batch(&["m3", POISON])),
            store.ingest(batch(&["m4"])),
        );
        assert_eq!(good.unwrap().outcome, vec![true, true]);
        assert!(matches!(bad, Err(StoreError::Internal)), "{bad:?}");
        assert_eq!(later.unwrap().outcome, vec![true]);
        // The store still serves everyone, and nothing of the failed batch was kept.
        assert_eq!(store.ingest(batch(&["m5", "m3"])).await.unwrap().outcome, vec![true, true]);
        assert_eq!(store.counts().await.unwrap().stored, 5);
        assert!(store.ping().await.is_ok());
        assert!(store.stats().panics.load(Relaxed) >= 1);
        store.close().await;
        thread.join();
    }
}
