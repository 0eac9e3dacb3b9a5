//! The PostgreSQL store: stateless collector instances sharing one database, with the same
//! guarantees as the SQLite store. Every call takes a connection from a pool
//! (deadpool-postgres over tokio-postgres) and runs in its own transaction; nothing is cached
//! in the process except the pool, so any number of instances may serve the same data.
//!
//! Owns: the PostgreSQL schema and its versioned migrations (`schema_migrations`, applied at
//! start under an advisory lock so that instances starting together apply each once), the
//! pool, the PostgreSQL SQL of every store call, and mapping connection trouble to
//! [`StoreError::Unavailable`] (503 + `Retry-After`). Must never: answer an ingest before its
//! transaction has committed, store a `(writeKey, messageId)` twice (a unique constraint +
//! `ON CONFLICT DO NOTHING`), merge a cart outside a row lock (`SELECT … FOR UPDATE`), wait
//! for a connection longer than the pool timeout, or know about HTTP.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use omnitrail::cart::Cart;
use omnitrail::wire::MessageType;
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::marketing::{ConsentRow, EventRow, Link, MessageRow, TouchRow};
use super::*;
use crate::timefmt;

mod marketing;
mod schema;

use marketing::*;
use schema::{ensure_partitions, migrate};
pub use schema::MIGRATIONS;

/// How the PostgreSQL store connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgConfig {
    /// A `postgres://` / `postgresql://` URL (tokio-postgres syntax, e.g. `?options=-csearch_path%3Dx`).
    pub url: String,
    /// Most connections this instance holds.
    pub pool_size: usize,
    /// Longest wait for a free connection (or a new one) before answering 503.
    pub pool_timeout: Duration,
}

impl PgConfig {
    pub fn new(url: &str) -> PgConfig {
        PgConfig { url: url.to_string(), pool_size: DEFAULT_POOL_SIZE, pool_timeout: Duration::from_millis(DEFAULT_POOL_TIMEOUT_MS) }
    }
}

/// Connections per instance unless `--pg-pool-size` says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Wait for a pooled connection unless `--pg-pool-timeout-ms` says otherwise.
pub const DEFAULT_POOL_TIMEOUT_MS: u64 = 2000;

const PARTITION_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Transactions that meet a serialization failure or a deadlock are retried this many times.
const RETRIES: usize = 3;

/// Cheap, cloneable handle to the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    stats: Arc<StoreStats>,
}

fn db_error(e: tokio_postgres::Error) -> StoreError {
    // tokio-postgres' Display of a server error is only "db error": say what the server said.
    let text = match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    };
    match e.code() {
        // Connection exceptions, shutdown, too many connections / out of resources.
        Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") || c.code().starts_with("53") => StoreError::Unavailable(text),
        Some(_) => StoreError::Database(text),
        // No SQLSTATE: the connection itself failed (refused, closed, I/O).
        None => StoreError::Unavailable(text),
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => db_error(e),
        PoolError::Closed => StoreError::Closed,
        PoolError::Timeout(_) => StoreError::Unavailable("no database connection free in time".into()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// PostgreSQL text cannot hold NUL; fields decoded from JSON may (the raw JSON keeps it
/// escaped). Replaced so that such a message is stored rather than refused forever.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn clean_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(|s| clean(s).into_owned())
}

type Client = deadpool_postgres::Object;

impl PgStore {
    /// Connects, applies the migrations (under the advisory lock) and returns the store.
    pub async fn open(cfg: &PgConfig) -> Result<(PgStore, StoreThread), StoreError> {
        let mut pg = tokio_postgres::Config::from_str(&cfg.url).map_err(|e| StoreError::Open(format!("bad PostgreSQL URL: {e}")))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(cfg.pool_timeout);
        }
        let manager = Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(cfg.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(cfg.pool_timeout))
            .create_timeout(Some(cfg.pool_timeout))
            .recycle_timeout(Some(cfg.pool_timeout))
            .build()
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let store = PgStore { pool, stats: Arc::new(StoreStats::default()) };
        let mut client = store.client().await.map_err(|e| StoreError::Open(e.to_string()))?;
        migrate(&mut client).await.map_err(|e| StoreError::Open(format!("migrations: {e}")))?;
        ensure_partitions(&mut client, timefmt::now()).await.map_err(|e| StoreError::Open(format!("partitions: {}", db_error(e))))?;
        drop(client);
        // Keeps the coming days' partitions ready (hourly); ends once the pool is closed.
        let pool = store.pool.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PARTITION_CHECK_EVERY).await;
                if pool.is_closed() {
                    return;
                }
                if let Ok(mut client) = pool.get().await {
                    if let Err(e) = ensure_partitions(&mut client, timefmt::now()).await {
                        crate::log::warn("cannot create the coming days' partitions", crate::fields! {"error" => db_error(e).to_string()});
                    }
                }
            }
        });
        Ok((store, StoreThread::new(Vec::new())))
    }

    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Stores the batch in one transaction; resolves after the commit.
    pub async fn ingest(&self, batch: IngestBatch) -> Result<Committed, StoreError> {
        let mut client = self.client().await?;
        let mut attempt = 0;
        loop {
            match insert_batch(&mut client, &batch).await {
                Ok(outcome) => {
                    self.stats.commits.fetch_add(1, Relaxed);
                    self.stats.committed_requests.fetch_add(1, Relaxed);
                    return Ok(Committed { outcome, generation: self.stats.generation.load(Relaxed) });
                }
                Err(e) if is_retryable(&e) && attempt < RETRIES => attempt += 1,
                Err(e) => {
                    self.stats.failed_commits.fetch_add(1, Relaxed);
                    return Err(db_error(e));
                }
            }
        }
    }

    pub async fn messages(&self, f: MessageFilter) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT raw FROM messages
                 WHERE ($1::text IS NULL OR write_key = $1) AND ($2::text IS NULL OR type = $2)
                 ORDER BY id LIMIT $3",
                &[&clean_opt(&f.write_key), &clean_opt(&f.kind), &f.limit.map(i64::from)],
            )
            .await
            .map_err(db_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn counts(&self) -> Result<StoredCounts, StoreError> {
        let client = self.client().await?;
        let mut counts = StoredCounts::default();
        for r in client.query("SELECT type, COUNT(*) FROM messages GROUP BY type", &[]).await.map_err(db_error)? {
            let n = r.get::<_, i64>(1) as u64;
            counts.stored += n;
            counts.by_type.insert(r.get(0), n);
        }
        for r in client
            .query("SELECT event, COUNT(*) FROM messages WHERE type = 'track' AND event IS NOT NULL GROUP BY event", &[])
            .await
            .map_err(db_error)?
        {
            counts.by_event.insert(r.get(0), r.get::<_, i64>(1) as u64);
        }
        Ok(counts)
    }

    pub async fn reset(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client.batch_execute("TRUNCATE messages, message_keys, identities, touches, consents, carts").await.map_err(db_error)?;
        Ok(self.stats.generation.fetch_add(1, Relaxed) + 1)
    }

    pub async fn identities(&self, limit: u32, keys: KeyFilter) -> Result<Vec<IdentitySummary>, StoreError> {
        let client = self.client().await?;
        let pairs = client
            .query(
                "SELECT anonymous_id, user_id, COUNT(*), MAX(received_at) FROM messages
                 WHERE id > (SELECT COALESCE(MAX(id), 0) - 100000 FROM messages)
                   AND ($1::text[] IS NULL OR write_key = ANY($1))
                 GROUP BY anonymous_id, user_id",
                &[&keys],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| PairCount { anonymous_id: r.get(0), user_id: r.get(1), count: r.get::<_, i64>(2) as u64, last_seen: r.get(3) })
            .collect();
        let links = client
            .query(
                "SELECT anonymous_id, user_id FROM identities
                 WHERE ($1::text[] IS NULL OR write_key = ANY($1))
                 ORDER BY last_seen DESC LIMIT 100000",
                &[&keys],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(people(pairs, links, limit))
    }

    pub async fn timeline(&self, id: String, limit: u32, keys: KeyFilter) -> Result<Timeline, StoreError> {
        let client = self.client().await?;
        let ids = linked_ids(&client, &id, &keys).await.map_err(db_error)?;
        let rows = client
            .query(
                "SELECT type, event, name, corrected_timestamp, received_at, raw FROM messages
                 WHERE (anonymous_id = ANY($1) OR user_id = ANY($1))
                   AND ($3::text[] IS NULL OR write_key = ANY($3))
                 ORDER BY corrected_timestamp DESC, id DESC LIMIT $2",
                &[&ids, &i64::from(limit), &keys],
            )
            .await
            .map_err(db_error)?;
        let rows = rows
            .iter()
            .map(|r| TimelineRow {
                kind: r.get(0),
                event: r.get(1),
                name: r.get(2),
                timestamp: r.get(3),
                received_at: r.get(4),
                raw: r.get(5),
            })
            .collect();
        Ok((ids, rows))
    }

    /// Closes the pool: later calls fail with [`StoreError::Closed`]. Every ingest answered
    /// so far has committed (each commits before it resolves).
    pub async fn close(&self) {
        self.pool.close();
    }

    pub async fn cart(&self, write_key: String, user_id: String) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT state FROM carts WHERE write_key = $1 AND user_id = $2", &[&write_key, &clean(&user_id).as_ref()])
            .await
            .map_err(db_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Read, merge and write under the user's row lock (`FOR UPDATE`), so that merges from
    /// any number of instances at once each see the previous one's result.
    pub async fn merge_cart(&self, write_key: String, user_id: String, incoming: Cart) -> Result<String, StoreError> {
        let mut client = self.client().await?;
        let user = clean(&user_id).into_owned();
        let mut attempt = 0;
        loop {
            match merge_cart(&mut client, &write_key, &user, &incoming).await {
                Ok(state) => return Ok(state),
                Err(e) if is_retryable(&e) && attempt < RETRIES => attempt += 1,
                Err(e) => return Err(db_error(e)),
            }
        }
    }

    pub async fn attribution_rows(&self, q: AttributionQuery) -> Result<AttributionRows, StoreError> {
        let client = self.client().await?;
        let run = async {
            Ok::<_, tokio_postgres::Error>(AttributionRows {
                links: links(&client, &q.keys).await?,
                touches: touches(&client, &q.keys, Some(&q.touches_from), Some(&q.to)).await?,
                conversions: events(&client, &q.keys, &q.events, Some(&q.from), Some(&q.to)).await?,
            })
        };
        run.await.map_err(db_error)
    }

    pub async fn segment_rows(&self, q: SegmentQuery) -> Result<SegmentRows, StoreError> {
        let client = self.client().await?;
        let run = async {
            Ok::<_, tokio_postgres::Error>(SegmentRows {
                links: links(&client, &q.keys).await?,
                touches: touches(&client, &q.keys, None, None).await?,
                events: events(&client, &q.keys, &q.events, q.since.as_deref(), None).await?,
                consents: consents(&client, &q.keys).await?,
            })
        };
        run.await.map_err(db_error)
    }

    pub async fn profile_rows(&self, id: String, keys: KeyFilter) -> Result<ProfileRows, StoreError> {
        let client = self.client().await?;
        let run = async {
            let ids = linked_ids(&client, &id, &keys).await?;
            let messages = messages_of(&client, &keys, &ids, PROFILE_MESSAGES).await?;
            let touches = touches_of(&client, &keys, &ids).await?;
            let user_ids: Vec<String> = messages.iter().filter_map(|m| m.user_id.clone()).collect();
            Ok::<_, tokio_postgres::Error>(ProfileRows {
                aliases: aliases_of(&client, &keys, &ids).await?,
                carts: carts_of(&client, &keys, &user_ids).await?,
                ids,
                messages,
                touches,
            })
        };
        run.await.map_err(db_error)
    }

    /// Retention, in one transaction: drops the daily partitions wholly before the cutoff
    /// (their rows counted from the planner's estimate), then deletes at most `limit` rows per
    /// table of what is left (rows in the default partition, the cutoff day's older rows,
    /// touches, links, and dedup keys of days before the cutoff day).
    pub async fn purge(&self, before: String, limit: u32) -> Result<Purged, StoreError> {
        let mut client = self.client().await?;
        let limit = i64::from(limit);
        let before_day = before.get(..10).unwrap_or("").to_string();
        let run = async {
            let tx = client.transaction().await?;
            let mut dropped = 0u64;
            let parts = tx
                .query(
                    "SELECT c.relname::text, GREATEST(c.reltuples, 0)::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'messages'::regclass AND c.relname ~ '^messages_p[0-9]{8}$'",
                    &[],
                )
                .await?;
            for p in parts {
                let name: String = p.get(0);
                let d = &name[10..];
                let day = format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]);
                // The partition holds [day, day + 1): all of it is older than a cutoff on a later day.
                if day < before_day {
                    // IF EXISTS: another instance's purge may have dropped it meanwhile.
                    tx.batch_execute(&format!("DROP TABLE IF EXISTS {name}")).await?;
                    dropped += p.get::<_, i64>(1) as u64;
                }
            }
            let messages = tx
                .execute("DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE received_at < $1 LIMIT $2)", &[&before, &limit])
                .await?;
            let keys = tx
                .execute(
                    "DELETE FROM message_keys WHERE ctid IN
                       (SELECT ctid FROM message_keys WHERE received_on < CAST($1::text AS date) LIMIT $2)",
                    &[&before_day, &limit],
                )
                .await?;
            let touches =
                tx.execute("DELETE FROM touches WHERE ctid IN (SELECT ctid FROM touches WHERE at < $1 LIMIT $2)", &[&before, &limit]).await?;
            let links = tx
                .execute("DELETE FROM identities WHERE ctid IN (SELECT ctid FROM identities WHERE last_seen < $1 LIMIT $2)", &[&before, &limit])
                .await?;
            tx.commit().await?;
            Ok::<_, tokio_postgres::Error>(Purged { messages: messages + dropped, touches, links, keys })
        };
        run.await.map_err(db_error)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db_error)?;
        Ok(())
    }
}

/// (anonymousId, userId, at, analytics, marketing) of a consent to upsert.
type ConsentUpsert = (String, String, String, Option<bool>, Option<bool>);

/// One request's messages in one transaction: a multi-row insert that skips duplicates and
/// returns the new ones, then the new messages' identity links, touches and consents.
async fn insert_batch(client: &mut Client, batch: &IngestBatch) -> Result<IngestOutcome, tokio_postgres::Error> {
    let received_at = timefmt::format(batch.received_at);
    let sent_at = batch.sent_at.map(timefmt::format);
    let context = clean_opt(&batch.context);
    let integrations = clean_opt(&batch.integrations);
    let key = clean(&batch.write_key).into_owned();
    let n = batch.messages.len();
    let mut cols: [Vec<Option<String>>; 9] = Default::default();
    let mut message_ids = Vec::with_capacity(n);
    for m in &batch.messages {
        let corrected = timefmt::corrected(m.timestamp, batch.sent_at, batch.received_at);
        message_ids.push(clean(&m.message_id).into_owned());
        for (col, v) in cols.iter_mut().zip([
            Some(m.kind.as_str().to_string()),
            clean_opt(&m.event),
            clean_opt(&m.name),
            clean_opt(&m.anonymous_id),
            clean_opt(&m.user_id),
            clean_opt(&m.session_id),
            Some(timefmt::format(m.timestamp)),
            Some(timefmt::format(corrected)),
            Some(clean(&m.raw).into_owned()),
        ]) {
            col.push(v);
        }
    }
    let received_on = received_at.get(..10).unwrap_or("1970-01-01").to_string();
    let tx = client.transaction().await?;
    // The dedup key first: each (writeKey, messageId) is claimed once, by whichever
    // transaction inserts it first (another instance's copy waits for that one to end).
    let claim = tx
        .prepare_cached(
            "INSERT INTO message_keys (write_key, message_id, received_on)
             SELECT $1, k.id, CAST($2::text AS date) FROM UNNEST($3::text[]) WITH ORDINALITY AS k(id, ord)
             ORDER BY k.ord
             ON CONFLICT (write_key, message_id) DO NOTHING
             RETURNING message_id",
        )
        .await?;
    let claimed = tx.query(&claim, &[&key, &received_on, &message_ids]).await?;
    // The first copy of an id in the batch is the new one (as on SQLite); later copies are
    // duplicates.
    let mut new_ids: HashSet<String> = claimed.iter().map(|r| r.get(0)).collect();
    let outcome: Vec<bool> = message_ids.iter().map(|id| new_ids.remove(id)).collect();
    if outcome.iter().any(|new| *new) {
        let pick = |col: &Vec<Option<String>>| -> Vec<Option<String>> {
            col.iter().zip(&outcome).filter(|(_, new)| **new).map(|(v, _)| v.clone()).collect()
        };
        let ids: Vec<&String> = message_ids.iter().zip(&outcome).filter(|(_, new)| **new).map(|(id, _)| id).collect();
        let cols: Vec<Vec<Option<String>>> = cols.iter().map(pick).collect();
        let insert = tx
            .prepare_cached(
                "INSERT INTO messages (write_key, message_id, type, event, name, anonymous_id, user_id,
                    session_id, timestamp, corrected_timestamp, sent_at, received_at, raw,
                    batch_context, batch_integrations, received_on)
                 SELECT $1, m.message_id, m.type, m.event, m.name, m.anonymous_id, m.user_id,
                    m.session_id, m.timestamp, m.corrected_timestamp, $2, $3, m.raw, $4, $5, CAST($16::text AS date)
                 FROM UNNEST($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                             $12::text[], $13::text[], $14::text[], $15::text[])
                      WITH ORDINALITY AS m(message_id, type, event, name, anonymous_id, user_id,
                                           session_id, timestamp, corrected_timestamp, raw, ord)
                 ORDER BY m.ord",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &key,
                &sent_at,
                &received_at,
                &context,
                &integrations,
                &ids,
                &cols[0],
                &cols[1],
                &cols[2],
                &cols[3],
                &cols[4],
                &cols[5],
                &cols[6],
                &cols[7],
                &cols[8],
                &received_on,
            ],
        )
        .await?;
    }

    // The new messages' identity links, touches and consents: one statement each.
    let mut links: Vec<(String, String, &'static str)> = Vec::new();
    let mut seen_links: HashSet<(String, String)> = HashSet::new();
    let mut touches: [Vec<Option<String>>; 8] = Default::default();
    // Consents: the latest per (anonymousId, userId) of the batch (a later one on a tie), as
    // SQLite's upserts in message order keep.
    let mut consents: Vec<ConsentUpsert> = Vec::new();
    let mut consent_at: HashMap<(String, String), usize> = HashMap::new();
    for (m, new) in batch.messages.iter().zip(&outcome) {
        if !*new {
            continue;
        }
        // Identify and alias link ids, and so do an anonymousId and a userId sent together on
        // any message (source "message"), as on SQLite.
        let pair = match m.kind {
            MessageType::Identify => m.anonymous_id.as_ref().zip(m.user_id.as_ref()),
            MessageType::Alias => m.previous_id.as_ref().zip(m.user_id.as_ref()),
            _ => m.anonymous_id.as_ref().zip(m.user_id.as_ref()),
        };
        if let Some((from, user)) = pair {
            let (from, user) = (clean(from).into_owned(), clean(user).into_owned());
            // The first link of a pair gives its source (later ones only touch last_seen).
            if seen_links.insert((from.clone(), user.clone())) {
                let source = if matches!(m.kind, MessageType::Identify | MessageType::Alias) { m.kind.as_str() } else { "message" };
                links.push((from, user, source));
            }
        }
        let a = clean(m.anonymous_id.as_deref().unwrap_or("")).into_owned();
        let u = clean(m.user_id.as_deref().unwrap_or("")).into_owned();
        if let Some(t) = &m.touch {
            let at = timefmt::format(timefmt::corrected(t.at, batch.sent_at, batch.received_at));
            for (col, v) in touches.iter_mut().zip([
                Some(a.clone()),
                Some(u.clone()),
                Some(timefmt::format(t.at)),
                Some(clean(&t.channel).into_owned()),
                Some(at),
                clean_opt(&t.source),
                clean_opt(&t.medium),
                clean_opt(&t.campaign),
            ]) {
                col.push(v);
            }
        }
        if m.consent.is_known() {
            let at = timefmt::format(timefmt::corrected(m.timestamp, batch.sent_at, batch.received_at));
            let row = (a.clone(), u.clone(), at, m.consent.analytics, m.consent.marketing);
            match consent_at.get(&(a.clone(), u.clone())) {
                Some(&i) if consents[i].2 > row.2 => {}
                Some(&i) => consents[i] = row,
                None => {
                    consent_at.insert((a, u), consents.len());
                    consents.push(row);
                }
            }
        }
    }
    if !touches[0].is_empty() {
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO touches (write_key, anonymous_id, user_id, client_at, channel, at, source, medium, campaign)
             SELECT $1, t.a, t.u, t.client_at, t.channel, t.at, t.source, t.medium, t.campaign
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
                  WITH ORDINALITY AS t(a, u, client_at, channel, at, source, medium, campaign, ord)
             ORDER BY t.ord
             ON CONFLICT DO NOTHING",
            )
            .await?,
            &[&key, &touches[0], &touches[1], &touches[2], &touches[3], &touches[4], &touches[5], &touches[6], &touches[7]],
        )
        .await?;
    }
    if !consents.is_empty() {
        // In one order (sorted), so that two instances cannot deadlock on the same rows.
        consents.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        let (a, u, at, analytics, marketing): (Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>) =
            consents.into_iter().fold(Default::default(), |mut v, c| {
                v.0.push(c.0);
                v.1.push(c.1);
                v.2.push(c.2);
                v.3.push(c.3);
                v.4.push(c.4);
                v
            });
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO consents (write_key, anonymous_id, user_id, at, analytics, marketing)
             SELECT $1, c.a, c.u, c.at, c.analytics, c.marketing
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[]) AS c(a, u, at, analytics, marketing)
             ON CONFLICT (write_key, anonymous_id, user_id) DO UPDATE
               SET at = excluded.at, analytics = excluded.analytics, marketing = excluded.marketing
               WHERE excluded.at >= consents.at",
            )
            .await?,
            &[&key, &a, &u, &at, &analytics, &marketing],
        )
        .await?;
    }
    if !links.is_empty() {
        // Upserted in one order (sorted), so that two instances cannot deadlock on them.
        links.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        let from: Vec<&str> = links.iter().map(|l| l.0.as_str()).collect();
        let user: Vec<&str> = links.iter().map(|l| l.1.as_str()).collect();
        let source: Vec<&str> = links.iter().map(|l| l.2).collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO identities (write_key, anonymous_id, user_id, source, first_seen, last_seen)
             SELECT $1, l.a, l.u, l.source, $5, $5
             FROM UNNEST($2::text[], $3::text[], $4::text[]) AS l(a, u, source)
             ON CONFLICT (write_key, anonymous_id, user_id) DO UPDATE SET last_seen = excluded.last_seen",
            )
            .await?,
            &[&key, &from, &user, &source, &received_at],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

async fn merge_cart(client: &mut Client, key: &str, user: &str, incoming: &Cart) -> Result<String, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let now = timefmt::format(timefmt::now());
    // Make sure the row exists, then lock it: concurrent first merges serialise on it too.
    tx.execute(
        &tx.prepare_cached("INSERT INTO carts (write_key, user_id, state, updated_at) VALUES ($1, $2, '', $3) ON CONFLICT DO NOTHING")
            .await?,
        &[&key, &user, &now],
    )
    .await?;
    let stored: String = tx
        .query_one(&tx.prepare_cached("SELECT state FROM carts WHERE write_key = $1 AND user_id = $2 FOR UPDATE").await?, &[&key, &user])
        .await?
        .get(0);
    // A stored state this build cannot decode is replaced by the incoming one (as on SQLite).
    let mut cart = if stored.is_empty() {
        Cart::new(CART_REPLICA)
    } else {
        Cart::decode(&stored, CART_REPLICA).unwrap_or_else(|| {
            crate::log::warn(
                "stored cart could not be read; replaced by the merged incoming state",
                crate::fields! {"bytes" => stored.len()},
            );
            Cart::new(CART_REPLICA)
        })
    };
    cart.merge(incoming);
    let state = cart.encode();
    tx.execute(
        &tx.prepare_cached("UPDATE carts SET state = $3, updated_at = $4 WHERE write_key = $1 AND user_id = $2").await?,
        &[&key, &user, &state, &now],
    )
    .await?;
    tx.commit().await?;
    Ok(state)
}

/// The identity-graph walk of the SQLite store (breadth first, both directions), with the same
/// bounds: [`MAX_TIMELINE_IDS`] ids or [`MAX_TIMELINE_LINK_ROWS`] rows read.
async fn linked_ids(client: &Client, id: &str, keys: &KeyFilter) -> Result<Vec<String>, tokio_postgres::Error> {
    let next_ids = client
        .prepare(
            "SELECT user_id FROM identities WHERE anonymous_id = $1
               AND ($2::text[] IS NULL OR write_key = ANY($2))
             UNION SELECT anonymous_id FROM identities WHERE user_id = $1
               AND ($2::text[] IS NULL OR write_key = ANY($2))
             LIMIT $3",
        )
        .await?;
    let mut walk = super::Walk::new(&clean(id));
    while let Some((cur, budget)) = walk.next() {
        for row in client.query(&next_ids, &[&cur, keys, &budget]).await? {
            if !walk.visit(row.get(0)) {
                break;
            }
        }
    }
    Ok(walk.into_ids())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_read_like_sqlite_casts() {
        use serde_json::json;
        assert_eq!(as_real(&json!(12.5)), Some(12.5));
        assert_eq!(as_real(&json!("12.5")), Some(12.5));
        assert_eq!(as_real(&json!("12abc")), Some(12.0));
        assert_eq!(as_real(&json!("abc")), Some(0.0));
        assert_eq!(as_real(&json!(true)), Some(1.0));
        assert_eq!(as_real(&json!(null)), None);
        assert_eq!(as_text(&json!(123)), Some("123".into()));
        assert_eq!(as_text(&json!("o-1")), Some("o-1".into()));
        assert_eq!(as_text(&json!(null)), None);
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
    }
}
