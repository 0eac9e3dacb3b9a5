// `omnitrail.cart.*` and `omnitrail.consent.*`: each the wasm class's one method for its
// namespace, `cartCall(name, a, b)` (src/web/cart_api.rs) and `consentCall(name, a)`
// (src/web/consent_api.rs): `cart.add(a, b)` is `cartCall("add", a, b)`. The names are listed
// here, not asked of the wasm, because the inert server-side instance (index.js) has no wasm
// and still answers them. The lists are src/names.rs's CART_OPERATIONS and
// CONSENT_OPERATIONS: tests/names.rs checks these copies, the snippet's and index.d.ts's
// against them. Shared by the script-tag loader and the npm entry; adapts only. Uses no method
// of the page's Array/String prototypes (a host page may have broken them:
// tests/e2e/hostile-pages.test.mjs).
export const CART = ["add", "remove", "setQuantity", "update", "applyCoupon", "removeCoupon", "setCurrency", "clear", "view", "checkout", "orderCompleted", "connect", "get", "onChange", "sync"];
export const CONSENT = ["set", "get", "onChange"];

// `{ name: (a, b) => call(name, a, b) }` for every name of the list.
export function namespace(names, call) {
  const ns = {};
  for (let i = 0; i < names.length; i++) {
    const m = names[i];
    ns[m] = (a, b) => call(m, a, b);
  }
  return ns;
}

// The wasm class's internal methods: the namespaces' calls (above), and `retire` (the small
// core hands over to the full build: js/src/loader.js). The small core has no `cartCall`: the
// loader adds `cart.*` itself.
const INTERNAL = ["constructor", "cartCall", "consentCall", "retire"];

// The wasm class's methods a surface forwards (defined once, in Rust: src/web/api.rs), minus
// internals (`INTERNAL`, `__`-prefixed glue) and what that surface also `hide`s. One filter for
// the loader and the npm entry.
export function wasmMethods(proto, hide = []) {
  const names = Object.getOwnPropertyNames(proto), out = [];
  const skip = (list, m) => { for (let j = 0; j < list.length; j++) if (list[j] === m) return true; return false; };
  for (let i = 0; i < names.length; i++) {
    const m = names[i];
    if (skip(INTERNAL, m) || (m[0] === "_" && m[1] === "_") || skip(hide, m)) continue;
    out[out.length] = m;
  }
  return out;
}
