// The routes of the example: a path -> a view (title, page-view category and properties).
const PRODUCTS = { 42: "Trail Runner 42", 7: "Summit Pack 7" };

export function routeOf(path) {
  if (path === "/") return { title: "Home", category: "Pages", html: "<h1>Home</h1><p>Welcome.</p>" };
  if (path === "/products") {
    const items = Object.entries(PRODUCTS).map(([id, name]) => `<li><a href="/products/${id}" data-link>${name}</a></li>`);
    return { title: "Products", category: "Catalog", html: `<h1>Products</h1><ul>${items.join("")}</ul>` };
  }
  const m = path.match(/^\/products\/(\d+)$/);
  if (m && PRODUCTS[m[1]]) {
    return {
      title: PRODUCTS[m[1]], category: "Product", properties: { product_id: m[1] },
      html: `<h1>${PRODUCTS[m[1]]}</h1><button data-product="${m[1]}">Add to cart</button>`,
    };
  }
  if (path === "/about") return { title: "About", category: "Pages", html: "<h1>About</h1>" };
  return { title: "Not found", category: "Pages", html: "<h1>Not found</h1>" };
}

export function render(el, route) {
  el.innerHTML = route.html;
}
