//! The rows of the marketer views (see `store/marketing.rs`), read from PostgreSQL.
//!
//! Owns: the marketer views' PostgreSQL SQL. Must never: write, compute credit or decide who is
//! one person.

use super::*;

pub(super) async fn links(client: &Client, keys: &KeyFilter) -> Result<Vec<Link>, tokio_postgres::Error> {
    // The identity graph: identify, alias, and ids sent together on a message.
    let sql = "SELECT anonymous_id, user_id FROM identities WHERE ($1::text[] IS NULL OR write_key = ANY($1))";
    Ok(client.query(sql, &[keys]).await?.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) fn touch_row(r: &tokio_postgres::Row) -> TouchRow {
    TouchRow {
        anonymous_id: r.get(0),
        user_id: r.get(1),
        at: r.get(2),
        channel: r.get(3),
        source: r.get(4),
        medium: r.get(5),
        campaign: r.get(6),
        client_at: r.get(7),
    }
}

pub(super) async fn touches(client: &Client, keys: &KeyFilter, from: Option<&str>, to: Option<&str>) -> Result<Vec<TouchRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT anonymous_id, user_id, at, channel, source, medium, campaign, client_at FROM touches
             WHERE ($1::text[] IS NULL OR write_key = ANY($1))
               AND ($2::text IS NULL OR at >= $2) AND ($3::text IS NULL OR at <= $3)",
            &[keys, &from, &to],
        )
        .await?;
    Ok(rows.iter().map(touch_row).collect())
}

pub(super) async fn touches_of(client: &Client, keys: &KeyFilter, ids: &[String]) -> Result<Vec<TouchRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT anonymous_id, user_id, at, channel, source, medium, campaign, client_at FROM touches
             WHERE (anonymous_id = ANY($2) OR user_id = ANY($2))
               AND ($1::text[] IS NULL OR write_key = ANY($1))
             ORDER BY at",
            &[keys, &ids],
        )
        .await?;
    Ok(rows.iter().map(touch_row).collect())
}

/// SQLite's `CAST(x AS REAL)` of a JSON value: numbers as they are, strings by their longest
/// numeric prefix (else 0), true 1, false 0.
pub(super) fn as_real(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => {
            let t = s.trim_start();
            let end = (0..=t.len()).rev().find(|&i| t.is_char_boundary(i) && t[..i].parse::<f64>().is_ok_and(|f| f.is_finite()));
            Some(end.map(|i| t[..i].parse::<f64>().unwrap_or(0.0)).unwrap_or(0.0))
        }
        Value::Array(_) | Value::Object(_) => Some(0.0),
    }
}

/// SQLite's `CAST(json_extract(..) AS TEXT)`: strings as they are, numbers and objects as
/// JSON text, true `1`, false `0`, null none.
pub(super) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        other => Some(other.to_string()),
    }
}

pub(super) async fn events(
    client: &Client,
    keys: &KeyFilter,
    names: &[String],
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<EventRow>, tokio_postgres::Error> {
    // Names come from a query string: PostgreSQL text cannot hold NUL (nor would one match).
    let names: Vec<String> = names.iter().map(|n| clean(n).into_owned()).collect();
    let rows = client
        .query(
            "SELECT COALESCE(anonymous_id, ''), COALESCE(user_id, ''), corrected_timestamp, event, raw
             FROM messages
             WHERE type = 'track' AND event = ANY($2)
               AND ($1::text[] IS NULL OR write_key = ANY($1))
               AND ($3::text IS NULL OR corrected_timestamp >= $3) AND ($4::text IS NULL OR corrected_timestamp <= $4)",
            &[keys, &names, &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let raw: String = r.get(4);
            let props = serde_json::from_str::<Value>(&raw).ok().and_then(|v| v.get("properties").cloned()).unwrap_or(Value::Null);
            let prop = |k: &str| props.get(k).filter(|v| !v.is_null());
            let revenue = prop("revenue").or_else(|| prop("total")).and_then(as_real);
            EventRow {
                anonymous_id: r.get(0),
                user_id: r.get(1),
                at: r.get(2),
                event: r.get(3),
                revenue: revenue.filter(|v| v.is_finite()).unwrap_or(0.0),
                order_id: prop("order_id").and_then(as_text),
                cart_id: prop("cart_id").and_then(as_text),
                quantity: prop("quantity").map_or(Some(1.0), as_real).filter(|v| v.is_finite()).unwrap_or(1.0),
                currency: prop("currency").and_then(as_text),
            }
        })
        .collect())
}

pub(super) async fn consents(client: &Client, keys: &KeyFilter) -> Result<Vec<ConsentRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT anonymous_id, user_id, at, analytics, marketing FROM consents
             WHERE ($1::text[] IS NULL OR write_key = ANY($1))",
            &[keys],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ConsentRow { anonymous_id: r.get(0), user_id: r.get(1), at: r.get(2), analytics: r.get(3), marketing: r.get(4) })
        .collect())
}

pub(super) async fn messages_of(client: &Client, keys: &KeyFilter, ids: &[String], limit: u32) -> Result<Vec<MessageRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT type, event, name, anonymous_id, user_id, session_id, corrected_timestamp, received_at, raw FROM messages
             WHERE (anonymous_id = ANY($1) OR user_id = ANY($1))
               AND ($2::text[] IS NULL OR write_key = ANY($2))
             ORDER BY corrected_timestamp DESC, id DESC LIMIT $3",
            &[&ids, keys, &i64::from(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| MessageRow {
            kind: r.get(0),
            event: r.get(1),
            name: r.get(2),
            anonymous_id: r.get(3),
            user_id: r.get(4),
            session_id: r.get(5),
            at: r.get(6),
            received_at: r.get(7),
            raw: r.get(8),
        })
        .collect())
}

pub(super) async fn carts_of(client: &Client, keys: &KeyFilter, user_ids: &[String]) -> Result<Vec<(String, String, String)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT user_id, state, updated_at FROM carts
             WHERE user_id = ANY($1) AND state <> '' AND ($2::text[] IS NULL OR write_key = ANY($2))",
            &[&user_ids, keys],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

pub(super) async fn aliases_of(client: &Client, keys: &KeyFilter, ids: &[String]) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT DISTINCT anonymous_id FROM identities
             WHERE source = 'alias' AND anonymous_id = ANY($1)
               AND ($2::text[] IS NULL OR write_key = ANY($2))",
            &[&ids, keys],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
