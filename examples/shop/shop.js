// The demo storefront's own code: it only calls the public omnitrail API.
const CATALOG = {
  "tee-blue": { product_id: "tee-blue", name: "Blue tee", price: 19, currency: "EUR" },
  "mug-red": { product_id: "mug-red", name: "Red mug", price: 9.5, currency: "EUR" },
};
const cart = JSON.parse(sessionStorage.getItem("demo-cart") || "[]");
const $ = (id) => document.getElementById(id);
const render = () => { if ($("cart-count")) $("cart-count").textContent = String(cart.length); };
render();

const id = new URLSearchParams(location.search).get("id");
if ($("add") && CATALOG[id]) {
  const p = CATALOG[id];
  $("name").textContent = p.name;
  $("price").textContent = `€${p.price.toFixed(2)}`;
  omnitrail.track("Product Viewed", p);
  $("add").addEventListener("click", () => {
    cart.push(p);
    sessionStorage.setItem("demo-cart", JSON.stringify(cart));
    omnitrail.track("Product Added", { ...p, quantity: 1 });
    render();
  });
}
if ($("login")) {
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    omnitrail.identify("user-" + $("email").value.split("@")[0], { email: $("email").value });
    $("status").textContent = "Signed in";
  });
  $("order").addEventListener("click", () => {
    const total = cart.reduce((s, p) => s + p.price, 0);
    omnitrail.track("Order Completed", { order_id: "o-" + Date.now(), total, revenue: total, currency: "EUR", products: cart });
    cart.length = 0;
    sessionStorage.removeItem("demo-cart");
    $("status").textContent = "Thank you!";
    render();
  });
}
