//! Server-side cart sync (`GET` / `PUT /v1/cart/{userId}`): a signed-in user's cart
//! (`omnitrail::cart::Cart`, a CRDT) follows them across devices.
//!
//! Auth: the write key (HTTP Basic username or `?writeKey=`) plus a per-user token in
//! `X-Omnitrail-Cart-Token` = lowercase hex of HMAC-SHA256(key = `--cart-secret`,
//! message = `"{writeKey}:{userId}"`), compared in constant time. Without a secret the
//! endpoint is disabled (404).
//!
//! Owns: the auth checks, body parsing (encoded cart text, or JSON `{"state":"..."}`) and the
//! `{"state","cart"}` answers. Must never: overwrite a stored cart (it always merges, under
//! the fixed replica id [`store::CART_REPLICA`]), panic on a bad body, or answer 2xx before
//! the merged state is committed.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use omnitrail::cart::Cart;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::body;
use crate::ingest::basic_auth_key;
use crate::state::{LogInfo, Shared};
use crate::store::CART_REPLICA;

/// Largest accepted `PUT` body.
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest accepted user id.
pub const MAX_USER_ID: usize = 256;
pub const TOKEN_HEADER: &str = "x-omnitrail-cart-token";

#[derive(Deserialize, Default)]
pub struct CartQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

fn error(status: StatusCode, code: &'static str, detail: &str, key: Option<&str>) -> Response {
    let mut r = (status, axum::Json(json!({"ok": false, "error": code, "detail": detail}))).into_response();
    r.extensions_mut().insert(LogInfo { error: Some(code), write_key: key.map(str::to_string), ..Default::default() });
    r
}

/// The token of a (write key, user id) pair: lowercase hex HMAC-SHA256.
pub fn token(secret: &str, write_key: &str, user_id: &str) -> String {
    mac(secret, write_key, user_id).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(secret: &str, write_key: &str, user_id: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(write_key.as_bytes());
    mac.update(b":");
    mac.update(user_id.as_bytes());
    mac
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 || s.len() > 256 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Checks the endpoint is enabled, the write key, the origin and the token; the write key.
fn authorize(st: &Shared, headers: &HeaderMap, query: &CartQuery, user_id: &str) -> Result<String, Response> {
    let Some(secret) = st.config.cart_secret.as_deref() else {
        return Err(error(StatusCode::NOT_FOUND, "not_found", "cart sync is disabled (no --cart-secret)", None));
    };
    let Some(key) = basic_auth_key(headers).or_else(|| query.write_key.clone().filter(|k| !k.is_empty())) else {
        return Err(error(StatusCode::UNAUTHORIZED, "missing_write_key", "no Basic auth and no writeKey parameter", None));
    };
    let Some(key_config) = st.config.key(&key) else {
        return Err(error(StatusCode::UNAUTHORIZED, "unknown_write_key", "unknown write key", None));
    };
    if let Some(origin) = headers.get("origin").map(|o| o.to_str().unwrap_or("<non-ascii>")) {
        if !key_config.allows(origin) {
            return Err(error(StatusCode::FORBIDDEN, "origin_not_allowed", "origin is not allowed for this write key", Some(&key)));
        }
    }
    if user_id.is_empty() || user_id.len() > MAX_USER_ID {
        return Err(error(StatusCode::BAD_REQUEST, "invalid_user_id", "userId must be 1..=256 bytes", Some(&key)));
    }
    let given = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()).and_then(hex_decode);
    let Some(given) = given else {
        return Err(error(StatusCode::FORBIDDEN, "invalid_cart_token", "missing or malformed X-Omnitrail-Cart-Token", Some(&key)));
    };
    if mac(secret, &key, user_id).verify_slice(&given).is_err() {
        return Err(error(StatusCode::FORBIDDEN, "invalid_cart_token", "X-Omnitrail-Cart-Token does not match", Some(&key)));
    }
    Ok(key)
}

fn answer(state: Option<String>, key: String) -> Response {
    // A stored state that does not decode is answered as no cart (the next PUT replaces it):
    // handing it on would only make every device refuse it too.
    let decoded = state.filter(|s| !s.is_empty()).and_then(|s| Some((Cart::decode(&s, CART_REPLICA)?, s)));
    let (state, cart) = match decoded {
        None => (String::new(), Value::Null),
        Some((c, s)) => (s, serde_json::from_str::<Value>(&c.snapshot_json()).unwrap_or(Value::Null)),
    };
    let mut r = axum::Json(json!({"state": state, "cart": cart})).into_response();
    r.headers_mut().insert("cache-control", axum::http::HeaderValue::from_static("no-store"));
    r.extensions_mut().insert(LogInfo { write_key: Some(key), ..Default::default() });
    r
}

fn storage_error(e: impl std::fmt::Display, key: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", &e.to_string(), Some(key));
    r.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
    r
}

pub async fn get(State(st): State<Shared>, Path(user_id): Path<String>, query: Result<Query<CartQuery>, QueryRejection>, headers: HeaderMap) -> Response {
    let query = query.map(|q| q.0).unwrap_or_default();
    let key = match authorize(&st, &headers, &query, &user_id) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match st.store.cart(key.clone(), user_id).await {
        Ok(state) => answer(state, key),
        Err(e) => storage_error(e, &key),
    }
}

pub async fn put(
    State(st): State<Shared>,
    Path(user_id): Path<String>,
    query: Result<Query<CartQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query = query.map(|q| q.0).unwrap_or_default();
    let key = match authorize(&st, &headers, &query, &user_id) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let bytes = match body::read(body, &headers, false, MAX_BODY).await {
        Ok(b) => b,
        Err(body::BodyError::TooLarge { .. }) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "cart state exceeds 1 MB", Some(&key))
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_body", &e.to_string(), Some(&key)),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return error(StatusCode::BAD_REQUEST, "invalid_state", "body is not UTF-8", Some(&key));
    };
    let state = if text.trim_start().starts_with('{') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(mut m)) => match m.remove("state") {
                Some(Value::String(s)) => s,
                _ => return error(StatusCode::BAD_REQUEST, "invalid_state", "JSON body needs a string \"state\"", Some(&key)),
            },
            _ => return error(StatusCode::BAD_REQUEST, "invalid_json", "body is not a JSON object", Some(&key)),
        }
    } else {
        text.to_string()
    };
    let Some(incoming) = Cart::decode(&state, CART_REPLICA) else {
        return error(StatusCode::BAD_REQUEST, "invalid_state", "not an encoded cart state", Some(&key));
    };
    match st.store.merge_cart(key.clone(), user_id, incoming).await {
        Ok(merged) => answer(Some(merged), key),
        Err(e) => storage_error(e, &key),
    }
}
