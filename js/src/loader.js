// The script-tag loader: picks the build the page needs (js/src/variant.js), instantiates its
// wasm next to this file, replays the snippet's queue in order (with the original timestamps)
// and turns window.omnitrail into the real API. On a page served the small core, the first
// `cart.*` call switches to the full build: calls made meanwhile wait, in order, and go to the
// full build once it runs (the core hands its stored outbox over: `retire`).
// Adapts only: every rule lives in the wasm. Needs nothing of the page's Array/String
// prototypes and downloads the wasm with the browser's own fetch (js/src/builtins.js): a host
// page may have broken its own (tests/e2e/hostile-pages.test.mjs).
import { CART, CONSENT, namespace, wasmMethods } from "./namespaces.js";
import { ownGet, wasmSource } from "./builtins.js";
import { FILES, variant } from "./variant.js";
// The small core's glue (scripts/build.sh builds it before this bundle). It takes
// js/src/builtins.js from the same file as this loader: one copy of it in the bundle. Named
// imports, not `import * as`: the bundler builds a namespace object with a `for…in` that a
// polluted Object.prototype breaks (tests/e2e/hostile-pages.test.mjs).
import initCore, { Omnitrail as CoreSdk } from "../dist/pkg/omnitrail_core.js";

// The full build's glue imports the browser's own built-ins from here (scripts/build.sh points
// its import at this file): one copy of js/src/builtins.js per page.
export * from "./builtins.js";

// Calls that read and change nothing: answered by the running instance even while a switch
// is under way.
const reads = (m, args) =>
  m === "anonymousId" || m === "user" || m === "stats" || m === "decorate" || (m === "consentCall" && args[0] === "get");

// Imports a build's glue (the core's is bundled here) and instantiates its wasm (fetched while
// the glue loads).
async function load(name, cfg) {
  const files = FILES[name];
  const bytes = wasmSource(ownGet(cfg, "wasm") || new URL(files[1], import.meta.url));
  const glue = files[0] ? await import(new URL(files[0], import.meta.url).href) : { default: initCore, Omnitrail: CoreSdk };
  await glue.default({ module_or_path: await bytes });
  return glue.Omnitrail;
}

async function boot() {
  const stub = window.omnitrail;
  // `_boot`: a second evaluation of this file (the glue's import of "./omnitrail.js" where the
  // page loaded it as "omnitrail.js?v=…") must not start a second instance.
  if (!stub || !stub._q || stub.loaded || stub._boot) return;
  stub._boot = true;
  const cfg = stub.config || {};
  let name = variant(window, cfg, stub._q);
  const Sdk = await load(name, cfg);
  let sdk;
  try {
    sdk = new Sdk(cfg);
  } catch (e) {
    console.error(e && e.message ? e.message : e);
    return;
  }
  // The API is whatever the wasm class exports (defined once, in Rust), minus internals; the
  // page's `window.omnitrail` has no `free` (it lives as long as the page) and no `replay` (the
  // loader replays the snippet's queue itself).
  const methods = wasmMethods(Sdk.prototype, ["free", "replay"]);
  let waiting = null; // during a switch: the calls to make on the full build, in order
  const direct = (m, args) => {
    try {
      return Reflect.apply(sdk[m], sdk, args);
    } catch (e) {
      // Never let anything reach the page; the wasm already warned about bad input.
      return undefined;
    }
  };
  // A call made during the switch, kept for the full build (replayed with its time). `args`
  // may be an `arguments` object: copied by index (replay reads a real array).
  const later = (m, given) => {
    const ts = Date.now();
    const args = [];
    for (let j = 0; j < given.length; j++) args[j] = given[j];
    if (m === "flush" || (m === "cartCall" && args[0] === "sync")) {
      return new Promise((ok) => { waiting[waiting.length] = () => ok(direct(m, args)); });
    }
    if (m === "cartCall" && args[0] === "get") return null;
    waiting[waiting.length] = () => {
      // Namespaced calls replay under the name the snippet queues them by ("cartadd").
      const ns = m === "cartCall" ? "cart" : m === "consentCall" ? "consent" : "";
      let replayed = false;
      try {
        replayed = ns ? sdk.replay(ns + args[0], [args[1], args[2]], ts) : sdk.replay(m, args, ts);
      } catch (e) { /* see direct */ }
      if (!replayed) direct(m, args);
    };
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
    for (let i = 0; i < calls.length; i++) calls[i]();
  };
  const call = (m, args) => {
    if (waiting && !reads(m, args)) return later(m, args);
    if (m === "cartCall" && name === "core") {
      name = "full";
      switchToFull();
      return later(m, args);
    }
    return direct(m, args);
  };
  for (let i = 0; i < methods.length; i++) {
    const m = methods[i];
    // `arguments` as it is (no copy per call: `Reflect.apply` takes it; only a call held
    // during a switch is copied, in `later`).
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
