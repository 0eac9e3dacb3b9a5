// The script-tag loader: instantiates the wasm next to this file, replays the snippet's
// queue in order (with the original timestamps) and turns window.omnitrail into the real API.
// Adapts only: every rule lives in the wasm.
import init, { Omnitrail } from "../dist/pkg/omnitrail.js";
import { CART, CONSENT, namespace, wasmMethods } from "./namespaces.js";

// The API is whatever the wasm class exports (defined once, in Rust), minus internals; the
// page's `window.omnitrail` has no `free` (it lives as long as the page) and no `replay` (the
// loader replays the snippet's queue itself).
const METHODS = wasmMethods(Omnitrail.prototype, ["free", "replay"]);

async function boot() {
  const stub = window.omnitrail;
  if (!stub || !stub._q || stub.loaded) return;
  const cfg = stub.config || {};
  const wasm = cfg.wasm || new URL("omnitrail_bg.wasm", import.meta.url);
  await init({ module_or_path: wasm });
  let sdk;
  try {
    sdk = new Omnitrail(cfg);
  } catch (e) {
    console.error(e && e.message ? e.message : e);
    return;
  }
  const call = (m, args) => {
    try {
      return sdk[m].apply(sdk, args);
    } catch (e) {
      // Never let anything reach the page; the wasm already warned about bad input.
      return undefined;
    }
  };
  for (const m of METHODS) {
    stub[m] = function () {
      return call(m, arguments);
    };
  }
  const queued = stub._q;
  stub._q = [];
  for (const [m, args, ts] of queued) {
    try { sdk.replay(m, args, ts); } catch (e) { /* ignored: see above */ }
  }
  // `omnitrail.consent.set(…)`, `omnitrail.cart.add(…)` etc. (the snippet queued them as
  // "consentSet", "cartAdd", …, and replay ran them above).
  stub.consent = namespace(CONSENT, (m, a) => call("consentCall", [m, a]));
  stub.cart = namespace(CART, (m, a, b) => call("cartCall", [m, a, b]));
  stub.loaded = true;
  stub.sdk = sdk;
  if (stub._ready) stub._ready(stub);
}

boot().catch((e) => console.warn("omnitrail: failed to load", e));
