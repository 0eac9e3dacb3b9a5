//! The store interface: what the handlers call to store and read events, whatever the backend.
//! [`Store`] is one enum over the backends (SQLite in `store/sqlite.rs`, the default), each
//! offering the same async methods, so a handler never knows which one it talks to. The row
//! types the views are computed from live here (and in `store/marketing.rs`), so every backend
//! loads the same rows and the views' rules stay in one place.
//!
//! Owns: the store's public surface (methods, request/row types, [`StoreError`]), choosing
//! the backend from [`StoreSpec`], and the guarantees every backend must keep — an ingest
//! resolves only once its messages are durable (a 2xx means stored), `(writeKey, messageId)`
//! is stored once, a cart merge never loses a concurrent one, reads of a person are bounded.
//! Must never: know about HTTP, hold SQL of one backend, or offer a feature only one backend
//! has.

use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;

use omnitrail::cart::Cart;
use serde::Serialize;

use crate::validate::ValidMessage;

pub mod marketing;
pub mod postgres;
pub mod sqlite;

/// Which store the collector runs on (`--store`): a SQLite file (or `:memory:`), or a
/// PostgreSQL URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// A SQLite database path, or `:memory:`.
    Sqlite(String),
    /// A `postgres://` / `postgresql://` URL and its pool.
    Postgres(postgres::PgConfig),
}

impl StoreSpec {
    /// A `postgres://` or `postgresql://` URL selects PostgreSQL; anything else is a SQLite
    /// path.
    pub fn parse(s: &str) -> StoreSpec {
        let t = s.trim();
        let lower = t.get(..13).unwrap_or(t).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            StoreSpec::Postgres(postgres::PgConfig::new(t))
        } else {
            StoreSpec::Sqlite(s.to_string())
        }
    }

    /// For logs: the SQLite path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            StoreSpec::Sqlite(p) => p.clone(),
            StoreSpec::Postgres(pg) => redact_url(&pg.url),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let host = host.split_once('?').map_or(host, |(h, _)| h);
    match auth.map(|a| a.split_once(':').map_or(a, |(u, _)| u)) {
        Some(user) if auth.is_some_and(|a| a.contains(':')) => format!("{scheme}://{user}:***@{host}"),
        Some(user) => format!("{scheme}://{user}@{host}"),
        None => format!("{scheme}://{host}"),
    }
}

/// Errors of the storage layer. Every one but [`StoreError::Internal`] means "not stored,
/// retry" (503 with `Retry-After`).
#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    /// The store is gone (shutting down).
    Closed,
    Open(String),
    /// The database cannot be reached now (connection refused or lost, no connection free in
    /// the pool in time); retry later.
    Unavailable(String),
    /// The database refused a statement (PostgreSQL).
    Database(String),
    /// Processing this request met a bug (a panic caught on the store thread); nothing of it
    /// was stored, and the store goes on serving other requests.
    Internal,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "sqlite: {e}"),
            StoreError::Closed => write!(f, "store is closed"),
            StoreError::Open(e) => write!(f, "cannot open database: {e}"),
            StoreError::Unavailable(e) => write!(f, "database unavailable: {e}"),
            StoreError::Database(e) => write!(f, "database error: {e}"),
            StoreError::Internal => write!(f, "internal error while storing this request (nothing of it was stored)"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// Cheap, cloneable handle to the store the collector runs on.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Calls the same method on whichever backend this is.
macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

impl Store {
    /// Opens the store `spec` names (creating the schema, running migrations) and starts what
    /// it runs on (SQLite: its writer and reader threads).
    pub async fn open(spec: &StoreSpec) -> Result<(Store, StoreThread), StoreError> {
        match spec {
            StoreSpec::Sqlite(path) => {
                let (s, t) = sqlite::SqliteStore::open(path)?;
                Ok((Store::Sqlite(s), t))
            }
            StoreSpec::Postgres(pg) => {
                let (s, t) =
                    postgres::PgStore::open(pg).await.map_err(|e| StoreError::Open(format!("{}: {e}", redact_url(&pg.url))))?;
                Ok((Store::Postgres(s), t))
            }
        }
    }

    /// Which backend (for logs and metrics): `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub fn stats(&self) -> &StoreStats {
        dispatch!(self, s => s.stats())
    }

    /// Stores the batch durably; resolves only after the transaction has committed.
    pub async fn ingest(&self, batch: IngestBatch) -> Result<Committed, StoreError> {
        dispatch!(self, s => s.ingest(batch).await)
    }

    /// Raw messages in receive order.
    pub async fn messages(&self, filter: MessageFilter) -> Result<Vec<String>, StoreError> {
        dispatch!(self, s => s.messages(filter).await)
    }

    pub async fn counts(&self) -> Result<StoredCounts, StoreError> {
        dispatch!(self, s => s.counts().await)
    }

    /// Empties the store (test control); resolves with the new generation.
    pub async fn reset(&self) -> Result<u64, StoreError> {
        dispatch!(self, s => s.reset().await)
    }

    /// Recent people of the write keys `keys` lets through.
    pub async fn identities(&self, limit: u32, keys: KeyFilter) -> Result<Vec<IdentitySummary>, StoreError> {
        dispatch!(self, s => s.identities(limit, keys).await)
    }

    /// The ids linked to `id` and their messages, newest first, within the write keys `keys`
    /// lets through.
    pub async fn timeline(&self, id: String, limit: u32, keys: KeyFilter) -> Result<Timeline, StoreError> {
        dispatch!(self, s => s.timeline(id, limit, keys).await)
    }

    /// Stops the store after everything queued before this call is committed. Later calls on
    /// any handle fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    /// The stored cart state (the [`Cart::encode`] text) of a user, if any; a 2xx of a
    /// previous merge is always visible.
    pub async fn cart(&self, write_key: String, user_id: String) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.cart(write_key, user_id).await)
    }

    /// Merges `incoming` into the user's stored cart (never overwrites) and commits before
    /// resolving; returns the merged state. Concurrent merges cannot lose each other's updates.
    pub async fn merge_cart(&self, write_key: String, user_id: String, incoming: Cart) -> Result<String, StoreError> {
        dispatch!(self, s => s.merge_cart(write_key, user_id, incoming).await)
    }

    /// What the attribution report is computed from.
    pub async fn attribution_rows(&self, q: AttributionQuery) -> Result<AttributionRows, StoreError> {
        dispatch!(self, s => s.attribution_rows(q).await)
    }

    /// What segments are computed from.
    pub async fn segment_rows(&self, q: SegmentQuery) -> Result<SegmentRows, StoreError> {
        dispatch!(self, s => s.segment_rows(q).await)
    }

    /// What a person's profile is built from (`id`: any of their ids).
    pub async fn profile_rows(&self, id: String, keys: KeyFilter) -> Result<ProfileRows, StoreError> {
        dispatch!(self, s => s.profile_rows(id, keys).await)
    }

    /// Deletes, in one transaction, up to `limit` rows each of the messages received before
    /// `before`, the touches at or after which were before it, and the identity links last
    /// seen before it (retention; see `retention.rs`). Consents and carts are state, kept.
    pub async fn purge(&self, before: String, limit: u32) -> Result<Purged, StoreError> {
        dispatch!(self, s => s.purge(before, limit).await)
    }

    /// Round-trips a trivial query (health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }
}

/// One request's worth of validated messages.
pub struct IngestBatch {
    pub write_key: String,
    pub received_at: time::OffsetDateTime,
    pub sent_at: Option<time::OffsetDateTime>,
    /// The batch's top-level `context` / `integrations` JSON, if any.
    pub context: Option<String>,
    pub integrations: Option<String>,
    pub messages: Vec<ValidMessage>,
}

/// For each message of the batch, in order: `true` if newly stored, `false` if a duplicate.
pub type IngestOutcome = Vec<bool>;

/// A committed ingest: its outcome, and the store generation it was committed in (each
/// [`Store::reset`] starts a new one), so that counts of a request committed just before a
/// reset are not mistaken for counts of what the store holds after it.
#[derive(Debug)]
pub struct Committed {
    pub outcome: IngestOutcome,
    pub generation: u64,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct StoredCounts {
    pub stored: u64,
    #[serde(rename = "byType")]
    pub by_type: std::collections::BTreeMap<String, u64>,
    #[serde(rename = "byEvent")]
    pub by_event: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, Clone)]
pub struct IdentitySummary {
    /// The id to ask the timeline for: the anonymousId, or the userId when there is none.
    pub id: String,
    #[serde(rename = "anonymousId")]
    pub anonymous_id: Option<String>,
    #[serde(rename = "userId")]
    pub user_id: Option<String>,
    #[serde(rename = "lastSeen")]
    pub last_seen: String,
    pub messages: u64,
}

#[derive(Debug, Clone)]
pub struct TimelineRow {
    pub kind: String,
    pub event: Option<String>,
    pub name: Option<String>,
    pub timestamp: String,
    pub received_at: String,
    pub raw: String,
}

/// The ids linked to the asked id (itself first), and their messages newest first.
pub type Timeline = (Vec<String>, Vec<TimelineRow>);

/// Which write keys' data a read may see: `None` = all, else these keys only (an admin
/// token's scope, see `admin.rs`).
pub type KeyFilter = Option<Vec<String>>;

#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub write_key: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<u32>,
}

/// Group-commit counters, for `/metrics`.
#[derive(Default, Debug)]
pub struct StoreStats {
    /// Committed transactions containing ingests.
    pub commits: AtomicU64,
    /// Ingest requests committed (divided by `commits`: the average group size).
    pub committed_requests: AtomicU64,
    /// Transactions that failed to commit (their requests were answered 503).
    pub failed_commits: AtomicU64,
    /// Resets so far (written by the writer thread only, in job order).
    pub generation: AtomicU64,
    /// Jobs that panicked (a bug) and were answered with an error while the thread went on.
    pub panics: AtomicU64,
}

/// Owns the store threads; [`StoreThread::join`] after [`Store::close`].
pub struct StoreThread {
    handles: Vec<JoinHandle<()>>,
}

impl StoreThread {
    /// Threads to join after the store is closed.
    pub(crate) fn new(handles: Vec<JoinHandle<()>>) -> StoreThread {
        StoreThread { handles }
    }

    pub fn join(self) {
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// What the attribution report reads: conversions named `events` in `from..=to`, and touches
/// from `touches_from` (the lookback before `from`) to `to`.
#[derive(Clone, Debug)]
pub struct AttributionQuery {
    pub keys: KeyFilter,
    pub events: Vec<String>,
    pub from: String,
    pub to: String,
    pub touches_from: String,
}

#[derive(Clone, Debug, Default)]
pub struct AttributionRows {
    pub links: Vec<marketing::Link>,
    pub touches: Vec<marketing::TouchRow>,
    pub conversions: Vec<marketing::EventRow>,
}

/// What segments read: every touch, the `events` since `since`, and the latest consents.
#[derive(Clone, Debug)]
pub struct SegmentQuery {
    pub keys: KeyFilter,
    pub events: Vec<String>,
    pub since: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct SegmentRows {
    pub links: Vec<marketing::Link>,
    pub touches: Vec<marketing::TouchRow>,
    pub events: Vec<marketing::EventRow>,
    pub consents: Vec<marketing::ConsentRow>,
}

/// Most messages a profile reads (its timeline shows the newest of them).
pub const PROFILE_MESSAGES: u32 = 2000;

#[derive(Clone, Debug, Default)]
pub struct ProfileRows {
    /// Every id linked to the asked one (itself first).
    pub ids: Vec<String>,
    /// Of those, the ones an alias replaced (`previousId`).
    pub aliases: Vec<String>,
    pub messages: Vec<marketing::MessageRow>,
    pub touches: Vec<marketing::TouchRow>,
    /// (userId, encoded cart state, updated at) of the collector's cart sync.
    pub carts: Vec<(String, String, String)>,
}

/// The replica id the collector merges under (it never edits a cart itself).
pub const CART_REPLICA: &str = "collector";

/// Most ids a timeline follows through the identity graph (the asked id included).
pub const MAX_TIMELINE_IDS: usize = 64;
/// Most link rows a timeline reads while walking the graph: the walk is bounded by work, not
/// only by ids, so one person with 100,000 links costs the same as any other.
pub const MAX_TIMELINE_LINK_ROWS: usize = 4096;

/// The bounded breadth-first walk of the identity graph that both stores run for timelines
/// and profiles: the rule (each id once, at most [`MAX_TIMELINE_IDS`] ids and
/// [`MAX_TIMELINE_LINK_ROWS`] link rows read) lives here; a store only reads an id's neighbours.
pub struct Walk {
    ids: Vec<String>,
    seen: std::collections::HashSet<String>,
    queue: std::collections::VecDeque<String>,
    rows_read: usize,
    done: bool,
}

impl Walk {
    pub fn new(id: &str) -> Walk {
        Walk {
            ids: vec![id.to_string()],
            seen: std::collections::HashSet::from([id.to_string()]),
            queue: std::collections::VecDeque::from([id.to_string()]),
            rows_read: 0,
            done: false,
        }
    }

    /// The next id to expand and how many link rows it may still read; `None` when the walk
    /// is over.
    pub fn next(&mut self) -> Option<(String, i64)> {
        if self.done {
            return None;
        }
        let cur = self.queue.pop_front()?;
        Some((cur, (MAX_TIMELINE_LINK_ROWS - self.rows_read) as i64))
    }

    /// One neighbour read; `false` when the walk has reached a bound (stop reading).
    pub fn visit(&mut self, v: String) -> bool {
        self.rows_read += 1;
        if self.seen.insert(v.clone()) {
            self.ids.push(v.clone());
            self.queue.push_back(v);
        }
        self.done = self.ids.len() >= MAX_TIMELINE_IDS || self.rows_read >= MAX_TIMELINE_LINK_ROWS;
        !self.done
    }

    /// The ids reached, the asked one first.
    pub fn into_ids(self) -> Vec<String> {
        self.ids
    }
}

/// Rows one [`Store::purge`] call deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub messages: u64,
    pub touches: u64,
    pub links: u64,
    /// Dedup keys (PostgreSQL keeps them apart from the partitioned messages; 0 on SQLite).
    pub keys: u64,
}

impl Purged {
    /// Whether some table may hold more rows to purge (a call hit its limit).
    pub fn more(&self, limit: u32) -> bool {
        [self.messages, self.touches, self.links, self.keys].iter().any(|n| *n >= u64::from(limit))
    }
}

/// Messages of one (anonymousId, userId) pair: how many, and the latest receive time.
pub(crate) struct PairCount {
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    pub count: u64,
    pub last_seen: String,
}

/// Recent people from the recent messages' id pairs and the identity links (newest first):
/// a person is a connected component of ids — an anonymousId and a userId seen on the same
/// message, or linked by identify / alias, belong together (so an anonymous visitor, the user
/// they logged in as and that user's alias are one row). Every backend loads the same rows and
/// calls this, so `/v1/journeys` is the same on all of them.
pub(crate) fn people(pairs: Vec<PairCount>, links: Vec<(String, String)>, limit: u32) -> Vec<IdentitySummary> {
    use std::collections::HashMap;

    #[derive(Default)]
    struct Ids {
        index: HashMap<String, usize>,
        parent: Vec<usize>,
    }
    impl Ids {
        fn id(&mut self, s: &str) -> usize {
            if let Some(i) = self.index.get(s) {
                return *i;
            }
            let i = self.parent.len();
            self.parent.push(i);
            self.index.insert(s.to_string(), i);
            i
        }
        fn root(&mut self, mut i: usize) -> usize {
            while self.parent[i] != i {
                self.parent[i] = self.parent[self.parent[i]];
                i = self.parent[i];
            }
            i
        }
        fn union(&mut self, a: usize, b: usize) {
            let (ra, rb) = (self.root(a), self.root(b));
            if ra != rb {
                self.parent[ra] = rb;
            }
        }
    }

    let mut ids = Ids::default();
    for p in &pairs {
        match (&p.anonymous_id, &p.user_id) {
            (Some(a), Some(u)) => {
                let (a, u) = (ids.id(a), ids.id(u));
                ids.union(a, u);
            }
            (Some(x), None) | (None, Some(x)) => {
                ids.id(x);
            }
            (None, None) => {}
        }
    }
    for (a, u) in links {
        // Only links touching a recent id matter; others would only add unseen people.
        if ids.index.contains_key(&a) || ids.index.contains_key(&u) {
            let (a, u) = (ids.id(&a), ids.id(&u));
            ids.union(a, u);
        }
    }

    struct Person {
        anonymous: Option<(String, String)>, // (last seen, id)
        user: Option<(String, String)>,
        count: u64,
        last_seen: String,
    }
    let mut people: HashMap<usize, Person> = HashMap::new();
    for p in pairs {
        let Some(key) = p.anonymous_id.as_deref().or(p.user_id.as_deref()) else { continue };
        let i = ids.id(key);
        let root = ids.root(i);
        let person = people.entry(root).or_insert_with(|| Person {
            anonymous: None,
            user: None,
            count: 0,
            last_seen: String::new(),
        });
        person.count += p.count;
        if p.last_seen > person.last_seen {
            person.last_seen = p.last_seen.clone();
        }
        let newer = |slot: &Option<(String, String)>| slot.as_ref().map_or(true, |(seen, _)| p.last_seen >= *seen);
        if let Some(a) = &p.anonymous_id {
            if newer(&person.anonymous) {
                person.anonymous = Some((p.last_seen.clone(), a.clone()));
            }
        }
        if let Some(u) = &p.user_id {
            if newer(&person.user) {
                person.user = Some((p.last_seen.clone(), u.clone()));
            }
        }
    }
    let mut out: Vec<IdentitySummary> = people
        .into_values()
        .map(|p| {
            let anonymous_id = p.anonymous.map(|(_, a)| a);
            let user_id = p.user.map(|(_, u)| u);
            IdentitySummary {
                id: user_id.clone().or_else(|| anonymous_id.clone()).unwrap_or_default(),
                anonymous_id,
                user_id,
                last_seen: p.last_seen,
                messages: p.count,
            }
        })
        .collect();
    out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.id.cmp(&b.id)));
    out.truncate(limit as usize);
    out
}


