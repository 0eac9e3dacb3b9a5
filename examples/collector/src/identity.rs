//! First-party identity endpoint (`POST /v1/identity`): re-issues the SDK's anonymous-id
//! cookie as a server-set cookie, which Safari ITP does not cap at 7 days.
//!
//! What it re-issues: the id the visitor's browser already holds in the cookie (the request
//! carries it: the collector is served first-party, same-site), or — when there is no valid
//! cookie — a fresh random id. Never an id named by the request body: otherwise any site could
//! make a visitor's browser POST a chosen id and follow who the visitor becomes after login.
//! Only same-site, non-navigation requests are served (`Sec-Fetch-Site` / `Sec-Fetch-Mode`,
//! and for browsers without them, `Origin` against `Host`), from origins a write key allows.
//!
//! Cookie attributes: same name, `Domain` = the configured registrable domain, `Path=/`,
//! `Max-Age` one year, `SameSite=Lax`, `Secure` unless the collector is reached as
//! localhost / 127.0.0.1 / [::1] over plain http (or `--cookie-insecure`), never `HttpOnly`
//! (the SDK must keep reading it).
//!
//! Owns: which id is re-issued, the cross-site checks, UUID validation, and the `Set-Cookie`
//! attributes. Must never: set a cookie value the request chose, set a cookie whose value is
//! not a well-formed UUID, or answer with credentials to an origin no write key allows.

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
    if let Err(why) = same_site_fetch(&headers, st.config.cookie_domain.as_deref()) {
        return error(StatusCode::FORBIDDEN, "cross_site", why);
    }
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
    if from_body.as_deref().is_some_and(|id| !is_uuid(id)) {
        return error(StatusCode::BAD_REQUEST, "invalid_anonymous_id", "anonymousId must be a UUID");
    }
    // The cookie the browser holds, else a fresh id: the body only says what the SDK has (an
    // answer with another id tells it the cookie it will find on the next page).
    let held = cookie_value(&headers, &st.config.cookie_name).filter(|id| is_uuid(id));
    let fresh = held.is_none();
    let id = held.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let secure = !st.config.cookie_insecure
        && (st.config.cookie_secure
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.eq_ignore_ascii_case("https"))
            || !is_local_http_host(&headers));
    let cookie = set_cookie(&st.config.cookie_name, &id, st.config.cookie_domain.as_deref(), secure);
    let matches_sdk = from_body.as_deref().map_or(true, |b| b.eq_ignore_ascii_case(&id));
    let mut resp = axum::Json(json!({
        "ok": true, "anonymousId": id, "maxAge": MAX_AGE_SECS, "fresh": fresh, "matchesRequest": matches_sdk
    }))
    .into_response();
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

/// Refuses what a foreign site can make a visitor's browser send: a cross-site request, or a
/// navigation (a top-level form POST). Browsers without `Sec-Fetch-*` are judged by `Origin`
/// against `Host` (same host, within the configured cookie domain, or the same last two
/// labels).
fn same_site_fetch(headers: &HeaderMap, cookie_domain: Option<&str>) -> Result<(), &'static str> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if h("sec-fetch-mode").as_deref() == Some("navigate") || matches!(h("sec-fetch-dest").as_deref(), Some("document" | "iframe" | "frame")) {
        return Err("navigations may not re-issue the identity cookie");
    }
    match h("sec-fetch-site").as_deref() {
        Some("cross-site") => Err("cross-site requests may not re-issue the identity cookie"),
        Some(_) => Ok(()),
        None => {
            let (Some(origin), Some(host)) = (h("origin"), h("host")) else { return Ok(()) };
            let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
            if same_site(host_only(origin_host), host_only(&host), cookie_domain) {
                Ok(())
            } else {
                Err("cross-site requests may not re-issue the identity cookie")
            }
        }
    }
}

/// `host[:port]` → `host` (IPv6 literals keep their brackets).
fn host_only(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn same_site(a: &str, b: &str, cookie_domain: Option<&str>) -> bool {
    if a == b {
        return true;
    }
    let within = |h: &str, d: &str| h == d || h.ends_with(&format!(".{d}"));
    if let Some(d) = cookie_domain.map(|d| d.trim_start_matches('.').to_ascii_lowercase()) {
        return within(a, &d) && within(b, &d);
    }
    let last_two = |h: &str| {
        let labels: Vec<&str> = h.rsplitn(3, '.').collect();
        (labels.len() >= 2).then(|| format!("{}.{}", labels[1], labels[0]))
    };
    last_two(a).is_some_and(|x| Some(x) == last_two(b))
}

/// Whether the request reached the collector as plain-http localhost, where a `Secure`
/// cookie would not be stored by every browser.
fn is_local_http_host(headers: &HeaderMap) -> bool {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
    matches!(host_only(&host.to_ascii_lowercase()), "localhost" | "127.0.0.1" | "[::1]")
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

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits, any version (the `uuid` crate's parser;
/// of the forms it reads, only the hyphenated one is 36 bytes long).
pub fn is_uuid(s: &str) -> bool {
    s.len() == uuid::fmt::Hyphenated::LENGTH && uuid::Uuid::try_parse(s).is_ok()
}

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
    fn sites() {
        assert!(same_site("www.shop.test", "collect.shop.test", None));
        assert!(!same_site("evil.test", "collect.shop.test", None));
        assert!(same_site("127.0.0.1", "127.0.0.1", None));
        assert!(same_site("a.example.co.uk", "b.example.co.uk", Some("example.co.uk")));
        assert!(!same_site("evil.co.uk", "b.example.co.uk", Some("example.co.uk")));
        assert_eq!(host_only("[::1]:8080"), "[::1]");
        assert_eq!(host_only("shop.test:443"), "shop.test");
    }

    #[test]
    fn cookie_attributes() {
        assert_eq!(
            set_cookie("aid", "v", Some("example.com"), true),
            "aid=v; Path=/; Max-Age=31536000; SameSite=Lax; Domain=example.com; Secure"
        );
    }
}
