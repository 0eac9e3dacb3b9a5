//! The marketer's views over HTTP (admin routes: `admin.rs` checks the token and scopes the
//! write keys before any of these run):
//! - `GET /v1/reports/attribution?from&to&model&lookbackDays&events&writeKey` — credit per
//!   channel under each model (`attribution.rs`), and `GET /reports` — the page with its chart;
//! - `GET /v1/profiles/{id}?writeKey` — one person across devices and ids, and
//!   `GET /profiles?id=` — its page;
//! - `GET /v1/segments?firstChannel&lastChannel&did&didWithinDays&notDid&notDidWithinDays&abandonedCartHours&consent&format`
//!   — a people list as JSON or CSV.
//!
//! Owns: parameter parsing and the answers' HTTP shape. Must never: compute on the async
//! runtime's threads (the computation runs in `spawn_blocking`), or widen a grant's scope.

use std::sync::LazyLock;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::json;

use crate::admin::Grant;
use crate::attribution::{Model, Settings};
use crate::marketing::{self, SegmentFilter};
use crate::state::Shared;
use crate::store::{AttributionQuery, SegmentQuery};
use crate::timefmt;
use crate::viewer;

const DAY_MS: i64 = 86_400_000;
/// Default conversion events of the attribution report.
pub const DEFAULT_CONVERSIONS: &str = "Order Completed";

const REPORT_PAGE: &str = include_str!("reports.html");
static REPORT_CSP: LazyLock<String> = LazyLock::new(|| viewer::page_csp(REPORT_PAGE));
const PROFILE_PAGE: &str = include_str!("profile.html");
static PROFILE_CSP: LazyLock<String> = LazyLock::new(|| viewer::page_csp(PROFILE_PAGE));

pub async fn report_page() -> Response {
    viewer::html(REPORT_PAGE, &REPORT_CSP)
}

pub async fn profile_page() -> Response {
    viewer::html(PROFILE_PAGE, &PROFILE_CSP)
}

fn bad(code: &'static str, detail: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"ok": false, "error": code, "detail": detail}))).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"ok": false, "error": "storage_unavailable", "detail": e.to_string()})))
        .into_response()
}

/// `YYYY-MM-DD` (the start of that day, or its end for `end_of_day`) or an ISO timestamp →
/// the stored time format.
fn day_or_time(s: &str, end_of_day: bool) -> Option<String> {
    let s = s.trim();
    let full = if s.len() == 10 { format!("{s}T{}Z", if end_of_day { "23:59:59.999" } else { "00:00:00" }) } else { s.to_string() };
    timefmt::parse(&full).ok().map(timefmt::format)
}

fn ms_to_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map(timefmt::format).unwrap_or_default()
}

fn now_ms() -> i64 {
    marketing::ms(&timefmt::format(timefmt::now()))
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    model: Option<String>,
    #[serde(rename = "lookbackDays")]
    lookback_days: Option<f64>,
    /// Comma-separated conversion event names.
    events: Option<String>,
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

pub async fn attribution(State(st): State<Shared>, Extension(grant): Extension<Grant>, Query(q): Query<ReportQuery>) -> Response {
    let keys = match grant.keys(q.write_key.as_deref()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let now = now_ms();
    let to = match q.to.as_deref().map(|t| day_or_time(t, true)) {
        None => ms_to_time(now),
        Some(Some(t)) => t,
        Some(None) => return bad("invalid_to", "to must be YYYY-MM-DD or an ISO-8601 time".into()),
    };
    let from = match q.from.as_deref().map(|t| day_or_time(t, false)) {
        None => ms_to_time(marketing::ms(&to) - 30 * DAY_MS),
        Some(Some(t)) => t,
        Some(None) => return bad("invalid_from", "from must be YYYY-MM-DD or an ISO-8601 time".into()),
    };
    let models: Vec<Model> = match q.model.as_deref().filter(|m| !m.is_empty() && *m != "all") {
        None => Model::ALL.to_vec(),
        Some(m) => match Model::parse(m) {
            Some(m) => vec![m],
            None => {
                let names: Vec<&str> = Model::ALL.iter().map(|m| m.as_str()).collect();
                return bad("invalid_model", format!("model must be one of {}", names.join(", ")));
            }
        },
    };
    let lookback_days = q.lookback_days.unwrap_or(30.0);
    if !(lookback_days.is_finite() && (0.0..=365.0).contains(&lookback_days)) {
        return bad("invalid_lookback", "lookbackDays must be between 0 and 365".into());
    }
    let settings = Settings { lookback_ms: (lookback_days * DAY_MS as f64) as i64, ..Settings::default() };
    let events: Vec<String> = q
        .events
        .as_deref()
        .unwrap_or(DEFAULT_CONVERSIONS)
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .take(20)
        .map(str::to_string)
        .collect();
    let query = AttributionQuery {
        keys,
        events: events.clone(),
        touches_from: ms_to_time(marketing::ms(&from) - settings.lookback_ms),
        from: from.clone(),
        to: to.clone(),
    };
    let rows = match st.store.attribution_rows(query).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let report = tokio::task::spawn_blocking(move || marketing::attribution_report(&rows, &models, &settings, &from, &to, &events)).await;
    match report {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize, Default)]
pub struct ProfileQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
    limit: Option<usize>,
}

pub async fn profile(State(st): State<Shared>, Extension(grant): Extension<Grant>, Path(id): Path<String>, Query(q): Query<ProfileQuery>) -> Response {
    let keys = match grant.keys(q.write_key.as_deref()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let rows = match st.store.profile_rows(id.clone(), keys).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    if rows.messages.is_empty() && rows.touches.is_empty() {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"ok": false, "error": "not_found", "detail": "no messages for this id"}))).into_response();
    }
    let limit = q.limit.unwrap_or(200).clamp(1, 2000);
    match tokio::task::spawn_blocking(move || marketing::profile(&rows, &id, limit)).await {
        Ok(p) => axum::Json(p).into_response(),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize, Default)]
pub struct SegmentParams {
    #[serde(rename = "firstChannel")]
    first_channel: Option<String>,
    #[serde(rename = "lastChannel")]
    last_channel: Option<String>,
    did: Option<String>,
    #[serde(rename = "didWithinDays")]
    did_within_days: Option<f64>,
    #[serde(rename = "notDid")]
    not_did: Option<String>,
    #[serde(rename = "notDidWithinDays")]
    not_did_within_days: Option<f64>,
    #[serde(rename = "abandonedCartHours")]
    abandoned_cart_hours: Option<f64>,
    /// `marketing`: only people whose latest consent allows marketing.
    consent: Option<String>,
    /// `marketing`: an export for marketing (implies `consent=marketing`).
    purpose: Option<String>,
    format: Option<String>,
    limit: Option<usize>,
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

fn window(days: Option<f64>) -> Result<i64, Response> {
    let d = days.unwrap_or(30.0);
    if d.is_finite() && (0.0..=3650.0).contains(&d) {
        Ok((d * DAY_MS as f64) as i64)
    } else {
        Err(bad("invalid_window", "a window must be between 0 and 3650 days".into()))
    }
}

pub async fn segments(State(st): State<Shared>, Extension(grant): Extension<Grant>, Query(q): Query<SegmentParams>) -> Response {
    let keys = match grant.keys(q.write_key.as_deref()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let marketing_only = q.consent.as_deref() == Some("marketing") || q.purpose.as_deref() == Some("marketing");
    if q.consent.as_deref().is_some_and(|c| c != "marketing") || q.purpose.as_deref().is_some_and(|p| p != "marketing") {
        return bad("invalid_consent", "consent and purpose take only \"marketing\"".into());
    }
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let filter = SegmentFilter {
        first_channel: nonempty(q.first_channel),
        last_channel: nonempty(q.last_channel),
        did: match nonempty(q.did) {
            Some(e) => match window(q.did_within_days) {
                Ok(w) => Some((e, w)),
                Err(r) => return r,
            },
            None => None,
        },
        not_did: match nonempty(q.not_did) {
            Some(e) => match window(q.not_did_within_days) {
                Ok(w) => Some((e, w)),
                Err(r) => return r,
            },
            None => None,
        },
        abandoned_cart_ms: match q.abandoned_cart_hours {
            Some(h) if h.is_finite() && (0.0..=24.0 * 3650.0).contains(&h) => Some((h * 3_600_000.0) as i64),
            Some(_) => return bad("invalid_window", "abandonedCartHours must be between 0 and 87600".into()),
            None => None,
        },
        marketing_only,
    };
    let now = now_ms();
    let (events, since) = filter.events(now);
    let rows = match st.store.segment_rows(SegmentQuery { keys, events, since: since.map(ms_to_time) }).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let csv = q.format.as_deref() == Some("csv");
    let limit = q.limit.unwrap_or(100_000).clamp(1, 1_000_000);
    let answer = tokio::task::spawn_blocking(move || {
        let mut members = marketing::segment(&rows, &filter, now);
        let total = members.len();
        members.truncate(limit);
        if csv {
            (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"segment.csv\"")],
                marketing::segment_csv(&members),
            )
                .into_response()
        } else {
            axum::Json(json!({"count": total, "people": members, "marketingOnly": filter.marketing_only})).into_response()
        }
    })
    .await;
    answer.unwrap_or_else(unavailable)
}
