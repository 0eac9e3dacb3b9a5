// The browser's own built-ins, for host pages that replaced or polluted theirs: the JSON text
// of the page's objects, fetch and sendBeacon for requests, and the wasm's download.
//
// Owns: which implementation the SDK calls. The page's own while it is the browser's (its
// source reads `function name() { [native code] }`), else the same function taken from a
// same-origin about:blank frame (made once, on first need, and removed at once: its fetch
// and sendBeacon are applied to this window, so requests belong to this page and outlive the
// frame). And JSON text equal to a clean page's whatever `toJSON` the page put on a built-in
// prototype (prototype.js 1.6's Array/Date/String/Number ones, a polluted Object.prototype):
// a value's own `toJSON` and its class's still apply, as does the browser's `Date` one.
// Must never: change the page's globals, leave anything in the page's DOM, touch a browser
// global at import (the npm entry is imported during server-side rendering), or throw
// anything but what the browser's JSON.stringify throws (the wasm turns that into a warning).
// Imported by the wasm's glue (src/web/transport.rs, src/web/convert.rs) and the loaders; the
// bundler keeps one copy, so one frame at most per page.

const apply = Reflect.apply;
const source = Function.prototype.toString;
const hasOwn = Object.prototype.hasOwnProperty;
const protoOf = Object.getPrototypeOf;
// Built-in prototypes a clean page gives no `toJSON` (BigInt's is absent where BigInt is).
const OP = Object.prototype, AP = Array.prototype, SP = String.prototype, NP = Number.prototype,
  BP = Boolean.prototype, FP = Function.prototype, IP = typeof BigInt === "function" ? BigInt.prototype : OP;
const BARE = [OP, AP, SP, NP, BP, FP, IP];
const DATE = Date.prototype;

// Whether `f` is the browser's function `name`, not a polyfill, wrapper or bound function.
const isNative = (f, name) => {
  try {
    return apply(source, f, []) === "function " + name + "() { [native code] }";
  } catch (e) {
    return false;
  }
};

let frame; // a fresh realm's built-ins (null where no frame can be made); undefined until needed
function pristine() {
  if (frame === undefined) {
    frame = null;
    let f;
    try {
      const d = document;
      f = d.createElement("iframe");
      f.style.display = "none";
      d.documentElement.appendChild(f); // <html>: exists before <body> does
      const w = f.contentWindow, dp = w.Date.prototype;
      frame = { fetch: w.fetch, beacon: w.Navigator.prototype.sendBeacon, stringify: w.JSON.stringify,
        iso: dp.toISOString, time: dp.getTime };
    } catch (e) {
      // A sandboxed page (opaque frame), or no DOM: the page's own built-ins stay in use.
    } finally {
      if (f && f.parentNode) f.parentNode.removeChild(f);
    }
  }
  return frame;
}

// The browser's own built-in: the page's while it is native, else the fresh realm's.
const own = (page, name, key) => (isNative(page, name) ? page : (pristine() || {})[key] || page);

let fetchFn, beaconFn, S, ISO, TIME, DATE_JSON;

/** `fetch(url, init)` with the browser's own fetch, for this page. Throws where there is none. */
export function fetchOwn(url, init) {
  if (!fetchFn) fetchFn = own(window.fetch, "fetch", "fetch");
  return apply(fetchFn, window, [url, init]);
}

/** `navigator.sendBeacon(url, body)` with the browser's own; false where it cannot queue it. */
export function beaconOwn(url, body) {
  try {
    const n = window.navigator;
    if (!beaconFn) beaconFn = own(n.sendBeacon, "sendBeacon", "beacon");
    return apply(beaconFn, n, [url, body]) === true;
  } catch (e) {
    return false;
  }
}

/** A batch request with its body gzipped by the browser (src/web/transport.rs says when). */
export function gzipFetch(u, q, i, g, n) {
  return new Promise((r) => r(new Response(new Response(i.body).body.pipeThrough(new CompressionStream("gzip"))).arrayBuffer()))
    .then((b, k) => ((k = g(n, b.byteLength)) ? ((i.body = b), k > 1 && (i.keepalive = true), fetchOwn(u + "?" + q, i)) : 0),
      (k) => ((k = g(n, 0)) ? (k > 1 && (i.keepalive = true), fetchOwn(u, i)) : 0));
}

/** `(x) => f(bound, x)`: what `f.bind(null, bound)` gives, without the page's `bind`. */
export const bindFirst = (f, bound) => (x) => f(bound, x);

/** The wasm's bytes, for the glue's `init`: a URL or string is fetched with the browser's own fetch. */
export const wasmSource = (w) =>
  typeof w === "string" || w instanceof URL || (typeof Request === "function" && w instanceof Request) ? fetchOwn(w) : w;

/**
 * The JSON text a clean page's `JSON.stringify(v)` gives. One check per call finds no `toJSON`
 * on the built-in prototypes (the normal page): the browser's stringify runs as it is. Else a
 * replacer undoes what a page-made `toJSON` did (each property is then read twice).
 */
export function stringify(v) {
  if (!S) {
    const clean = isNative(JSON.stringify, "stringify") && isNative(DATE.toJSON, "toJSON")
      && isNative(DATE.toISOString, "toISOString") && isNative(DATE.getTime, "getTime");
    const f = clean ? null : pristine();
    S = f ? f.stringify : JSON.stringify;
    ISO = f ? f.iso : DATE.toISOString;
    TIME = f ? f.time : DATE.getTime;
    DATE_JSON = clean ? DATE.toJSON : null; // null: never equal, every call takes the replacer
  }
  // One property read per prototype, each its own (monomorphic) site (docs/host-page.md).
  return OP.toJSON === undefined && AP.toJSON === undefined && SP.toJSON === undefined && NP.toJSON === undefined
    && BP.toJSON === undefined && FP.toJSON === undefined && IP.toJSON === undefined
    && DATE.toJSON === DATE_JSON && DATE.toISOString === ISO ? S(v) : S(v, undo);
}

// The replacer: `this[k]` is the value before any `toJSON`. A `toJSON` found on a built-in
// prototype is the page's: the value goes on as if it were absent (Date: the browser's own).
function undo(k, v) {
  const x = this[k];
  if (x === v || x === null || (typeof x !== "object" && typeof x !== "function" && typeof x !== "bigint")) return v;
  let o = x;
  while (o !== null && !apply(hasOwn, o, ["toJSON"])) o = protoOf(o);
  if (o === DATE) {
    const t = apply(TIME, x, []);
    return t - t === 0 ? apply(ISO, x, []) : null;
  }
  for (let i = 0; i < BARE.length; i++) if (o === BARE[i]) return x;
  return v;
}

/** `o[k]` if `o` has its own property `k`, else undefined: options and configuration are read
 * so, and a key on a polluted Object.prototype is not an option. */
export const ownGet = (o, k) => (o !== null && o !== undefined && apply(hasOwn, o, [k]) ? o[k] : undefined);
