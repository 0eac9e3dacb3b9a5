// `omnitrail.cart.*`: the wasm class's one cart method, `cartCall(name, a, b)`
// (src/web/cart_api.rs), under a namespace: `cart.add(a, b)` is `cartCall("add", a, b)`.
// The names are listed here, not asked of the wasm, because the inert server-side instance
// (index.js) has no wasm and still answers them; CartOp::parse accepts exactly these
// (tests/e2e/packaging.test.mjs checks both against index.d.ts). Shared by the script-tag
// loader and the npm entry; adapts only.
export const CART = "add remove setQuantity update applyCoupon removeCoupon setCurrency clear view checkout orderCompleted connect get onChange sync".split(" ");

export function cartNamespace(call) {
  const cart = {};
  for (const m of CART) cart[m] = (a, b) => call(m, a, b);
  return cart;
}
