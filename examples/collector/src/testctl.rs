//! Test-control endpoints, mounted only with `--test-control`: `POST /test/fault`,
//! `GET /test/stats`, `GET /test/messages`, `POST /test/reset`.
//!
//! Owns: their request/response formats. Must never: be reachable without `--test-control`
//! (the router does not mount them), or be affected by injected faults.

use std::sync::atomic::Ordering::Relaxed;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::faults::{FaultKind, FaultSpec};
use crate::state::Shared;
use crate::store::MessageFilter;

fn bad_request(error: &str, detail: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"ok": false, "error": error, "detail": detail}))).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"ok": false, "error": "storage_unavailable", "detail": e.to_string()})))
        .into_response()
}

pub async fn fault(State(st): State<Shared>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return bad_request("invalid_fault", e.to_string()),
    };
    match st.faults.set(spec) {
        Ok(None) => axum::Json(json!({"ok": true, "fault": null})).into_response(),
        Ok(Some(kind)) => {
            let desc = match kind {
                FaultKind::Status { status, retry_after } => json!({"mode": "status", "status": status, "retryAfter": retry_after}),
                FaultKind::Reset => json!({"mode": "reset"}),
                FaultKind::Hang { delay } => json!({"mode": "hang", "delayMs": delay.map(|d| d.as_millis() as u64)}),
            };
            axum::Json(json!({"ok": true, "fault": desc})).into_response()
        }
        Err(e) => bad_request("invalid_fault", e.to_string()),
    }
}

pub async fn stats(State(st): State<Shared>) -> Response {
    let counts = match st.store.counts().await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let c = &st.metrics.test;
    axum::Json(json!({
        "requests": c.requests.load(Relaxed),
        "received": c.received.load(Relaxed),
        "stored": counts.stored,
        "duplicates": c.duplicates.load(Relaxed),
        "rejected": c.rejected.load(Relaxed),
        "faulted": c.faulted.load(Relaxed),
        "hung": c.hung.load(Relaxed),
        "compressed": c.compressed.load(Relaxed),
        "bodyBytes": c.body_bytes.load(Relaxed),
        "byType": counts.by_type,
        "byEvent": counts.by_event,
    }))
    .into_response()
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<u32>,
}

/// `{"messages":[...]}`: the stored raw JSON of every message, in receive order.
pub async fn messages(State(st): State<Shared>, Query(q): Query<MessagesQuery>) -> Response {
    let filter = MessageFilter { write_key: q.write_key, kind: q.kind, limit: q.limit };
    let raws = match st.store.messages(filter).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    // The raw texts are the JSON we validated on the way in: splice them in verbatim.
    let mut out = String::with_capacity(raws.iter().map(|r| r.len() + 1).sum::<usize>() + 16);
    out.push_str("{\"messages\":[");
    for (i, raw) in raws.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(raw);
    }
    out.push_str("]}");
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

/// Empties the store, zeroes the test counters and clears any fault.
pub async fn reset(State(st): State<Shared>) -> Response {
    st.faults.clear();
    let generation = match st.store.reset().await {
        Ok(g) => g,
        Err(e) => return unavailable(e),
    };
    st.metrics.test.reset(generation);
    axum::Json(json!({"ok": true})).into_response()
}
