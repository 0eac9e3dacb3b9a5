//! Ingestion endpoints: `POST /v1/batch` (aliases `/v1/b`, `/v1/import`) and the single-message endpoints
//! `/v1/track|page|screen|identify|group|alias`.
//!
//! Owns: the request pipeline (fault injection → body → JSON → write key → origin → per-message
//! validation → durable store → response), the [`IngestError`] → status mapping and the
//! response body. Must never: store anything for a request it answers with a non-2xx status,
//! lose a valid message because a neighbour was invalid, or answer 2xx before the commit.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use omnitrail::wire::{MessageType, MAX_BATCH_BYTES};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::body::{self, BodyError};
use crate::faults::FaultKind;
use crate::metrics::TestCounters;
use crate::state::{LogInfo, Shared};
use crate::store::{IngestBatch, StoreError};
use crate::timefmt;
use crate::validate::{self, Rejection, ValidMessage};

use std::sync::atomic::Ordering::Relaxed;

/// Why a whole request was refused.
#[derive(Debug)]
pub enum IngestError {
    Body(BodyError),
    InvalidJson(String),
    InvalidBatch(String),
    MissingWriteKey,
    UnknownWriteKey,
    OriginNotAllowed(String),
    /// The write key sent more than its `--rate-limit`; retry after this many seconds.
    RateLimited { retry_after: u64 },
    AllRejected(Vec<RejectedItem>),
    Storage(StoreError),
    Fault { status: u16, retry_after: Option<u64> },
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Body(BodyError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Body(BodyError::UnsupportedEncoding(_)) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Body(BodyError::Timeout) => StatusCode::REQUEST_TIMEOUT,
            IngestError::Body(_) | IngestError::InvalidJson(_) | IngestError::InvalidBatch(_) => StatusCode::BAD_REQUEST,
            IngestError::AllRejected(_) => StatusCode::BAD_REQUEST,
            IngestError::MissingWriteKey | IngestError::UnknownWriteKey => StatusCode::UNAUTHORIZED,
            IngestError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Storage(StoreError::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
            IngestError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Fault { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Body(BodyError::TooLarge { .. }) => "payload_too_large",
            IngestError::Body(BodyError::UnsupportedEncoding(_)) => "unsupported_encoding",
            IngestError::Body(BodyError::BadGzip(_)) => "invalid_gzip",
            IngestError::Body(BodyError::Read(_)) => "body_read_error",
            IngestError::Body(BodyError::Timeout) => "body_timeout",
            IngestError::InvalidJson(_) => "invalid_json",
            IngestError::InvalidBatch(_) => "invalid_batch",
            IngestError::MissingWriteKey => "missing_write_key",
            IngestError::UnknownWriteKey => "unknown_write_key",
            IngestError::OriginNotAllowed(_) => "origin_not_allowed",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::AllRejected(_) => "all_rejected",
            IngestError::Storage(StoreError::Internal) => "internal_error",
            IngestError::Storage(_) => "storage_unavailable",
            IngestError::Fault { .. } => "fault_injected",
        }
    }

    fn detail(&self) -> String {
        match self {
            IngestError::Body(e) => e.to_string(),
            IngestError::InvalidJson(e) => format!("body is not JSON: {e}"),
            IngestError::InvalidBatch(e) => format!("body is not a batch: {e}"),
            IngestError::MissingWriteKey => "no writeKey in the body and no Basic auth".into(),
            IngestError::UnknownWriteKey => "unknown write key".into(),
            IngestError::OriginNotAllowed(o) => format!("origin {o:?} is not allowed for this write key"),
            IngestError::RateLimited { retry_after } => {
                format!("this write key sent more messages than its rate limit; retry in {retry_after} s")
            }
            IngestError::AllRejected(r) => format!("all {} messages were rejected", r.len()),
            IngestError::Storage(StoreError::Internal) => StoreError::Internal.to_string(),
            IngestError::Storage(e) => format!("storage unavailable, retry: {e}"),
            IngestError::Fault { .. } => "fault injected by /test/fault".into(),
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (rejected_count, rejected) = match &self {
            IngestError::AllRejected(r) => (r.len(), r.iter().take(MAX_REJECTED_DETAILS).cloned().collect()),
            _ => (0, Vec::new()),
        };
        let body = ErrorBody {
            ok: false,
            error: self.code(),
            detail: self.detail(),
            stored: 0,
            duplicates: 0,
            rejected_count,
            rejected,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        let retry_after = match &self {
            IngestError::Fault { retry_after, .. } => *retry_after,
            IngestError::RateLimited { retry_after } => Some(*retry_after),
            IngestError::Storage(StoreError::Internal) => None,
            IngestError::Storage(_) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut().insert("retry-after", HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(LogInfo { error: Some(self.code()), ..Default::default() });
        resp
    }
}

#[derive(Serialize)]
struct ErrorBody {
    ok: bool,
    error: &'static str,
    detail: String,
    stored: u64,
    duplicates: u64,
    #[serde(rename = "rejectedCount")]
    rejected_count: usize,
    rejected: Vec<RejectedItem>,
}

/// One rejected message in a response.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedItem {
    pub index: usize,
    #[serde(rename = "messageId")]
    pub message_id: Option<String>,
    pub reason: &'static str,
    pub detail: String,
}

/// The 2xx response body.
#[derive(Debug, Serialize)]
pub struct IngestResponse {
    pub ok: bool,
    /// True (and status 207) when some messages were rejected and the others stored.
    pub partial: bool,
    pub received: usize,
    pub stored: u64,
    pub duplicates: u64,
    /// Number of rejected messages; `rejected` details at most [`MAX_REJECTED_DETAILS`] of them.
    #[serde(rename = "rejectedCount")]
    pub rejected_count: usize,
    pub rejected: Vec<RejectedItem>,
}

/// Cap on the per-message rejection details in one response (a 500 KB body of junk could
/// otherwise produce a response a hundred times larger).
pub const MAX_REJECTED_DETAILS: usize = 1000;

#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
    #[serde(rename = "sentAt", default)]
    sent_at: Option<Value>,
    #[serde(rename = "writeKey", default)]
    write_key: Option<Value>,
    #[serde(default, borrow)]
    context: Option<&'a RawValue>,
    #[serde(default, borrow)]
    integrations: Option<&'a RawValue>,
}

/// A request body reduced to what the pipeline needs.
struct Parsed {
    messages: Vec<String>,
    write_key: Option<String>,
    sent_at: Option<String>,
    /// Batch-level `context` / `integrations` (Segment applies them to every message).
    context: Option<String>,
    integrations: Option<String>,
}

/// Keeps a batch-level object as JSON text; `null` and non-objects count as absent.
fn object_text(v: Option<&RawValue>) -> Option<String> {
    v.map(|r| r.get().trim()).filter(|t| t.starts_with('{')).map(str::to_string)
}

pub async fn batch(State(st): State<Shared>, RawQuery(q): RawQuery, headers: HeaderMap, body: Body) -> Response {
    handle(&st, q, &headers, body, None).await
}

macro_rules! single {
    ($fn:ident, $ty:expr) => {
        pub async fn $fn(State(st): State<Shared>, RawQuery(q): RawQuery, headers: HeaderMap, body: Body) -> Response {
            handle(&st, q, &headers, body, Some($ty)).await
        }
    };
}
single!(track, MessageType::Track);
single!(page, MessageType::Page);
single!(screen, MessageType::Screen);
single!(identify, MessageType::Identify);
single!(group, MessageType::Group);
single!(alias, MessageType::Alias);

async fn handle(st: &Shared, query: Option<String>, headers: &HeaderMap, body: Body, single: Option<MessageType>) -> Response {
    let counters = &st.metrics.test;
    counters.requests.fetch_add(1, Relaxed);
    match run(st, query, headers, body, single).await {
        Ok(resp) => resp,
        Err(e) => {
            if matches!(e, IngestError::Fault { .. }) {
                counters.faulted.fetch_add(1, Relaxed);
            }
            if let IngestError::AllRejected(items) = &e {
                counters.answered(None, 0, 0, items.len() as u64);
                for item in items {
                    st.metrics.rejected(item.reason);
                }
            }
            e.into_response()
        }
    }
}

async fn run(st: &Shared, query: Option<String>, headers: &HeaderMap, body: Body, single: Option<MessageType>) -> Result<Response, IngestError> {
    if let Some(fault) = st.faults.take() {
        match fault {
            FaultKind::Status { status, retry_after } => return Err(IngestError::Fault { status, retry_after }),
            // Resets are performed by the connection layer before routing; one that slipped
            // through (race with /test/fault) is answered as a retryable error.
            FaultKind::Reset => return Err(IngestError::Fault { status: 503, retry_after: None }),
            FaultKind::Hang { delay } => {
                st.metrics.test.hung.fetch_add(1, Relaxed);
                st.faults.hang(delay).await;
            }
        }
    }
    let received_at = timefmt::now();
    let (bytes, wire) = body::read_wire(body, headers, body::query_wants_gzip(query.as_deref()), MAX_BATCH_BYTES)
        .await
        .map_err(IngestError::Body)?;
    st.metrics.test.body_bytes.fetch_add(wire.len as u64, Relaxed);
    st.metrics.test.compressed.fetch_add(u64::from(wire.gzip), Relaxed);
    let parsed = match single {
        None => parse_batch(&bytes)?,
        Some(kind) => parse_single(&bytes, kind)?,
    };
    let key = parsed
        .write_key
        .clone()
        .or_else(|| basic_auth_key(headers))
        .ok_or(IngestError::MissingWriteKey)?;
    let key_config = st.config.key(&key).ok_or(IngestError::UnknownWriteKey)?;
    if let Some(origin) = headers.get("origin").map(|o| o.to_str().unwrap_or("<non-ascii>")) {
        if !key_config.allows(origin) {
            return Err(IngestError::OriginNotAllowed(origin.to_string()));
        }
    }
    st.limiter
        .take(&key, parsed.messages.len(), std::time::Instant::now())
        .map_err(|wait| IngestError::RateLimited { retry_after: wait.as_secs() })?;

    let mut valid: Vec<(usize, ValidMessage)> = Vec::new();
    let mut rejected: Vec<RejectedItem> = Vec::new();
    for (index, raw) in parsed.messages.iter().enumerate() {
        let checked = match single {
            Some(kind) => check_single_type(raw, kind).and_then(|_| validate::validate(raw)),
            None => validate::validate(raw),
        };
        match checked {
            Ok(m) => valid.push((index, m)),
            Err(r) => rejected.push(RejectedItem {
                index,
                message_id: message_id_of(raw),
                reason: r.code(),
                detail: r.detail(),
            }),
        }
    }
    if valid.is_empty() && !rejected.is_empty() {
        return Err(IngestError::AllRejected(rejected));
    }

    let total = parsed.messages.len();
    let sent_at = parsed.sent_at.as_deref().and_then(|t| timefmt::parse(t).ok());
    let mut messages: Vec<ValidMessage> = valid.into_iter().map(|(_, m)| m).collect();
    if let Some(ctx) = parsed.context.as_deref() {
        let session = batch_session_id(ctx);
        for m in messages.iter_mut().filter(|m| m.session_id.is_none()) {
            m.session_id = session.clone();
        }
    }
    let (outcome, generation) = if messages.is_empty() {
        (Vec::new(), None)
    } else {
        let committed = st.store
            .ingest(IngestBatch {
                write_key: key.clone(),
                received_at,
                sent_at,
                context: parsed.context,
                integrations: parsed.integrations,
                messages,
            })
            .await
            .map_err(IngestError::Storage)?;
        (committed.outcome, Some(committed.generation))
    };
    let stored = outcome.iter().filter(|new| **new).count() as u64;
    let duplicates = outcome.len() as u64 - stored;
    record(st, &st.metrics.test, generation, total, stored, duplicates, &rejected);

    let partial = !rejected.is_empty();
    let log = LogInfo {
        write_key: Some(key),
        messages: Some(total),
        stored: Some(stored),
        duplicates: Some(duplicates),
        rejected: Some(rejected.len()),
        error: None,
    };
    let rejected_count = rejected.len();
    rejected.truncate(MAX_REJECTED_DETAILS);
    let body = IngestResponse { ok: true, partial, received: total, stored, duplicates, rejected_count, rejected };
    let status = if partial { StatusCode::MULTI_STATUS } else { StatusCode::OK };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert("accept-encoding", HeaderValue::from_static(ACCEPTED_REQUEST_ENCODINGS));
    resp.extensions_mut().insert(log);
    Ok(resp)
}

/// The request body codings ingestion reads, advertised on every 2xx as `Accept-Encoding`
/// (RFC 7694; exposed through CORS), so a client compresses only for a collector that said it
/// reads gzip.
pub const ACCEPTED_REQUEST_ENCODINGS: &str = "gzip";

fn record(st: &Shared, c: &TestCounters, generation: Option<u64>, total: usize, stored: u64, duplicates: u64, rejected: &[RejectedItem]) {
    c.answered(generation, total as u64, duplicates, rejected.len() as u64);
    st.metrics.ingested(stored, duplicates);
    for r in rejected {
        st.metrics.rejected(r.reason);
    }
}

fn parse_batch(bytes: &[u8]) -> Result<Parsed, IngestError> {
    // serde reads a struct from a JSON array too (`[[messages], sentAt, writeKey, ...]`):
    // only the object form is a Segment batch.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => IngestError::InvalidBatch("a batch must be a JSON object {\"batch\": [...]}".into()),
            Err(e) => IngestError::InvalidJson(e.to_string()),
        });
    }
    let raw: RawBatch<'_> = match serde_json::from_slice(bytes) {
        Ok(b) => b,
        Err(e) => {
            return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => IngestError::InvalidBatch(e.to_string()),
                Err(e) => IngestError::InvalidJson(e.to_string()),
            })
        }
    };
    Ok(Parsed {
        messages: raw.batch.iter().map(|m| m.get().to_string()).collect(),
        write_key: string_field(raw.write_key),
        sent_at: string_field(raw.sent_at),
        context: object_text(raw.context),
        integrations: object_text(raw.integrations),
    })
}

/// A single-message endpoint's body is the message itself (Segment HTTP API): `writeKey`
/// moves out of it, and a missing `type` is taken from the path. The raw text is kept verbatim
/// when neither applies.
fn parse_single(bytes: &[u8], kind: MessageType) -> Result<Parsed, IngestError> {
    let mut map: Map<String, Value> = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(IngestError::InvalidBatch("a single-message endpoint expects a JSON object".into())),
        Err(e) => return Err(IngestError::InvalidJson(e.to_string())),
    };
    let write_key = map.remove("writeKey");
    let sent_at = map.get("sentAt").cloned();
    let missing_type = !map.contains_key("type");
    let text = if write_key.is_none() && !missing_type {
        String::from_utf8_lossy(bytes).trim().to_string()
    } else {
        if missing_type {
            map.insert("type".into(), Value::String(kind.as_str().into()));
        }
        Value::Object(map).to_string()
    };
    Ok(Parsed {
        messages: vec![text],
        write_key: string_field(write_key),
        sent_at: string_field(sent_at),
        context: None,
        integrations: None,
    })
}

fn check_single_type(raw: &str, kind: MessageType) -> Result<(), Rejection> {
    #[derive(Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        kind: Option<Value>,
    }
    match serde_json::from_str::<TypeOnly>(raw) {
        Ok(TypeOnly { kind: Some(Value::String(t)) }) if t != kind.as_str() => {
            Err(Rejection::TypeMismatch { expected: kind.as_str(), got: t })
        }
        _ => Ok(()),
    }
}

/// `sessionId` of a batch-level context, for messages that carry none themselves.
fn batch_session_id(context: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Ctx {
        #[serde(rename = "sessionId")]
        session_id: Option<Value>,
    }
    match serde_json::from_str::<Ctx>(context).ok()?.session_id? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn string_field(v: Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn message_id_of(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        #[serde(rename = "messageId")]
        message_id: Option<Value>,
    }
    match serde_json::from_str::<IdOnly>(raw) {
        Ok(IdOnly { message_id: Some(Value::String(s)) }) => Some(s.chars().take(256).collect()),
        _ => None,
    }
}

/// The write key from `Authorization: Basic base64(key:)` (Segment's server-side libraries).
pub fn basic_auth_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let key = text.split_once(':').map_or(text.as_str(), |(k, _)| k);
    (!key.is_empty()).then(|| key.to_string())
}
