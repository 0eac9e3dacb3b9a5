//! The URL space: which handler serves which path, and the fixed route labels used by CORS,
//! metrics and logs.
//!
//! Owns: the router and [`Route`] classification. Must never: contain handler logic.

use axum::routing::{get, post};
use axum::Router;
use omnitrail::wire::{BATCH_PATH, IDENTITY_PATH};

use crate::state::Shared;
use crate::{cart, identity, ingest, ops, reports, testctl, viewer};

/// A fixed label per family of paths (bounded cardinality for metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Ingest,
    Identity,
    Test,
    Health,
    Metrics,
    Viewer,
    Journeys,
    /// The marketer's views: reports, profiles, segments (pages and JSON).
    Marketing,
    Cart,
    Other,
}

impl Route {
    pub fn classify(path: &str) -> Route {
        match path {
            BATCH_PATH | "/v1/b" | "/v1/import" | "/v1/track" | "/v1/page" | "/v1/screen" | "/v1/identify" | "/v1/group"
            | "/v1/alias" => Route::Ingest,
            IDENTITY_PATH => Route::Identity,
            "/healthz" => Route::Health,
            "/metrics" => Route::Metrics,
            "/" | "/journeys" => Route::Viewer,
            p if p == "/v1/journeys" || p.starts_with("/v1/journeys/") => Route::Journeys,
            "/reports" | "/profiles" | "/v1/segments" | "/v1/reports/attribution" => Route::Marketing,
            p if p.starts_with("/v1/profiles/") => Route::Marketing,
            p if p.starts_with("/v1/cart/") => Route::Cart,
            p if p.starts_with("/test/") => Route::Test,
            _ => Route::Other,
        }
    }

    /// Routes that show people's data (or traffic figures): an admin token is required, and
    /// they are never served cross-origin (`admin.rs`).
    pub fn needs_admin(self) -> bool {
        matches!(self, Route::Viewer | Route::Journeys | Route::Marketing | Route::Metrics)
    }

    pub fn label(self) -> &'static str {
        match self {
            Route::Ingest => "ingest",
            Route::Identity => "identity",
            Route::Test => "test",
            Route::Health => "healthz",
            Route::Metrics => "metrics",
            Route::Viewer => "viewer",
            Route::Journeys => "journeys",
            Route::Marketing => "marketing",
            Route::Cart => "cart",
            Route::Other => "other",
        }
    }
}

pub fn router(state: Shared) -> Router {
    let mut r = Router::new()
        .route(BATCH_PATH, post(ingest::batch))
        .route("/v1/b", post(ingest::batch))
        .route("/v1/import", post(ingest::batch))
        .route("/v1/track", post(ingest::track))
        .route("/v1/page", post(ingest::page))
        .route("/v1/screen", post(ingest::screen))
        .route("/v1/identify", post(ingest::identify))
        .route("/v1/group", post(ingest::group))
        .route("/v1/alias", post(ingest::alias))
        // Segment's one-letter paths, which analytics.js / analytics-next use by default.
        .route("/v1/t", post(ingest::track))
        .route("/v1/p", post(ingest::page))
        .route("/v1/s", post(ingest::screen))
        .route("/v1/i", post(ingest::identify))
        .route("/v1/g", post(ingest::group))
        .route("/v1/a", post(ingest::alias))
        .route(IDENTITY_PATH, post(identity::reissue))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/", get(viewer::page))
        .route("/journeys", get(viewer::page))
        .route("/v1/journeys", get(viewer::identities))
        .route("/v1/journeys/{id}", get(viewer::timeline))
        .route("/reports", get(reports::report_page))
        .route("/profiles", get(reports::profile_page))
        .route("/v1/reports/attribution", get(reports::attribution))
        .route("/v1/profiles/{id}", get(reports::profile))
        .route("/v1/segments", get(reports::segments))
        .route("/v1/cart/{user_id}", get(cart::get).put(cart::put));
    if state.config.test_control {
        r = r
            .route("/test/fault", post(testctl::fault))
            .route("/test/stats", get(testctl::stats))
            .route("/test/messages", get(testctl::messages))
            .route("/test/reset", post(testctl::reset));
    }
    r.fallback(ops::not_found).with_state(state)
}
