//! CORS: which browser origins may read our answers, and the preflight responses.
//!
//! Policy. Ingestion (`/v1/batch`, aliases) is CORS-simple (`text/plain`, no credentials), so
//! browsers send it without asking; the origin allowlist of each write key is enforced by the
//! ingestion handler itself (403, nothing stored). The answers then echo the request's
//! `Origin` — also on errors, so that the SDK can read a 400/401/403/413 and drop the batch
//! instead of seeing an opaque network error and retrying forever — and expose `Retry-After`
//! and `Accept-Encoding` (the request codings the collector reads, RFC 7694: how the SDK learns
//! it may gzip its batches).
//! The identity endpoint uses cookies, so it gets `Access-Control-Allow-Credentials: true`
//! and only for origins that some write key allows. Preflights are answered 204 for origins
//! some write key allows (any origin for the /test endpoints), 403 otherwise. Routes that show
//! people's data (viewer, journeys, metrics) get no CORS headers at all and their preflights
//! are refused: only the collector's own pages read them (`admin.rs`).
//!
//! Owns: the CORS response headers. Must never: decide whether a message is stored.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::routes::Route;
use crate::state::AppState;

const ALLOW_METHODS: &str = "GET, POST, PUT, OPTIONS";
const DEFAULT_ALLOW_HEADERS: &str = "content-type, content-encoding, authorization";
/// The cart endpoint's preflights always allow its token and Basic auth (plus whatever else
/// the browser asks for).
const CART_ALLOW_HEADERS: &str = "content-type, content-encoding, authorization, x-omnitrail-cart-token";
const MAX_AGE_SECS: &str = "600";

/// Adds the CORS headers of an actual (non-preflight) response.
pub fn apply(st: &AppState, route: Route, origin: Option<&str>, headers: &mut HeaderMap) {
    headers.append("vary", HeaderValue::from_static("Origin"));
    let Some(origin) = origin else { return };
    let Ok(value) = HeaderValue::from_str(origin) else { return };
    match route {
        Route::Ingest | Route::Test | Route::Cart => {
            headers.insert("access-control-allow-origin", value);
            headers.insert("access-control-expose-headers", HeaderValue::from_static("Retry-After, Accept-Encoding"));
        }
        Route::Identity if st.config.any_key_allows(origin) => {
            headers.insert("access-control-allow-origin", value);
            headers.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
        }
        _ => {}
    }
}

/// Answers an `OPTIONS` request.
pub fn preflight(st: &AppState, route: Route, req: &HeaderMap) -> Response<Body> {
    let origin = req.get("origin").and_then(|o| o.to_str().ok());
    let allowed = match (route, origin) {
        (_, None) => false,
        (Route::Test, Some(_)) => st.config.test_control,
        (Route::Ingest | Route::Identity, Some(o)) => st.config.any_key_allows(o),
        (Route::Cart, Some(o)) => st.config.cart_secret.is_some() && st.config.any_key_allows(o),
        _ => false,
    };
    let mut resp = Response::new(Body::empty());
    resp.headers_mut()
        .insert("vary", HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"));
    let (Some(origin), true) = (origin, allowed) else {
        *resp.status_mut() = StatusCode::FORBIDDEN;
        return resp;
    };
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert("access-control-allow-origin", v);
    }
    h.insert("access-control-allow-methods", HeaderValue::from_static(ALLOW_METHODS));
    let requested = req
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() < 1024 && !v.trim().is_empty())
        .and_then(|v| HeaderValue::from_str(v).ok());
    let allow_headers = match (route, requested) {
        (Route::Cart, Some(r)) => {
            let r = r.to_str().unwrap_or("").to_ascii_lowercase();
            let mut list: Vec<&str> = CART_ALLOW_HEADERS.split(", ").collect();
            list.extend(r.split(',').map(str::trim).filter(|x| !x.is_empty() && !list.contains(x)).collect::<Vec<_>>());
            HeaderValue::from_str(&list.join(", ")).unwrap_or(HeaderValue::from_static(CART_ALLOW_HEADERS))
        }
        (Route::Cart, None) => HeaderValue::from_static(CART_ALLOW_HEADERS),
        (_, Some(r)) => r,
        (_, None) => HeaderValue::from_static(DEFAULT_ALLOW_HEADERS),
    };
    h.insert("access-control-allow-headers", allow_headers);
    h.insert("access-control-max-age", HeaderValue::from_static(MAX_AGE_SECS));
    if route == Route::Identity {
        h.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
    }
    resp
}
