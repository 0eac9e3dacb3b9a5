// `omnitrail.cart.*`: the wasm class's `cart*` methods under a namespace (`cartAdd` →
// `cart.add`), derived from the class so it never lags behind src/web/cart_api.rs. Shared by
// the script-tag loader and the npm entry; adapts only.
export function cartNamespace(methods, call) {
  const cart = {};
  for (const m of methods) {
    if (/^cart[A-Z]/.test(m)) cart[m[4].toLowerCase() + m.slice(5)] = (...args) => call(m, args);
  }
  return cart;
}
