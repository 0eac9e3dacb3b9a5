// Which build of the SDK a page downloads (the script tag; the npm entry always has the full
// build). Owns: the signals that a page needs the cart, read before anything is fetched.
// Must never: throw (storage may be blocked), or read more than the snippet's queue, the
// config, one storage key and the app bridges' globals.
//
// - "core": the small core (no cart: src/tracker/cart_off.rs). Tracking-only pages.
// - "full": everything. A cart already stored (`{storagePrefix}.c1`, src/cart.rs CART_KEY),
//   a `cart.*` call in the snippet's queue, a `cart` option, a site-chosen `wasm`, or a web
//   view with an app bridge (the app shares its cart; the bridges are the ones
//   src/web/native_bridge.rs finds, tied by tests/names.rs).
// A `cart.*` call made later on a core page switches to "full" then (js/src/loader.js).
export const FILES = {
  core: ["omnitrail_core.js", "omnitrail_core_bg.wasm"],
  full: ["omnitrail_full.js", "omnitrail_bg.wasm"],
};

// The app bridges (src/web/native_bridge.rs `endpoint`; tests/names.rs ties the two lists), and the
// state an app may put on window.omnitrailNative before the page loads.
export const BRIDGES = ["webkit.messageHandlers.omnitrail", "OmnitrailAndroid", "ReactNativeWebView", "Capacitor.Plugins.Omnitrail"];

const at = (o, path) => path.split(".").reduce((v, k) => (v == null ? v : v[k]), o);

export function variant(w, cfg, queued) {
  try {
    if (cfg.wasm || cfg.cart) return "full";
    if (queued.some((c) => /^cart[A-Z]/.test(c[0]))) return "full";
    if (w.omnitrailNative != null || BRIDGES.some((p) => at(w, p) != null)) return "full";
    const prefix = typeof cfg.storagePrefix === "string" ? cfg.storagePrefix : "ot1";
    if (w.localStorage.getItem(prefix + ".c1") != null) return "full";
  } catch (e) {
    // Storage blocked (no stored cart can be read either): the core.
  }
  return "core";
}
