//! The PostgreSQL store's schema: the versioned migrations (recorded in `schema_migrations`,
//! applied at start under an advisory lock, so that instances starting together apply each
//! once) and the day partitions of `messages` that every instance keeps ready.
//!
//! Owns: the PostgreSQL schema, its migrations and partitions. Must never: run a query for a
//! request.

use super::*;

/// The advisory lock key held while migrating (any constant shared by every instance).
pub(super) const MIGRATION_LOCK: i64 = 0x6f6d_6e69_7472_6169; // "omnitrai"

/// The schema's versions, applied in order, each once (recorded in `schema_migrations`).
/// Never edit a released one: add a new version. (Public for the upgrade tests.)
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE messages (
    id                  BIGSERIAL PRIMARY KEY,
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
    batch_context       TEXT,
    batch_integrations  TEXT,
    UNIQUE (write_key, message_id)
);
CREATE INDEX messages_anonymous_id ON messages (anonymous_id, corrected_timestamp);
CREATE INDEX messages_user_id ON messages (user_id, corrected_timestamp);
CREATE INDEX messages_type_event ON messages (type, event);
CREATE INDEX messages_session_id ON messages (session_id);
CREATE INDEX messages_received_at ON messages (received_at);
CREATE TABLE identities (
    write_key    TEXT NOT NULL,
    anonymous_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    source       TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    PRIMARY KEY (write_key, anonymous_id, user_id)
);
CREATE INDEX identities_user_id ON identities (user_id);
CREATE INDEX identities_anonymous_id ON identities (anonymous_id, last_seen);
CREATE TABLE touches (
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
);
CREATE INDEX touches_at ON touches (write_key, at);
CREATE INDEX touches_user_id ON touches (user_id);
CREATE INDEX touches_anonymous_id ON touches (anonymous_id);
CREATE TABLE consents (
    write_key    TEXT NOT NULL,
    anonymous_id TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL DEFAULT '',
    at           TEXT NOT NULL,
    analytics    BOOLEAN,
    marketing    BOOLEAN,
    PRIMARY KEY (write_key, anonymous_id, user_id)
);
CREATE TABLE carts (
    write_key   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (write_key, user_id)
);
"#,
    ),
    (
        2,
        // Messages partitioned by receive day (retention drops a day's partition instead of
        // deleting its rows); the dedup key moves to its own table, since a unique constraint
        // on a partitioned table must include the partition key.
        r#"
CREATE TABLE message_keys (
    write_key   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    received_on DATE NOT NULL,
    PRIMARY KEY (write_key, message_id)
);
CREATE INDEX message_keys_received_on ON message_keys (received_on);
INSERT INTO message_keys (write_key, message_id, received_on)
    SELECT write_key, message_id, CAST(left(received_at, 10) AS date) FROM messages;
ALTER SEQUENCE messages_id_seq OWNED BY NONE;
ALTER TABLE messages RENAME TO messages_v1;
CREATE TABLE messages (
    id                  BIGINT NOT NULL DEFAULT nextval('messages_id_seq'),
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
    batch_context       TEXT,
    batch_integrations  TEXT,
    received_on         DATE NOT NULL,
    CONSTRAINT messages_by_day_pkey PRIMARY KEY (id, received_on)
) PARTITION BY RANGE (received_on);
CREATE TABLE messages_default PARTITION OF messages DEFAULT;
INSERT INTO messages (id, write_key, message_id, type, event, name, anonymous_id, user_id, session_id,
        timestamp, corrected_timestamp, sent_at, received_at, raw, batch_context, batch_integrations, received_on)
    SELECT id, write_key, message_id, type, event, name, anonymous_id, user_id, session_id,
        timestamp, corrected_timestamp, sent_at, received_at, raw, batch_context, batch_integrations,
        CAST(left(received_at, 10) AS date)
    FROM messages_v1;
DROP TABLE messages_v1;
ALTER SEQUENCE messages_id_seq OWNED BY messages.id;
CREATE INDEX messages_anonymous_id ON messages (anonymous_id, corrected_timestamp);
CREATE INDEX messages_user_id ON messages (user_id, corrected_timestamp);
CREATE INDEX messages_type_event ON messages (type, event);
CREATE INDEX messages_session_id ON messages (session_id);
CREATE INDEX messages_received_at ON messages (received_at);
"#,
    ),
    (
        3,
        r#"
-- An anonymousId and a userId sent together on a message are an identity link.
INSERT INTO identities (write_key, anonymous_id, user_id, source, first_seen, last_seen)
SELECT write_key, anonymous_id, user_id, 'message', MIN(received_at), MAX(received_at)
FROM messages WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
GROUP BY write_key, anonymous_id, user_id
ON CONFLICT DO NOTHING;
"#,
    ),
];

/// The advisory lock key held while creating partitions.
pub(super) const PARTITION_LOCK: i64 = 0x6f6d_6e69_7061_7274; // "omnipart"
/// Daily partitions of `messages` are kept ready this many days ahead (and one behind).
pub(super) const PARTITIONS_AHEAD: i64 = 3;
/// Applies the missing [`MIGRATIONS`], each in its own transaction, while holding the
/// advisory lock (instances starting together wait for each other; the second finds nothing
/// left to do).
pub(super) async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let result = async {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    INTEGER PRIMARY KEY,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                 )",
            )
            .await?;
        let applied: HashSet<i32> = client.query("SELECT version FROM schema_migrations", &[]).await?.iter().map(|r| r.get(0)).collect();
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            let tx = client.transaction().await?;
            tx.batch_execute(sql).await?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).await?;
            tx.commit().await?;
        }
        Ok(())
    }
    .await;
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    result.and(unlock.map(|_| ()))
}

/// `YYYY-MM-DD` of a time.
pub(super) fn day(t: time::OffsetDateTime) -> String {
    timefmt::format(t).get(..10).unwrap_or("1970-01-01").to_string()
}

/// Creates the daily partitions of `messages` from yesterday to [`PARTITIONS_AHEAD`] days
/// ahead, under an advisory lock (instances doing it at once wait for each other). A day whose
/// rows already went to the default partition (no partition was ready) keeps them there: its
/// partition cannot be created, which is logged, and retention deletes those rows by age.
pub(super) async fn ensure_partitions(client: &mut Client, now: time::OffsetDateTime) -> Result<(), tokio_postgres::Error> {
    let mut tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK]).await?;
    for d in -1..=PARTITIONS_AHEAD {
        let from = day(now + time::Duration::days(d));
        let to = day(now + time::Duration::days(d + 1));
        let name = format!("messages_p{}", from.replace('-', ""));
        let sp = tx.transaction().await?;
        match sp.batch_execute(&format!("CREATE TABLE IF NOT EXISTS {name} PARTITION OF messages FOR VALUES FROM ('{from}') TO ('{to}')")).await {
            Ok(()) => sp.commit().await?,
            Err(e) => {
                crate::log::warn("cannot create a partition; its day stays in the default one", crate::fields! {"partition" => name, "error" => db_error(e).to_string()});
                sp.rollback().await?;
            }
        }
    }
    tx.commit().await
}
