//! The app bridge left out (the small core, built without the `bridge` feature).
//!
//! Owns: the bridge's answers on a page without an app: no bridge present, nothing posted,
//! nothing adopted from `window.omnitrailNative`.
//! Must never: read the app's globals or define `window.omnitrailReceive`: a web view with a
//! bridge or `window.omnitrailNative` is served the full build (js/src/variant.js, `BRIDGES`).

use std::cell::RefCell;
use std::rc::Weak;

use super::runtime::{Core, Runtime};

/// No app hosts this page (the loader would have served the full build).
pub fn present() -> bool {
    false
}

/// Nothing to post to.
pub fn post(_message: &str) -> bool {
    false
}

pub fn listen(_rt: &Weak<RefCell<Runtime>>) {}

pub fn adopt(_core: &mut Core) {}
