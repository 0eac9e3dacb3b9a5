//! What lands in the SQLite file: indexed columns, skew correction, batch-level context, the
//! identity graph, and upgrading a database made by an older collector.

mod common;

use common::*;
use serde_json::json;

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("omnitrail-collector-storage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("events.db")
}

/// message_id, type, event, user_id, session_id, timestamp, corrected_timestamp,
/// batch_context, batch_integrations
type Row = (String, String, Option<String>, Option<String>, Option<String>, String, String, Option<String>, Option<String>);

#[test]
fn columns_batch_context_and_identity_graph() {
    let db = temp_db("columns");
    let c = start_with(|cfg| cfg.store = omnitrail_collector::config::StoreSpec::Sqlite(db.to_string_lossy().into_owned()));
    let body = json!({
        "batch": [
            {"type":"track","event":"E","messageId":"c1","anonymousId":"a1","timestamp":"2024-05-01T12:00:00.000Z"},
            {"type":"identify","messageId":"c2","anonymousId":"a1","userId":"u1","timestamp":"2024-05-01T12:00:01Z","context":{"sessionId":7}},
            {"type":"alias","messageId":"c3","previousId":"u1","userId":"u2","timestamp":"2024-05-01T12:00:02Z"}
        ],
        "sentAt": "2024-05-01T12:00:05.000Z",
        "writeKey": "demo",
        "context": {"sessionId": 1714564800000u64, "ip": "203.0.113.9"},
        "integrations": {"All": true}
    });
    assert_eq!(post(c.addr, "/v1/batch", &body).status, 200);
    c.stop(); // graceful: commits and checkpoints

    let conn = rusqlite::Connection::open(&db).unwrap();
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(journal, "wal");
    let rows: Vec<Row> = conn
        .prepare("SELECT message_id, type, event, user_id, session_id, timestamp, corrected_timestamp, batch_context, batch_integrations FROM messages ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[0].1.as_str(), rows[0].2.as_deref()), ("track", Some("E")));
    // The batch context's sessionId applies when the message has none; its own wins otherwise.
    assert_eq!(rows[0].4.as_deref(), Some("1714564800000"));
    assert_eq!(rows[1].4.as_deref(), Some("7"));
    assert_eq!(rows[0].7.as_deref(), Some(r#"{"ip":"203.0.113.9","sessionId":1714564800000}"#));
    assert_eq!(rows[0].8.as_deref(), Some(r#"{"All":true}"#));
    // Timestamps are normalised; the corrected one is shifted by receivedAt - sentAt (now - 2024).
    assert_eq!(rows[0].5, "2024-05-01T12:00:00.000Z");
    assert!(rows[0].6.as_str() > "2025", "{}", rows[0].6);
    let links: Vec<(String, String, String)> = conn
        .prepare("SELECT anonymous_id, user_id, source FROM identities ORDER BY source DESC")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        links,
        vec![("a1".into(), "u1".into(), "identify".into()), ("u1".into(), "u2".into(), "alias".into())]
    );
    drop(conn);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[test]
fn upgrades_a_database_from_before_batch_context() {
    let db = temp_db("upgrade");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, write_key TEXT NOT NULL, message_id TEXT NOT NULL,
               type TEXT NOT NULL, event TEXT, name TEXT, anonymous_id TEXT, user_id TEXT, session_id TEXT,
               timestamp TEXT NOT NULL, corrected_timestamp TEXT NOT NULL, sent_at TEXT, received_at TEXT NOT NULL,
               raw TEXT NOT NULL, UNIQUE (write_key, message_id));
             INSERT INTO messages (write_key, message_id, type, anonymous_id, timestamp, corrected_timestamp, received_at, raw)
             VALUES ('demo', 'old', 'page', 'a', 't', 't', 'r', '{\"type\":\"page\"}');",
        )
        .unwrap();
    }
    let c = start_with(|cfg| cfg.store = omnitrail_collector::config::StoreSpec::Sqlite(db.to_string_lossy().into_owned()));
    let r = post(c.addr, "/v1/batch", &json!({"batch":[track("new","a","E")],"writeKey":"demo","context":{"x":1}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(post(c.addr, "/v1/batch", &json!({"batch":[{"type":"page","messageId":"old","anonymousId":"a","timestamp":TS}],"writeKey":"demo"})).json()["duplicates"], 1);
    assert_eq!(messages(c.addr).len(), 2);
    c.stop();
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[test]
fn an_older_database_gets_its_touches_and_consents_backfilled_once() {
    let db = temp_db("backfill");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let raw = json!({"type":"page","messageId":"old","anonymousId":"a","userId":"u","timestamp":TS,
            "context":{"omnitrail":{"touch":{"channel":"paid_social","at":"2024-05-01T11:59:00.000Z","campaign":{"source":"insta"}}},
                       "consent":{"categoryPreferences":{"analytics":true,"marketing":true}}}}).to_string();
        conn.execute_batch(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, write_key TEXT NOT NULL, message_id TEXT NOT NULL,
               type TEXT NOT NULL, event TEXT, name TEXT, anonymous_id TEXT, user_id TEXT, session_id TEXT,
               timestamp TEXT NOT NULL, corrected_timestamp TEXT NOT NULL, sent_at TEXT, received_at TEXT NOT NULL,
               raw TEXT NOT NULL, UNIQUE (write_key, message_id));",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO messages (write_key, message_id, type, anonymous_id, user_id, timestamp, corrected_timestamp, received_at, raw)
             VALUES ('demo', 'old', 'page', 'a', 'u', ?1, ?1, ?1, ?2)",
            rusqlite::params![TS, raw],
        )
        .unwrap();
        // A message without a touch, and one whose raw is not JSON: skipped, not fatal.
        conn.execute_batch(
            "INSERT INTO messages (write_key, message_id, type, anonymous_id, timestamp, corrected_timestamp, received_at, raw)
             VALUES ('demo', 'plain', 'page', 'b', 't', 't', 'r', '{\"type\":\"page\"}'),
                    ('demo', 'junk', 'page', 'c', 't', 't', 'r', 'not json');",
        )
        .unwrap();
    }
    let c = start_with(|cfg| cfg.store = omnitrail_collector::config::StoreSpec::Sqlite(db.to_string_lossy().into_owned()));
    c.stop();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let touches: Vec<(String, String, String, Option<String>)> = conn
        .prepare("SELECT anonymous_id, user_id, channel, source FROM touches")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(touches, vec![("a".into(), "u".into(), "paid_social".into(), Some("insta".into()))]);
    let marketing: i64 = conn.query_row("SELECT marketing FROM consents WHERE anonymous_id = 'a'", [], |r| r.get(0)).unwrap();
    assert_eq!(marketing, 1);
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 2, "done once");
    let links: i64 = conn.query_row("SELECT COUNT(*) FROM identities WHERE source = 'message' AND anonymous_id = 'a' AND user_id = 'u'", [], |r| r.get(0)).unwrap();
    assert_eq!(links, 1, "ids sent together became a link");
    drop(conn);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}
