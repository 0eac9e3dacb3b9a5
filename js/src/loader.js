// The script-tag loader: instantiates the wasm next to this file, replays the snippet's
// queue in order (with the original timestamps) and turns window.omnitrail into the real API.
// Adapts only: every rule lives in the wasm. Needs nothing of the page's Array/String
// prototypes and downloads the wasm with the browser's own fetch (js/src/builtins.js): a host
// page may have broken its own (tests/e2e/hostile-pages.test.mjs).
import init, { Omnitrail } from "../dist/pkg/omnitrail.js";
import { CART, CONSENT, namespace, wasmMethods } from "./namespaces.js";
import { ownGet, wasmSource } from "./builtins.js";

// The API is whatever the wasm class exports (defined once, in Rust), minus internals; the
// page's `window.omnitrail` has no `free` (it lives as long as the page) and no `replay` (the
// loader replays the snippet's queue itself).
const METHODS = wasmMethods(Omnitrail.prototype, ["free", "replay"]);

async function boot() {
  const stub = window.omnitrail;
  if (!stub || !stub._q || stub.loaded) return;
  const cfg = stub.config || {};
  const wasm = ownGet(cfg, "wasm") || new URL("omnitrail_bg.wasm", import.meta.url);
  await init({ module_or_path: wasmSource(wasm) });
  let sdk;
  try {
    sdk = new Omnitrail(cfg);
  } catch (e) {
    console.error(e && e.message ? e.message : e);
    return;
  }
  const call = (m, args) => {
    try {
      return Reflect.apply(sdk[m], sdk, args);
    } catch (e) {
      // Never let anything reach the page; the wasm already warned about bad input.
      return undefined;
    }
  };
  for (let i = 0; i < METHODS.length; i++) {
    const m = METHODS[i];
    stub[m] = function () {
      return call(m, arguments);
    };
  }
  const queued = stub._q;
  stub._q = [];
  for (let i = 0; i < queued.length; i++) {
    const q = queued[i];
    try { sdk.replay(q[0], q[1], q[2]); } catch (e) { /* ignored: see above */ }
  }
  // `omnitrail.consent.set(…)`, `omnitrail.cart.add(…)` etc. (the snippet queued them as
  // "consentset", "cartadd", …, and replay ran them above).
  stub.consent = namespace(CONSENT, (m, a) => call("consentCall", [m, a]));
  stub.cart = namespace(CART, (m, a, b) => call("cartCall", [m, a, b]));
  stub.loaded = true;
  stub.sdk = sdk;
  if (stub._ready) stub._ready(stub);
}

boot().catch((e) => console.warn("omnitrail: failed to load", e));
