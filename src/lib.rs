//! Omnitrail: a first-party customer-journey tracking SDK.
//!
//! The crate is two layers (see ARCHITECTURE.md):
//! - the **core** (every module but `web`): pure Rust, no I/O, no timers, no browser. It is a state
//!   machine fed API calls, the time, ids and persisted state through the [`ports`] traits, and
//!   delivery outcomes; it answers with work to do (batches to send, a wake-up time).
//!   It compiles and is unit-tested natively: if `cargo test` builds, the core is browser-free.
//! - `web` (wasm32 only): the adapters (localStorage, fetch/beacon, timers, lifecycle, Web Locks)
//!   and the thin `#[wasm_bindgen]` surface.

// The size rules of the wasm build, enforced by scripts/test.sh (clippy for wasm32 with
// scripts/clippy-wasm/clippy.toml): no `format!`/`write!` (core::fmt), no `str::find` (the
// substring searcher), no `str::parse` (FromStr), no `to_string` (Display), no panicking
// index or slice. Each allowed exception says why at its site; see docs/size.md.
#![cfg_attr(target_arch = "wasm32", deny(clippy::disallowed_macros, clippy::disallowed_methods, clippy::indexing_slicing))]

pub mod app_protocol;
pub mod campaign;
pub mod cart;
pub mod cart_sync;
pub mod channel;
pub mod config;
pub mod consent;
pub mod declarative;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod identity;
pub mod journey;
pub mod json;
pub mod lease;
pub mod linker;
pub mod message;
pub mod names;
pub mod outbox;
pub mod ports;
pub mod session;
pub mod store;
pub mod testing;
pub mod text;
pub mod time;
pub mod tracker;
pub mod url;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod web;

pub use config::Config;
pub use tracker::{BatchRequest, CallOptions, Role, Stats, Tracker};
