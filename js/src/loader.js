// The script-tag loader: picks the build the page needs (js/src/variant.js), instantiates its
// wasm next to this file, replays the snippet's queue in order (with the original timestamps)
// and turns window.omnitrail into the real API. On a page served the small core, the first
// `cart.*` call switches to the full build: calls made meanwhile wait, in order, and go to the
// full build once it runs (the core hands its stored outbox over: `retire`).
// Adapts only: every rule lives in the wasm.
import { cartNamespace, wasmMethods } from "./namespaces.js";
import { FILES, variant } from "./variant.js";

// Answered by the running instance even while a switch is under way (they change nothing).
const READS = ["anonymousId", "user", "stats", "getConsent", "decorate"];

// Imports a build's glue and instantiates its wasm (fetched while the glue loads).
async function load(name, cfg) {
  const [js, wasm] = FILES[name];
  const url = cfg.wasm || new URL(wasm, import.meta.url);
  const bytes = fetch(url);
  const glue = await import(new URL(js, import.meta.url).href);
  await glue.default({ module_or_path: await bytes });
  return glue.Omnitrail;
}

async function boot() {
  const stub = window.omnitrail;
  if (!stub || !stub._q || stub.loaded) return;
  const cfg = stub.config || {};
  let name = variant(window, cfg, stub._q);
  let Sdk = await load(name, cfg);
  let sdk;
  try {
    sdk = new Sdk(cfg);
  } catch (e) {
    console.error(e && e.message ? e.message : e);
    return;
  }
  // The API is whatever the wasm class exports (defined once, in Rust), minus internals; the
  // page's `window.omnitrail` has no `free` (it lives as long as the page).
  const methods = wasmMethods(Sdk.prototype, ["free", "replay"]);
  let waiting = null; // during a switch: the calls to make on the full build, in order
  const direct = (m, args) => {
    try {
      return sdk[m].apply(sdk, args);
    } catch (e) {
      // Never let anything reach the page; the wasm already warned about bad input.
      return undefined;
    }
  };
  // A call made during the switch, kept for the full build (replayed with its time).
  const later = (m, args) => {
    const ts = Date.now();
    if (m === "flush" || (m === "cartCall" && args[0] === "sync")) {
      return new Promise((ok) => waiting.push(() => ok(direct(m, args))));
    }
    if (m === "cartCall" && args[0] === "get") return null;
    waiting.push(() => {
      const queued = m === "cartCall" ? ["cart" + args[0][0].toUpperCase() + args[0].slice(1), [args[1], args[2]]] : [m, args];
      let replayed = false;
      try { replayed = sdk.replay(queued[0], queued[1], ts); } catch (e) { /* see direct */ }
      if (!replayed) direct(m, args);
    });
    return undefined;
  };
  const switchToFull = async () => {
    waiting = [];
    try {
      const Full = await load("full", cfg);
      const full = new Full(Object.assign({}, cfg, { autoPage: false }));
      sdk.retire();
      sdk.free();
      sdk = full;
      stub.sdk = full;
    } catch (e) {
      console.warn("omnitrail: failed to load the cart", e);
    }
    const calls = waiting;
    waiting = null;
    for (const f of calls) f();
  };
  const call = (m, args) => {
    if (waiting && !READS.includes(m)) return later(m, args);
    if (m === "cartCall" && name === "core") {
      name = "full";
      switchToFull();
      return later(m, args);
    }
    return direct(m, args);
  };
  for (const m of methods) {
    stub[m] = function () {
      return call(m, [].slice.call(arguments));
    };
  }
  const queued = stub._q;
  stub._q = [];
  for (const [m, args, ts] of queued) {
    try { sdk.replay(m, args, ts); } catch (e) { /* ignored: see above */ }
  }
  // `omnitrail.consent.set/get/onChange` (the snippet may have queued `consent.set` calls as
  // "setConsent").
  stub.consent = { set: stub.setConsent, get: stub.getConsent, onChange: stub.onConsentChange };
  // `omnitrail.cart.add(…)` etc. (the snippet queued them as "cartAdd", …).
  stub.cart = cartNamespace((m, a, b) => call("cartCall", [m, a, b]));
  stub.loaded = true;
  stub.sdk = sdk;
  if (stub._ready) stub._ready(stub);
}

boot().catch((e) => console.warn("omnitrail: failed to load", e));
