// `omnitrail.cart.*`: the wasm class's one cart method, `cartCall(name, a, b)`
// (src/web/cart_api.rs), under a namespace: `cart.add(a, b)` is `cartCall("add", a, b)`.
// The names are listed here, not asked of the wasm, because the inert server-side instance
// (index.js) has no wasm and still answers them. The list is src/names.rs's CART_OPERATIONS:
// tests/names.rs checks this copy, the snippet's and index.d.ts's against it. Shared by the
// script-tag loader and the npm entry; adapts only.
export const CART = "add remove setQuantity update applyCoupon removeCoupon setCurrency clear view checkout orderCompleted connect get onChange sync".split(" ");

export function cartNamespace(call) {
  const cart = {};
  for (const m of CART) cart[m] = (a, b) => call(m, a, b);
  return cart;
}

// The wasm class's methods a surface forwards (defined once, in Rust: src/web/api.rs), minus
// internals (`cartCall` is `cart.*`, above; `retire` hands the small core over to the full
// build, js/src/loader.js) and what that surface also `hide`s. One filter for the loader and
// the npm entry. The small core has no `cartCall`: the loader adds `cart.*` itself.
export const wasmMethods = (proto, hide = []) =>
  Object.getOwnPropertyNames(proto).filter((m) => m !== "constructor" && m !== "cartCall" && m !== "retire" && !m.startsWith("__") && !hide.includes(m));
