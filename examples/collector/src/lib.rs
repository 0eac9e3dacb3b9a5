//! Omnitrail reference collector: Segment-compatible ingestion (`POST /v1/batch` and friends)
//! into SQLite or PostgreSQL, with dedup on `messageId`, a first-party identity cookie endpoint, a journey
//! viewer, Prometheus metrics and (opt-in) test-control endpoints for the SDK's e2e tests.
//!
//! The binary (`src/main.rs`) only parses flags and runs [`server::Collector`]; tests and the
//! load generator run it in-process with [`server::Background`].
//!
//! Owns: the module list. Must never: hold logic of its own.

pub mod admin;
pub mod attribution;
pub mod body;
pub mod cart;
pub mod config;
pub mod conn_limits;
pub mod cors;
pub mod faults;
pub mod identity;
pub mod ingest;
pub mod log;
pub mod marketing;
pub mod metrics;
pub mod ops;
pub mod people;
pub mod ratelimit;
pub mod retention;
pub mod reports;
pub mod routes;
pub mod server;
pub mod state;
pub mod store;
pub mod testctl;
pub mod timefmt;
pub mod validate;
pub mod viewer;
