// The npm entry (`import { Omnitrail } from "omnitrail"`). Loads the wasm once, adapts it, and
// nothing else: every rule (argument shapes, validation, delivery) lives in the wasm.
//
// - The wasm is referenced as `new URL("./omnitrail_bg.wasm", import.meta.url)`, which Vite,
//   webpack 5 and Parcel turn into an emitted asset; `Omnitrail.load({ wasm })` overrides it
//   (a URL or string, a Request/Response or a promise of one, bytes, or a WebAssembly.Module).
// - Importing this module touches no browser global (SSR-safe). Off the browser (no `window`
//   or `document`), `Omnitrail.load()` resolves to an inert instance whose calls do nothing,
//   `flush()` resolves `true` (nothing is waiting) and `stats().role` is `"noop"`.
import init, { Omnitrail as Wasm } from "../dist/pkg/omnitrail.js";
import { CART, CONSENT, namespace, wasmMethods } from "./namespaces.js";
import { ownGet, wasmSource } from "./builtins.js";

// Every method of the wasm class is forwarded, so this file never lags behind src/web/api.rs
// (tests/e2e/packaging.test.mjs checks that index.d.ts declares exactly these).
// `cartCall` and `consentCall` are internal: `sdk.cart.*` and `sdk.consent.*` (below) call them.
const METHODS = wasmMethods(Wasm.prototype);

const inBrowser = () => typeof window !== "undefined" && typeof document !== "undefined";

let ready = null; // the wasm instantiation, shared by every instance
let initialised = false;

function defaultWasm() {
  return new URL("./omnitrail_bg.wasm", import.meta.url);
}

// What the inert (server-side) instance answers; every other method returns undefined.
const NOOP = {
  flush: () => Promise.resolve(true),
  decorate: (url) => url,
  anonymousId: () => "",
  user: () => ({ anonymousId: "", userId: null, groupId: null }),
  stats: () => ({ tracked: 0, delivered: 0, rejected: 0, batches: 0, retries: 0, invalidCalls: 0, queued: 0,
    queuedBytes: 0, persistedBytes: 0, dropped: 0, corrupt: 0, storageFailures: 0, cartSyncRequests: 0,
    cartSyncMerged: 0, cartSyncFailures: 0, role: "noop" }),
  // `cart.get()` and `cart.sync()`; the other `cart.*` calls answer undefined.
  cartCall: (m) => (m === "get" ? null : m === "sync" ? Promise.resolve(false) : undefined),
  // `consent.get()`; `consent.set` and `consent.onChange` answer undefined.
  consentCall: (m) => (m === "get" ? null : undefined),
};

// Calls the wasm method `m`, or answers for the inert instance; never throws.
function forward(sdk, m, args) {
  if (!sdk) return NOOP[m] ? NOOP[m].apply(null, args) : undefined;
  try {
    return Reflect.apply(sdk[m], sdk, args);
  } catch (e) {
    // Never let anything reach the page (the wasm already warned about bad input).
    return m === "flush" ? Promise.resolve(false) : undefined;
  }
}

export class Omnitrail {
  /**
   * Starts the SDK with `config`. In a browser the wasm must have been instantiated first
   * (`await Omnitrail.init()`, or use `Omnitrail.load`). Throws only for an invalid config,
   * or when the wasm is not initialised yet. Off the browser it builds an inert instance.
   */
  constructor(config) {
    let sdk = null;
    if (inBrowser()) {
      if (!initialised) throw new Error("omnitrail: the wasm is not loaded yet: use `await Omnitrail.load(config)` (or `await Omnitrail.init()` first)");
      let cfg = config;
      if (cfg && typeof cfg === "object" && ownGet(cfg, "wasm") !== undefined) {
        cfg = Object.assign({}, cfg);
        delete cfg.wasm; // ours, not the SDK's
      }
      sdk = new Wasm(cfg);
    }
    Object.defineProperty(this, "_sdk", { value: sdk });
  }

  /** Instantiates the wasm (once; later calls share the first). Resolves `false` off the browser. */
  static init(wasm) {
    if (!inBrowser()) return Promise.resolve(false);
    if (!ready) {
      ready = init({ module_or_path: wasmSource(wasm ?? defaultWasm()) }).then(() => { initialised = true; return true; });
      ready.catch(() => { ready = null; });
    }
    return ready;
  }

  /** `await Omnitrail.load({ writeKey, endpoint, ...options, wasm? })`: init + constructor. */
  static async load(options) {
    await Omnitrail.init(options && typeof options === "object" ? ownGet(options, "wasm") : undefined);
    return new Omnitrail(options);
  }

  /** `true` in a browser, `false` where `load()` gives an inert instance (server-side rendering). */
  static get supported() {
    return inBrowser();
  }
}

for (let i = 0; i < METHODS.length; i++) {
  const m = METHODS[i];
  Object.defineProperty(Omnitrail.prototype, m, {
    configurable: true,
    writable: true,
    value: function () {
      return forward(this._sdk, m, arguments);
    },
  });
}
// `sdk.cart.add(…)`, `sdk.consent.set(…)` etc.: the wasm's `cartCall` and `consentCall` under
// namespaces, each made once per instance.
for (const [name, names, internal] of [["cart", CART, "cartCall"], ["consent", CONSENT, "consentCall"]]) {
  Object.defineProperty(Omnitrail.prototype, name, {
    configurable: true,
    get() {
      const ns = namespace(names, (m, a, b) => forward(this._sdk, internal, [m, a, b]));
      Object.defineProperty(this, name, { value: ns });
      return ns;
    },
  });
}
if (typeof Symbol === "function" && Symbol.dispose) Omnitrail.prototype[Symbol.dispose] = Omnitrail.prototype.free;

export default Omnitrail;
