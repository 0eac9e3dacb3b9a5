//! The rows of the marketer views (see `store/marketing.rs`), read from SQLite: the queries,
//! and the attribution, segment and profile rows assembled from them.
//!
//! Owns: the marketer views' SQLite SQL. Must never: write, compute credit or decide who is
//! one person.

use rusqlite::{params, Connection};

use super::key_list;
use crate::store::marketing::{ConsentRow, EventRow, Link, MessageRow, TouchRow};
use crate::store::{AttributionQuery, AttributionRows, KeyFilter, ProfileRows, SegmentQuery, SegmentRows, PROFILE_MESSAGES};

/// Every link of the write keys `keys` lets through.
pub fn links(conn: &Connection, keys: &KeyFilter) -> Result<Vec<Link>, rusqlite::Error> {
    // The identity graph: identify, alias, and ids sent together on a message.
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id, user_id FROM identities WHERE (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1)))",
    )?;
    let rows = stmt.query_map(params![key_list(keys)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    rows.collect()
}

/// Touches with `from <= at <= to`, without their campaign fields (what the attribution report
/// needs: it reads every touch of the window).
pub fn touch_times(conn: &Connection, keys: &KeyFilter, from: &str, to: &str) -> Result<Vec<TouchRow>, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id, user_id, at, channel, NULL, NULL, NULL, client_at FROM touches
         WHERE (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1))) AND at >= ?2 AND at <= ?3",
    )?;
    let rows = stmt.query_map(params![key_list(keys), from, to], touch_row)?;
    rows.collect()
}

/// The columns `anonymous_id, user_id, at, channel, source, medium, campaign, client_at`.
fn touch_row(r: &rusqlite::Row<'_>) -> Result<TouchRow, rusqlite::Error> {
    Ok(TouchRow {
        anonymous_id: r.get(0)?,
        user_id: r.get(1)?,
        at: r.get(2)?,
        channel: r.get(3)?,
        source: r.get(4)?,
        medium: r.get(5)?,
        campaign: r.get(6)?,
        client_at: r.get(7)?,
    })
}

/// Touches with `from <= at <= to` (stored time strings; `None` = unbounded).
pub fn touches(conn: &Connection, keys: &KeyFilter, from: Option<&str>, to: Option<&str>) -> Result<Vec<TouchRow>, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id, user_id, at, channel, source, medium, campaign, client_at FROM touches
         WHERE (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1)))
           AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at <= ?3)",
    )?;
    let rows = stmt.query_map(params![key_list(keys), from, to], touch_row)?;
    rows.collect()
}

/// The touches of a set of ids.
pub fn touches_of(conn: &Connection, keys: &KeyFilter, ids: &[String]) -> Result<Vec<TouchRow>, rusqlite::Error> {
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id, user_id, at, channel, source, medium, campaign, client_at FROM touches
         WHERE (anonymous_id IN (SELECT value FROM json_each(?2)) OR user_id IN (SELECT value FROM json_each(?2)))
           AND (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1)))
         ORDER BY at",
    )?;
    let rows = stmt.query_map(params![key_list(keys), list], touch_row)?;
    rows.collect()
}

/// Track events named in `events` with `from <= corrected time <= to`.
pub fn events(conn: &Connection, keys: &KeyFilter, events: &[String], from: Option<&str>, to: Option<&str>) -> Result<Vec<EventRow>, rusqlite::Error> {
    let names = serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT COALESCE(anonymous_id, ''), COALESCE(user_id, ''), corrected_timestamp, event,
                CAST(COALESCE(json_extract(raw, '$.properties.revenue'), json_extract(raw, '$.properties.total'), 0) AS REAL),
                CAST(json_extract(raw, '$.properties.order_id') AS TEXT),
                CAST(json_extract(raw, '$.properties.cart_id') AS TEXT),
                CAST(COALESCE(json_extract(raw, '$.properties.quantity'), 1) AS REAL),
                CAST(json_extract(raw, '$.properties.currency') AS TEXT)
         FROM messages
         WHERE type = 'track' AND event IN (SELECT value FROM json_each(?2))
           AND (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1)))
           AND (?3 IS NULL OR corrected_timestamp >= ?3) AND (?4 IS NULL OR corrected_timestamp <= ?4)",
    )?;
    let rows = stmt.query_map(params![key_list(keys), names, from, to], |r| {
        Ok(EventRow {
            anonymous_id: r.get(0)?,
            user_id: r.get(1)?,
            at: r.get(2)?,
            event: r.get(3)?,
            revenue: r.get::<_, Option<f64>>(4)?.filter(|v| v.is_finite()).unwrap_or(0.0),
            order_id: r.get(5)?,
            cart_id: r.get(6)?,
            quantity: r.get::<_, Option<f64>>(7)?.filter(|v| v.is_finite()).unwrap_or(1.0),
            currency: r.get(8)?,
        })
    })?;
    rows.collect()
}

/// The latest consent of every (anonymousId, userId) pair.
pub fn consents(conn: &Connection, keys: &KeyFilter) -> Result<Vec<ConsentRow>, rusqlite::Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT anonymous_id, user_id, at, analytics, marketing FROM consents
         WHERE (?1 IS NULL OR write_key IN (SELECT value FROM json_each(?1)))",
    )?;
    let rows = stmt.query_map(params![key_list(keys)], |r| {
        Ok(ConsentRow {
            anonymous_id: r.get(0)?,
            user_id: r.get(1)?,
            at: r.get(2)?,
            analytics: r.get::<_, Option<i64>>(3)?.map(|v| v != 0),
            marketing: r.get::<_, Option<i64>>(4)?.map(|v| v != 0),
        })
    })?;
    rows.collect()
}

pub fn messages_of(conn: &Connection, keys: &KeyFilter, ids: &[String], limit: u32) -> Result<Vec<MessageRow>, rusqlite::Error> {
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT type, event, name, anonymous_id, user_id, session_id, corrected_timestamp, received_at, raw FROM messages
         WHERE (anonymous_id IN (SELECT value FROM json_each(?1)) OR user_id IN (SELECT value FROM json_each(?1)))
           AND (?2 IS NULL OR write_key IN (SELECT value FROM json_each(?2)))
         ORDER BY corrected_timestamp DESC, id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![list, key_list(keys), limit], |r| {
        Ok(MessageRow {
            kind: r.get(0)?,
            event: r.get(1)?,
            name: r.get(2)?,
            anonymous_id: r.get(3)?,
            user_id: r.get(4)?,
            session_id: r.get(5)?,
            at: r.get(6)?,
            received_at: r.get(7)?,
            raw: r.get(8)?,
        })
    })?;
    rows.collect()
}

/// The stored carts of these user ids (the collector's cart sync).
pub fn carts_of(conn: &Connection, keys: &KeyFilter, user_ids: &[String]) -> Result<Vec<(String, String, String)>, rusqlite::Error> {
    let list = serde_json::to_string(user_ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, state, updated_at FROM carts
         WHERE user_id IN (SELECT value FROM json_each(?1))
           AND (?2 IS NULL OR write_key IN (SELECT value FROM json_each(?2)))",
    )?;
    let rows = stmt.query_map(params![list, key_list(keys)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Ids that appear as aliases' `previousId` among `ids`.
pub fn aliases_of(conn: &Connection, keys: &KeyFilter, ids: &[String]) -> Result<Vec<String>, rusqlite::Error> {
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT anonymous_id FROM identities
         WHERE source = 'alias' AND anonymous_id IN (SELECT value FROM json_each(?1))
           AND (?2 IS NULL OR write_key IN (SELECT value FROM json_each(?2)))",
    )?;
    let rows = stmt.query_map(params![list, key_list(keys)], |r| r.get(0))?;
    rows.collect()
}

pub(super) fn attribution_rows(conn: &Connection, q: &AttributionQuery) -> Result<AttributionRows, rusqlite::Error> {
    Ok(AttributionRows {
        links: links(conn, &q.keys)?,
        touches: touch_times(conn, &q.keys, &q.touches_from, &q.to)?,
        conversions: events(conn, &q.keys, &q.events, Some(&q.from), Some(&q.to))?,
    })
}


pub(super) fn segment_rows(conn: &Connection, q: &SegmentQuery) -> Result<SegmentRows, rusqlite::Error> {
    Ok(SegmentRows {
        links: links(conn, &q.keys)?,
        touches: touches(conn, &q.keys, None, None)?,
        events: events(conn, &q.keys, &q.events, q.since.as_deref(), None)?,
        consents: consents(conn, &q.keys)?,
    })
}


pub(super) fn profile_rows(conn: &Connection, id: &str, keys: &KeyFilter) -> Result<ProfileRows, rusqlite::Error> {
    let ids = super::linked_ids(conn, id, keys)?;
    let messages = messages_of(conn, keys, &ids, PROFILE_MESSAGES)?;
    let touches = touches_of(conn, keys, &ids)?;
    let user_ids: Vec<String> = messages.iter().filter_map(|m| m.user_id.clone()).collect();
    Ok(ProfileRows {
        aliases: aliases_of(conn, keys, &ids)?,
        carts: carts_of(conn, keys, &user_ids)?,
        ids,
        messages,
        touches,
    })
}
