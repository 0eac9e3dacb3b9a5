// The web view's own code: only the public omnitrail API. What the app knows (identity,
// session, consent, cart) arrives through the bridge without any code here.
const $ = (id) => document.getElementById(id);
omnitrail.cart.onChange((cart) => { $("cart-count").textContent = String(cart.quantity); });
omnitrail.ready.then((sdk) => {
  $("cart-count").textContent = String(sdk.cart.get().quantity);
  $("who").textContent = sdk.user().userId || "guest";
});
omnitrail.page("Product", "Blue tee");
$("add").addEventListener("click", () => {
  omnitrail.cart.add({ product_id: "tee-blue", name: "Blue tee", price: 19, currency: "EUR" });
});
$("marketing").addEventListener("click", () => omnitrail.consent.set({ marketing: true }));
