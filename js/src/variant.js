// Which build of the SDK a page downloads (the script tag; the npm entry always has the full
// build). Owns: the signals that a page needs the cart, the app bridge or the cross-domain
// hand-over, read before anything is fetched.
// Must never: throw (storage may be blocked), read more than the snippet's queue, the
// config's own properties, one storage key and the app bridges' globals, or call a method of
// the page's String/Array prototypes.
//
// - "core": the small core (`--no-default-features`): no cart (src/tracker/cart_off.rs), no
//   app bridge (src/web/native_bridge_off.rs), no adopting of an incoming hand-over nor
//   auto-decoration (src/tracker/cross_domain_off.rs: it only removes `_ot` from the URL, as
//   the full build does on a page without `linkedDomains`; `decorate()` works), GA4's channel
//   table only (no `channelRules`, no "omnitrail-extended" preset: Cargo feature `channels`).
//   Tracking pages.
// - "full": everything. A cart already stored (`{storagePrefix}.c1`, src/cart.rs CART_KEY),
//   a `cart.*` call in the snippet's queue, a `cart` option, a site-chosen `wasm`, a
//   non-empty `linkedDomains` (the page adopts hand-overs and may auto-decorate), a
//   `channelRules` or `channelPreset` option, or a web
//   view with an app bridge or `window.omnitrailNative` (the bridges are the ones
//   src/web/native_bridge.rs finds, tied by tests/names.rs).
// A `cart.*` call made later on a core page switches to "full" then (js/src/loader.js).
import { ownGet } from "./builtins.js";

// Each build's glue module and wasm. The core's glue is bundled into the loader (null here,
// js/src/loader.js): a tracking page makes one request less, and the glue is evaluated before
// the wasm is requested instead of after its own fetch (BENCHMARKS.md, "Shortening the
// serial chain").
export const FILES = {
  core: [null, "omnitrail_core_bg.wasm"],
  full: ["omnitrail_full.js", "omnitrail_bg.wasm"],
};

// The app bridges (src/web/native_bridge.rs `endpoint`; tests/names.rs ties the two lists), and the
// state an app may put on window.omnitrailNative before the page loads.
export const BRIDGES = ["webkit.messageHandlers.omnitrail", "OmnitrailAndroid", "ReactNativeWebView", "Capacitor.Plugins.Omnitrail"];

// `o.a.b.c` for "a.b.c", or undefined (no method of the page's String/Array prototypes: a
// host page may have broken them).
function at(o, path) {
  for (let i = 0, key = ""; i <= path.length; i++) {
    if (i < path.length && path[i] !== ".") key += path[i];
    else {
      if (o == null) return undefined;
      o = o[key];
      key = "";
    }
  }
  return o;
}

// The snippet queues `cart.add(…)` as "cartadd" (earlier snippets: "cartAdd").
const isCart = (m) => typeof m === "string" && m.length > 4 && m[0] === "c" && m[1] === "a" && m[2] === "r" && m[3] === "t";

export function variant(w, cfg, queued) {
  try {
    if (ownGet(cfg, "wasm") || ownGet(cfg, "cart")) return "full";
    // Anything but an empty list (a wrong type too: the full build's config check says why).
    const linked = ownGet(cfg, "linkedDomains");
    if (linked != null && linked.length !== 0) return "full";
    // Custom channel rules or a chosen preset (the core has GA4's default table only).
    if (ownGet(cfg, "channelRules") != null || ownGet(cfg, "channelPreset") != null) return "full";
    for (let i = 0; i < queued.length; i++) if (isCart(queued[i][0])) return "full";
    if (w.omnitrailNative != null) return "full";
    for (let i = 0; i < BRIDGES.length; i++) if (at(w, BRIDGES[i]) != null) return "full";
    const prefix = typeof ownGet(cfg, "storagePrefix") === "string" ? cfg.storagePrefix : "ot1";
    if (w.localStorage.getItem(prefix + ".c1") != null) return "full";
  } catch (e) {
    // Storage blocked (no stored cart can be read either): the core.
  }
  return "core";
}
