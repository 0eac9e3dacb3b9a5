// `omnitrail.cart.*`: the wasm class's one cart method, `cartCall(name, a, b)`
// (src/web/cart_api.rs), under a namespace: `cart.add(a, b)` is `cartCall("add", a, b)`.
// The names are listed here, not asked of the wasm, because the inert server-side instance
// (index.js) has no wasm and still answers them. The list is src/names.rs's CART_OPERATIONS:
// tests/names.rs checks this copy, the snippet's and index.d.ts's against it. Shared by the
// script-tag loader and the npm entry; adapts only. Uses no method of the page's
// Array/String prototypes (a host page may have broken them: tests/e2e/hostile-pages.test.mjs).
export const CART = ["add", "remove", "setQuantity", "update", "applyCoupon", "removeCoupon", "setCurrency", "clear", "view", "checkout", "orderCompleted", "connect", "get", "onChange", "sync"];

export function cartNamespace(call) {
  const cart = {};
  for (let i = 0; i < CART.length; i++) {
    const m = CART[i];
    cart[m] = (a, b) => call(m, a, b);
  }
  return cart;
}

// The wasm class's methods a surface forwards (defined once, in Rust: src/web/api.rs), minus
// internals (`cartCall` is `cart.*`, above; `__`-prefixed glue) and what that surface also
// `hide`s. One filter for the loader and the npm entry.
export function wasmMethods(proto, hide = []) {
  const names = Object.getOwnPropertyNames(proto), out = [];
  next: for (let i = 0; i < names.length; i++) {
    const m = names[i];
    if (m === "constructor" || m === "cartCall" || (m[0] === "_" && m[1] === "_")) continue;
    for (let j = 0; j < hide.length; j++) if (hide[j] === m) continue next;
    out[out.length] = m;
  }
  return out;
}
