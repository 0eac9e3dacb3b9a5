// The demo storefront's own code: it only calls the public omnitrail API. The cart is the
// SDK's shared cart: the same in every tab, after a reload, and (once signed in) on every
// device; the badge re-renders on every change, wherever it was made.
const CATALOG = {
  "tee-blue": { product_id: "tee-blue", name: "Blue tee", price: 19, currency: "EUR", category: "Tops" },
  "mug-red": { product_id: "mug-red", name: "Red mug", price: 9.5, currency: "EUR", category: "Kitchen" },
};
const $ = (id) => document.getElementById(id);
const render = (cart) => { if ($("cart-count") && cart) $("cart-count").textContent = String(cart.quantity); };
omnitrail.cart.onChange(render); // queued by the snippet until the SDK has loaded
omnitrail.ready.then((sdk) => render(sdk.cart.get()));

const id = new URLSearchParams(location.search).get("id");
if ($("add") && CATALOG[id]) {
  const p = CATALOG[id];
  $("name").textContent = p.name;
  $("price").textContent = `€${p.price.toFixed(2)}`;
  omnitrail.track("Product Viewed", p);
  $("add").addEventListener("click", () => omnitrail.cart.add(p)); // sends Product Added
}
if ($("login")) {
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    const user = "user-" + $("email").value.split("@")[0];
    omnitrail.identify(user, { email: $("email").value });
    $("status").textContent = "Signed in";
    // The backend signs the user's cart token; with it the cart follows them across devices.
    fetch("/cart-token?user=" + encodeURIComponent(user))
      .then((r) => (r.ok ? r.json() : null))
      .then((t) => t && omnitrail.cart.connect(t.token))
      .catch(() => {});
  });
  $("order").addEventListener("click", () => {
    omnitrail.cart.checkout();
    omnitrail.cart.orderCompleted({ order_id: "o-" + Date.now() }); // sends Order Completed, empties the cart
    $("status").textContent = "Thank you!";
  });
}
