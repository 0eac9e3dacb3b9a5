//! Journey viewer: `GET /` (and `/journeys`) serves a small self-refreshing page;
//! `GET /v1/journeys` lists recent identities and `GET /v1/journeys/{id}` returns one
//! identity's timeline (touchpoints with channel, page views, cart changes, conversions,
//! identity events), newest first, across every id the identity graph links to it.
//!
//! Owns: the timeline classification and the page. Must never: write to the store, or trust
//! stored JSON to have any particular shape (every field lookup is optional).

use std::sync::LazyLock;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::admin::Grant;
use crate::state::Shared;
use crate::store::TimelineRow;

const PAGE: &str = include_str!("viewer.html");

/// The page's Content-Security-Policy: nothing but its own inline script and style (by hash)
/// and requests to its own origin; never framed.
static PAGE_CSP: LazyLock<String> = LazyLock::new(|| page_csp(PAGE));

/// The CSP of an admin page: its own inline script and style (by hash), requests to its own
/// origin, nothing else; never framed.
pub fn page_csp(html: &str) -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        inline_hash(html, "<script>", "</script>"),
        inline_hash(html, "<style>", "</style>")
    )
}

/// An admin HTML page with its CSP.
pub fn html(page: &'static str, csp: &str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_SECURITY_POLICY, csp)], page).into_response()
}

/// `'sha256-…'` of the text between `open` and `close` in `html` (`'none'` if absent).
pub fn inline_hash(html: &str, open: &str, close: &str) -> String {
    let Some(start) = html.find(open).map(|i| i + open.len()) else { return "'none'".into() };
    let Some(len) = html[start..].find(close) else { return "'none'".into() };
    let digest = Sha256::digest(html[start..start + len].as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
}

pub async fn page() -> Response {
    html(PAGE, &PAGE_CSP)
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"ok": false, "error": "storage_unavailable", "detail": e.to_string()})))
        .into_response()
}

pub async fn identities(State(st): State<Shared>, Extension(grant): Extension<Grant>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let keys = match grant.keys(q.write_key.as_deref()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match st.store.identities(limit, keys).await {
        Ok(list) => axum::Json(json!({"identities": list})).into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn timeline(
    State(st): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(200).clamp(1, 2000);
    let keys = match grant.keys(q.write_key.as_deref()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match st.store.timeline(id.clone(), limit, keys).await {
        Ok((ids, rows)) => {
            let entries: Vec<Entry> = rows.iter().map(classify).collect();
            axum::Json(json!({"id": id, "linkedIds": ids, "entries": entries})).into_response()
        }
        Err(e) => unavailable(e),
    }
}

/// One line of the timeline.
#[derive(Debug, Serialize, PartialEq)]
pub struct Entry {
    /// `touchpoint`, `page`, `cart`, `conversion`, `identity` or `event`.
    pub kind: &'static str,
    #[serde(rename = "type")]
    pub message_type: String,
    pub title: String,
    pub channel: Option<String>,
    pub detail: Option<String>,
    pub timestamp: String,
    #[serde(rename = "receivedAt")]
    pub received_at: String,
}

const CART_EVENTS: [&str; 9] = [
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Cart Updated",
    "Cart Cleared",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
];
const CONVERSION_EVENTS: [&str; 4] = ["Order Completed", "Signed Up", "Subscription Started", "Lead Generated"];

fn s(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Classifies a stored message for the timeline. Never fails: unknown shapes become `event`.
pub fn classify(row: &TimelineRow) -> Entry {
    let raw: Value = serde_json::from_str(&row.raw).unwrap_or(Value::Null);
    let ctx = raw.get("context");
    let props = raw.get("properties");
    let omni = ctx.and_then(|c| c.get("omnitrail"));
    let campaign = ctx.and_then(|c| c.get("campaign")).filter(|c| c.as_object().is_some_and(|m| !m.is_empty()));
    // The SDK sends the current touchpoint on every message as `context.omnitrail.touch`.
    let touch = omni.and_then(|o| o.get("touch"));
    let channel = s(touch.and_then(|t| t.get("channel")))
        .or_else(|| s(omni.and_then(|o| o.get("channel"))))
        .or_else(|| s(props.and_then(|p| p.get("channel"))))
        .or_else(|| s(campaign.and_then(|c| c.get("medium"))));
    let mut entry = Entry {
        kind: "event",
        message_type: row.kind.clone(),
        title: row.kind.clone(),
        channel: None,
        detail: None,
        timestamp: row.timestamp.clone(),
        received_at: row.received_at.clone(),
    };
    match row.kind.as_str() {
        "page" | "screen" => {
            let url = s(props.and_then(|p| p.get("url"))).or_else(|| s(ctx.and_then(|c| c.get("page")).and_then(|p| p.get("url"))));
            let path = s(props.and_then(|p| p.get("path"))).or_else(|| s(ctx.and_then(|c| c.get("page")).and_then(|p| p.get("path"))));
            entry.title = row.name.clone().or(path).unwrap_or_else(|| format!("{} view", row.kind));
            entry.detail = url;
            // This page view recorded the touchpoint when the touch is stamped with its time.
            let recorded_here = touch.and_then(|t| t.get("at")).is_some_and(|at| Some(at) == raw.get("timestamp"));
            let new_touch = recorded_here || campaign.is_some();
            entry.kind = if new_touch { "touchpoint" } else { "page" };
            if new_touch {
                let source = s(campaign.and_then(|c| c.get("source")));
                let name = s(campaign.and_then(|c| c.get("name")));
                let campaign_text = [source, name].into_iter().flatten().collect::<Vec<_>>().join(" / ");
                entry.channel = channel.or(Some("unknown".into()));
                if !campaign_text.is_empty() {
                    entry.detail = Some(match entry.detail.take() {
                        Some(u) => format!("{campaign_text} — {u}"),
                        None => campaign_text,
                    });
                }
            }
        }
        "track" => {
            let event = row.event.clone().unwrap_or_default();
            entry.title = event.clone();
            if CART_EVENTS.contains(&event.as_str()) {
                entry.kind = "cart";
                let product = s(props.and_then(|p| p.get("name"))).or_else(|| s(props.and_then(|p| p.get("product_id"))));
                let count = props.and_then(|p| p.get("products")).and_then(Value::as_array).map(|a| format!("{} products", a.len()));
                entry.detail = product.or(count);
            } else if CONVERSION_EVENTS.contains(&event.as_str()) {
                entry.kind = "conversion";
                let value = s(props.and_then(|p| p.get("revenue")))
                    .or_else(|| s(props.and_then(|p| p.get("total"))))
                    .or_else(|| s(props.and_then(|p| p.get("value"))));
                let currency = s(props.and_then(|p| p.get("currency"))).unwrap_or_default();
                entry.detail = value.map(|v| format!("{v} {currency}").trim().to_string());
                entry.channel = channel;
            }
        }
        "identify" => {
            entry.kind = "identity";
            entry.title = "identify".into();
            entry.detail = s(raw.get("userId")).map(|u| format!("userId {u}"));
        }
        "alias" => {
            entry.kind = "identity";
            entry.title = "alias".into();
            entry.detail = Some(format!("{} → {}", s(raw.get("previousId")).unwrap_or_default(), s(raw.get("userId")).unwrap_or_default()));
        }
        "group" => {
            entry.kind = "identity";
            entry.title = "group".into();
            entry.detail = s(raw.get("groupId")).map(|g| format!("groupId {g}"));
        }
        _ => {}
    }
    entry
}

#[cfg(test)]
mod tests {

    #[test]
    fn sdk_touchpoints_are_recognised_by_their_time() {
        let row = |ts: &str, at: &str| crate::store::TimelineRow {
            kind: "page".into(),
            event: None,
            name: None,
            timestamp: ts.into(),
            received_at: ts.into(),
            raw: serde_json::json!({"type": "page", "timestamp": ts, "properties": {"path": "/"},
                "context": {"omnitrail": {"touch": {"at": at, "channel": "organic_search"}}}}).to_string(),
        };
        let here = classify(&row("2026-11-23T02:00:00.000Z", "2026-11-23T02:00:00.000Z"));
        assert_eq!((here.kind, here.channel.as_deref()), ("touchpoint", Some("organic_search")));
        let later = classify(&row("2026-11-23T02:05:00.000Z", "2026-11-23T02:00:00.000Z"));
        assert_eq!(later.kind, "page", "a later page view in the same visit carries the touch but did not start it");
    }
    use super::*;

    fn row(kind: &str, event: Option<&str>, raw: &str) -> TimelineRow {
        TimelineRow {
            kind: kind.into(),
            event: event.map(str::to_string),
            name: None,
            timestamp: "t".into(),
            received_at: "r".into(),
            raw: raw.into(),
        }
    }

    #[test]
    fn classifies() {
        let e = classify(&row("page", None, r#"{"context":{"campaign":{"medium":"cpc","source":"google"}},"properties":{"url":"https://s/x"}}"#));
        assert_eq!((e.kind, e.channel.as_deref()), ("touchpoint", Some("cpc")));
        assert_eq!(classify(&row("page", None, "{}")).kind, "page");
        assert_eq!(classify(&row("track", Some("Product Added"), "{}")).kind, "cart");
        let e = classify(&row("track", Some("Order Completed"), r#"{"properties":{"revenue":12.5,"currency":"EUR"}}"#));
        assert_eq!((e.kind, e.detail.as_deref()), ("conversion", Some("12.5 EUR")));
        assert_eq!(classify(&row("track", Some("x"), "not json")).kind, "event");
    }
}
