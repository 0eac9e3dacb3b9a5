//! The SQLite store's schema and connections: the tables and indexes, the pragmas, opening
//! the writer and the read-only reader, and the migrations of databases made by older
//! collectors (columns added later; touches, consents and message links filled once, as
//! `user_version` records).
//!
//! Owns: the SQLite schema and its migrations. Must never: run a query for a request.

use std::path::Path;

use rusqlite::Connection;

use super::*;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS messages (
    id                  INTEGER PRIMARY KEY,
    write_key           TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    type                TEXT NOT NULL,
    event               TEXT,
    name                TEXT,
    anonymous_id        TEXT,
    user_id             TEXT,
    session_id          TEXT,
    timestamp           TEXT NOT NULL,
    corrected_timestamp TEXT NOT NULL,
    sent_at             TEXT,
    received_at         TEXT NOT NULL,
    raw                 TEXT NOT NULL,
    -- Segment applies a batch's top-level `context` / `integrations` to all its messages;
    -- `raw` stays verbatim, so they are kept here (JSON text, NULL when absent).
    batch_context       TEXT,
    batch_integrations  TEXT,
    UNIQUE (write_key, message_id)
);
CREATE INDEX IF NOT EXISTS messages_anonymous_id ON messages (anonymous_id, corrected_timestamp);
CREATE INDEX IF NOT EXISTS messages_user_id ON messages (user_id, corrected_timestamp);
CREATE INDEX IF NOT EXISTS messages_type_event ON messages (type, event);
CREATE INDEX IF NOT EXISTS messages_session_id ON messages (session_id);
CREATE INDEX IF NOT EXISTS messages_received_at ON messages (received_at);
-- The identity graph: one row per (anonymousId or previousId) <-> userId link seen in an
-- identify or alias message, or an anonymousId and a userId sent together (source 'message').
CREATE TABLE IF NOT EXISTS identities (
    write_key    TEXT NOT NULL,
    anonymous_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    source       TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    PRIMARY KEY (write_key, anonymous_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identities_user_id ON identities (user_id);
CREATE INDEX IF NOT EXISTS identities_anonymous_id ON identities (anonymous_id, last_seen);
-- One row per distinct marketing touch seen on a message (`context.omnitrail.touch`): the
-- attribution report, profiles and segments read these, not the raw JSON.
-- `client_at` is the touch's time as the SDK sent it (the same on every message of the touch:
-- the key), `at` the first copy's time with its batch's skew correction (what views compare).
CREATE TABLE IF NOT EXISTS touches (
    write_key    TEXT NOT NULL,
    anonymous_id TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL DEFAULT '',
    client_at    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    at           TEXT NOT NULL,
    source       TEXT,
    medium       TEXT,
    campaign     TEXT,
    PRIMARY KEY (write_key, anonymous_id, user_id, client_at, channel)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS touches_at ON touches (write_key, at);
CREATE INDEX IF NOT EXISTS touches_user_id ON touches (user_id);
CREATE INDEX IF NOT EXISTS touches_anonymous_id ON touches (anonymous_id);
-- The latest consent each (anonymousId, userId) pair was seen with: segments exported for
-- marketing keep only people who allowed it.
CREATE TABLE IF NOT EXISTS consents (
    write_key    TEXT NOT NULL,
    anonymous_id TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL DEFAULT '',
    at           TEXT NOT NULL,
    analytics    INTEGER,
    marketing    INTEGER,
    PRIMARY KEY (write_key, anonymous_id, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS carts (
    write_key   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (write_key, user_id)
) WITHOUT ROWID;
"#;


pub(super) fn open_connection(path: &str) -> Result<Connection, StoreError> {
    let conn = if path == ":memory:" {
        Connection::open_in_memory()
    } else {
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        }
        Connection::open(path)
    }
    .map_err(|e| StoreError::Open(format!("{path}: {e}")))?;
    // WAL: readers never block the writer; FULL: the WAL is fsynced at every commit, so a
    // committed transaction survives power loss, not only a process kill.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Brings a database created by an older collector up to [`SCHEMA`]: columns added later.
pub(super) fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
    backfill_touches(conn)?;
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('messages')")?;
    let columns: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for column in ["batch_context", "batch_integrations"] {
        if !columns.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE messages ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}

/// Databases from before the `touches` and `consents` tables (`user_version` 0) get them
/// filled once from the stored messages, and those from before message links (< 2) get those;
/// `user_version` records what was done.
pub(super) fn backfill_touches(conn: &Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        conn.execute_batch(
            "BEGIN;
             INSERT INTO touches (write_key, anonymous_id, user_id, client_at, channel, at, source, medium, campaign)
             SELECT write_key, COALESCE(anonymous_id, ''), COALESCE(user_id, ''),
                    json_extract(raw, '$.context.omnitrail.touch.at'),
                    json_extract(raw, '$.context.omnitrail.touch.channel'),
                    json_extract(raw, '$.context.omnitrail.touch.at'),
                    json_extract(raw, '$.context.omnitrail.touch.campaign.source'),
                    json_extract(raw, '$.context.omnitrail.touch.campaign.medium'),
                    json_extract(raw, '$.context.omnitrail.touch.campaign.name')
             FROM messages
             WHERE json_valid(raw)
               AND typeof(json_extract(raw, '$.context.omnitrail.touch.at')) = 'text'
               AND typeof(json_extract(raw, '$.context.omnitrail.touch.channel')) = 'text'
             ON CONFLICT DO NOTHING;
             INSERT INTO consents (write_key, anonymous_id, user_id, at, analytics, marketing)
             SELECT write_key, COALESCE(anonymous_id, ''), COALESCE(user_id, ''), MAX(corrected_timestamp),
                    json_extract(raw, '$.context.consent.categoryPreferences.analytics'),
                    json_extract(raw, '$.context.consent.categoryPreferences.marketing')
             FROM messages
             WHERE json_valid(raw) AND json_type(raw, '$.context.consent.categoryPreferences') = 'object'
             GROUP BY write_key, anonymous_id, user_id
             ON CONFLICT DO NOTHING;
             PRAGMA user_version = 1;
             COMMIT;",
        )?;
    }
    if version < 2 {
        // Version 2: ids sent together on a message are identity links (source 'message').
        conn.execute_batch(
            "BEGIN;
             INSERT INTO identities (write_key, anonymous_id, user_id, source, first_seen, last_seen)
             SELECT write_key, anonymous_id, user_id, 'message', MIN(received_at), MAX(received_at)
             FROM messages WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
             GROUP BY write_key, anonymous_id, user_id
             ON CONFLICT DO NOTHING;
             PRAGMA user_version = 2;
             COMMIT;",
        )?;
    }
    Ok(())
}

/// A read-only connection on the same file (opened after the writer created the schema).
pub(super) fn open_reader(path: &str) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Open(format!("{path} (reader): {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}
