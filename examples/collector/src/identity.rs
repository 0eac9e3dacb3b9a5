//! First-party identity endpoint (`POST /v1/identity`): re-issues the SDK's anonymous-id
//! cookie as a server-set cookie, which Safari ITP does not cap at 7 days.
//!
//! Owns: which id is re-issued (body `anonymousId`, else the configured cookie from the
//! `Cookie` header), UUID validation, and the `Set-Cookie` attributes (same name and value,
//! `Domain` = configured registrable domain, `Path=/`, `Max-Age` one year, `SameSite=Lax`,
//! `Secure` on https, never `HttpOnly` — the SDK must keep reading it). Must never: set a
//! cookie whose value is not a well-formed UUID, or answer with credentials to an origin no
//! write key allows.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::body;
use crate::state::{LogInfo, Shared};

pub const MAX_AGE_SECS: u64 = 365 * 24 * 60 * 60;
const MAX_BODY: usize = 4 * 1024;

fn error(status: StatusCode, code: &'static str, detail: &str) -> Response {
    let mut r = (status, axum::Json(json!({"ok": false, "error": code, "detail": detail}))).into_response();
    r.extensions_mut().insert(LogInfo { error: Some(code), ..Default::default() });
    r
}

pub async fn reissue(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    if let Some(origin) = headers.get("origin") {
        let origin = origin.to_str().unwrap_or("");
        if !st.config.any_key_allows(origin) {
            return error(StatusCode::FORBIDDEN, "origin_not_allowed", "origin is not allowed by any write key");
        }
    }
    let bytes = match body::read(body, &headers, false, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_body", &e.to_string()),
    };
    let from_body = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => {
                if let Some(key) = m.get("writeKey").and_then(Value::as_str) {
                    let Some(key) = st.config.key(key) else {
                        return error(StatusCode::UNAUTHORIZED, "unknown_write_key", "unknown write key");
                    };
                    // With a key, its own allowlist applies (not just any key's).
                    if let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) {
                        if !key.allows(origin) {
                            return error(StatusCode::FORBIDDEN, "origin_not_allowed", "origin is not allowed for this write key");
                        }
                    }
                }
                m.get("anonymousId").and_then(Value::as_str).map(str::to_string)
            }
            _ => return error(StatusCode::BAD_REQUEST, "invalid_json", "body must be a JSON object or empty"),
        }
    };
    let id = match from_body.or_else(|| cookie_value(&headers, &st.config.cookie_name)) {
        Some(id) => id,
        None => return error(StatusCode::BAD_REQUEST, "missing_anonymous_id", "no anonymousId in the body or cookie"),
    };
    if !is_uuid(&id) {
        return error(StatusCode::BAD_REQUEST, "invalid_anonymous_id", "anonymousId must be a UUID");
    }
    let secure = st.config.cookie_secure
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let cookie = set_cookie(&st.config.cookie_name, &id, st.config.cookie_domain.as_deref(), secure);
    let mut resp = axum::Json(json!({"ok": true, "anonymousId": id, "maxAge": MAX_AGE_SECS})).into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            resp.headers_mut().insert("set-cookie", v);
        }
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "invalid_cookie", "cookie name/domain not header-safe"),
    }
    resp.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    resp
}

/// The `Set-Cookie` value.
pub fn set_cookie(name: &str, value: &str, domain: Option<&str>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={MAX_AGE_SECS}; SameSite=Lax");
    if let Some(d) = domain {
        c.push_str("; Domain=");
        c.push_str(d);
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits, any version.
pub use omnitrail::ports::is_uuid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(is_uuid("123e4567-e89b-42d3-a456-426614174000"));
        assert!(is_uuid("123E4567-E89B-42D3-A456-426614174000"));
        assert!(!is_uuid("123e4567e89b42d3a456426614174000"));
        assert!(!is_uuid("123e4567-e89b-42d3-a456-42661417400g"));
        assert!(!is_uuid("x; Domain=evil.com"));
    }

    #[test]
    fn cookie_attributes() {
        assert_eq!(
            set_cookie("aid", "v", Some("example.com"), true),
            "aid=v; Path=/; Max-Age=31536000; SameSite=Lax; Domain=example.com; Secure"
        );
    }
}
