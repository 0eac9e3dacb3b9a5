//! The browser layer (wasm32 only): adapters for the core's ports and the `#[wasm_bindgen]`
//! surface.
//!
//! Owns: localStorage, `Date.now()`, `crypto.getRandomValues`, timers, `fetch`/`sendBeacon`,
//! lifecycle listeners (`visibilitychange`, `pagehide`, `online`/`offline`, `storage`),
//! the delivery lock (Web Locks, or the storage lease where Locks are missing) and the global
//! allocator.
//! Must never: hold a business rule (those live in the core), throw into the page (except an
//! invalid configuration at construction), panic, or register `unload`/`beforeunload`.

/// The allocator: talc instead of std's dlmalloc, 1,480 B gzip smaller and no slower per
/// `track()` in the 10,000-event burst (docs/size.md).
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

mod api;
#[cfg(feature = "cart")]
mod cart_api;
#[cfg_attr(not(feature = "cart"), path = "cart_runtime_off.rs")]
mod cart_runtime;
mod consent_api;
mod convert;
mod dom;
mod election;
mod env;
mod instances;
mod lifecycle;
#[cfg_attr(not(feature = "bridge"), path = "native_bridge_off.rs")]
mod native_bridge;
mod ports;
mod runtime;
mod transport;
