//! Operations endpoints: `GET /healthz`, `GET /metrics`, and the 404 fallback.
//!
//! Owns: their response formats. Must never: change state.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::Shared;

/// 200 when the store answers a query, 503 otherwise.
pub async fn healthz(State(st): State<Shared>) -> Response {
    let uptime = st.started.elapsed().as_secs();
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"ok": true, "uptimeSecs": uptime}))).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"ok": false, "error": e.to_string()})))
            .into_response(),
    }
}

pub async fn metrics(State(st): State<Shared>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.metrics.render(st.store.stats())).into_response()
}

pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({"ok": false, "error": "not_found"}))).into_response()
}
