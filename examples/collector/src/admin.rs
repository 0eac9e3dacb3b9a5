//! The admin credential: who may read people's data. The journey viewer, its JSON API and
//! `/metrics` (and every later view of people: profiles, reports, segments) answer only a
//! request that carries a token configured with `--admin-token` — never the write key, which
//! is public in every page that embeds the SDK — and only about the write keys that token is
//! scoped to. These routes are never readable cross-origin (no CORS headers, preflights
//! refused, `Cross-Origin-Resource-Policy: same-origin`, cross-site fetches refused).
//!
//! The token travels as `Authorization: Bearer <token>` (scripts, Prometheus) or as the
//! password of HTTP Basic auth (a person in a browser: the viewer answers 401 with
//! `WWW-Authenticate: Basic`, the browser asks once and sends it with the viewer's own
//! requests). Comparison is constant-time.
//!
//! Owns: the token syntax (`TOKEN` or `TOKEN=key1,key2`), the check, the [`Grant`] a handler
//! reads its scope from, and the security headers of admin responses. Must never: accept a
//! write key as an admin token, answer an admin route without a [`Grant`], or let a grant see
//! a write key outside its scope.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use base64::Engine as _;
use serde_json::json;

use crate::config::Config;

/// Shortest accepted admin token (bytes).
pub const MIN_TOKEN_LEN: usize = 16;

/// A configured admin token and the write keys whose data it may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminToken {
    pub token: String,
    pub scope: Scope,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every write key's data.
    All,
    /// Only these write keys' data.
    Keys(Vec<String>),
}

/// Why an admin token spec was refused at start.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminTokenError {
    TooShort,
    BadCharacter,
    EmptyScope,
    /// The token equals a write key (public in every page, so it cannot be a secret).
    IsAWriteKey,
    /// The scope names a write key the collector does not have.
    UnknownKey(String),
}

impl std::fmt::Display for AdminTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminTokenError::TooShort => write!(f, "admin token must be at least {MIN_TOKEN_LEN} characters"),
            AdminTokenError::BadCharacter => {
                write!(f, "admin token may contain only printable ASCII without spaces, '=', ',', ';' or ':'")
            }
            AdminTokenError::EmptyScope => write!(f, "admin token has an empty write-key list after '='"),
            AdminTokenError::IsAWriteKey => write!(f, "admin token equals a write key (write keys are public)"),
            AdminTokenError::UnknownKey(k) => write!(f, "admin token is scoped to unknown write key {k:?}"),
        }
    }
}

impl AdminToken {
    /// Parses `TOKEN` (every write key) or `TOKEN=key1,key2`.
    pub fn parse(spec: &str) -> Result<AdminToken, AdminTokenError> {
        let spec = spec.trim();
        let (token, keys) = match spec.split_once('=') {
            Some((t, k)) => (t.trim(), Some(k)),
            None => (spec, None),
        };
        if token.len() < MIN_TOKEN_LEN {
            return Err(AdminTokenError::TooShort);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic() && !b"=,;:".contains(&b)) {
            return Err(AdminTokenError::BadCharacter);
        }
        let scope = match keys {
            None => Scope::All,
            Some(list) => {
                let keys: Vec<String> = list.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect();
                if keys.is_empty() {
                    return Err(AdminTokenError::EmptyScope);
                }
                Scope::Keys(keys)
            }
        };
        Ok(AdminToken { token: token.to_string(), scope })
    }

    /// Checks the token against the collector's write keys.
    pub fn check(&self, config: &Config) -> Result<(), AdminTokenError> {
        if config.write_keys.iter().any(|k| k.key == self.token) {
            return Err(AdminTokenError::IsAWriteKey);
        }
        if let Scope::Keys(keys) = &self.scope {
            if let Some(k) = keys.iter().find(|k| config.key(k).is_none()) {
                return Err(AdminTokenError::UnknownKey(k.clone()));
            }
        }
        Ok(())
    }
}

/// What an authenticated admin request may see; handlers of admin routes read it from the
/// request's extensions (the server inserts it after [`authorize`]).
#[derive(Clone, Debug)]
pub struct Grant {
    scope: Scope,
}

impl Grant {
    /// The write keys a query may read: `None` = every key (an unscoped token and no
    /// `writeKey` asked), else the list. Asking for a key outside the scope is refused.
    pub fn keys(&self, asked: Option<&str>) -> Result<Option<Vec<String>>, Response<Body>> {
        match (asked.filter(|k| !k.is_empty()), &self.scope) {
            (None, Scope::All) => Ok(None),
            (None, Scope::Keys(keys)) => Ok(Some(keys.clone())),
            (Some(k), Scope::All) => Ok(Some(vec![k.to_string()])),
            (Some(k), Scope::Keys(keys)) if keys.iter().any(|x| x == k) => Ok(Some(vec![k.to_string()])),
            (Some(_), Scope::Keys(_)) => Err(refuse(
                StatusCode::FORBIDDEN,
                "write_key_not_in_scope",
                "this admin token may not read that write key's data",
            )),
        }
    }
}

/// Authenticates an admin request: a configured token, from a same-site context.
pub fn authorize(config: &Config, headers: &HeaderMap) -> Result<Grant, Response<Body>> {
    if config.admin_tokens.is_empty() {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "no admin token is configured (--admin-token / OMNITRAIL_ADMIN_TOKEN): people's data is not served",
        ));
    }
    // A page on another site must not use a browser's cached Basic credentials.
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(refuse(StatusCode::FORBIDDEN, "cross_site", "admin routes are not served to other sites"));
    }
    let Some(given) = presented_token(headers) else {
        return Err(refuse(StatusCode::UNAUTHORIZED, "admin_token_required", "an admin token is required"));
    };
    // Every configured token is compared (constant time each), so timing does not tell which
    // one, or how much of one, matched.
    let mut found: Option<&AdminToken> = None;
    for t in &config.admin_tokens {
        if constant_time_eq(t.token.as_bytes(), given.as_bytes()) && found.is_none() {
            found = Some(t);
        }
    }
    match found {
        Some(t) => Ok(Grant { scope: t.scope.clone() }),
        None => Err(refuse(StatusCode::UNAUTHORIZED, "invalid_admin_token", "the admin token is not valid")),
    }
}

/// `Bearer <token>`, or the password of `Basic base64(user:token)`.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string()).filter(|t| !t.is_empty());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return Some(password.to_string()).filter(|t| !t.is_empty());
    }
    None
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Lengths are not secret (tokens have a minimum length, not a fixed one).
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, code: &'static str, detail: &str) -> Response<Body> {
    let body = json!({"ok": false, "error": code, "detail": detail}).to_string();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Basic realm=\"omnitrail admin\", charset=\"UTF-8\""));
    }
    r.extensions_mut().insert(crate::state::LogInfo { error: Some(code), ..Default::default() });
    r
}

/// Headers every admin response carries, whatever its status: never cached, never embedded
/// or read by another origin.
pub fn protect(headers: &mut HeaderMap) {
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WriteKey;

    #[test]
    fn parses_token_specs() {
        let t = AdminToken::parse("0123456789abcdef").unwrap();
        assert_eq!(t.scope, Scope::All);
        let t = AdminToken::parse("0123456789abcdef=shop, app").unwrap();
        assert_eq!(t.scope, Scope::Keys(vec!["shop".into(), "app".into()]));
        assert_eq!(AdminToken::parse("short"), Err(AdminTokenError::TooShort));
        assert_eq!(AdminToken::parse("0123456789abcdef:x"), Err(AdminTokenError::BadCharacter));
        assert_eq!(AdminToken::parse("0123456789 abcdef"), Err(AdminTokenError::BadCharacter));
        assert_eq!(AdminToken::parse("0123456789abcdef="), Err(AdminTokenError::EmptyScope));
    }

    #[test]
    fn a_write_key_is_never_an_admin_token() {
        let mut c = Config::for_tests();
        c.write_keys = vec![WriteKey::any_origin("public-write-key-123")];
        let t = AdminToken::parse("public-write-key-123").unwrap();
        assert_eq!(t.check(&c), Err(AdminTokenError::IsAWriteKey));
        let t = AdminToken::parse("0123456789abcdef=nope").unwrap();
        assert_eq!(t.check(&c), Err(AdminTokenError::UnknownKey("nope".into())));
    }

    #[test]
    fn grants_stay_in_scope() {
        let all = Grant { scope: Scope::All };
        assert_eq!(all.keys(None).unwrap(), None);
        assert_eq!(all.keys(Some("a")).unwrap(), Some(vec!["a".to_string()]));
        let some = Grant { scope: Scope::Keys(vec!["a".into()]) };
        assert_eq!(some.keys(None).unwrap(), Some(vec!["a".to_string()]));
        assert_eq!(some.keys(Some("b")).unwrap_err().status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn tokens_are_read_from_bearer_and_basic() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_token(&h).as_deref(), Some("abc"));
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:s3cret");
        h.insert("authorization", HeaderValue::from_str(&format!("Basic {basic}")).unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("s3cret"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
