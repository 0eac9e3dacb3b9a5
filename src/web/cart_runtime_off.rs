//! The runtime without the cart (the small core, built without the `cart` feature).
//!
//! Owns: the cart hooks of the tick and the lifecycle, as no-ops.
//! Must never: open a channel, send a request or call page code: a page that uses the cart
//! is served the full build (js/src/loader.js).

use super::runtime::{Runtime, Shared};

/// The cart part of the runtime: nothing.
#[derive(Default)]
pub struct CartRuntime {}

/// What a tick found to do for the cart: nothing.
pub struct Work;

pub fn start(_rt: &Shared) {}

pub fn collect(_r: &mut Runtime) -> Work {
    Work
}

pub fn perform(_rt: &Shared, _work: Work) {}

pub fn on_hidden(_rt: &Shared) {}
