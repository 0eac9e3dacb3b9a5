// A client-side-routed app: links change the URL with history.pushState, the back button
// fires popstate, and every route change renders a view and sends a named page view.
import { Omnitrail } from "omnitrail";
import { render, routeOf } from "./routes.js";

const config = window.OMNITRAIL_CONFIG ?? { writeKey: "demo", endpoint: "http://127.0.0.1:8787" };

// The app names its page views itself (category, name, properties), so it turns off the SDK's
// automatic ones: the one at start-up and the one on each history.pushState / popstate.
const analytics = Omnitrail.load({
  writeKey: config.writeKey, endpoint: config.endpoint, flushInterval: 200,
  autoPage: false, spaPageViews: false,
}).catch((e) => {
  // The SDK failed to load (e.g. the wasm is not served): the app keeps working without it.
  console.warn("omnitrail did not load", e);
  return null;
});

async function show() {
  const route = routeOf(location.pathname);
  document.title = `${route.title} · Omnitrail SPA`;
  render(document.getElementById("view"), route);
  for (const a of document.querySelectorAll("nav a")) {
    if (a.pathname === location.pathname) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const ot = await analytics;
  // page([category], [name], [properties]): url, path, title and referrer are read by the SDK.
  ot?.page(route.category, route.title, route.properties);
}

document.addEventListener("click", (e) => {
  const a = e.target instanceof Element ? e.target.closest("a[data-link]") : null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  if (a.pathname + a.search !== location.pathname + location.search) {
    history.pushState(null, "", a.href);
    show();
  }
});
window.addEventListener("popstate", show);

document.addEventListener("click", async (e) => {
  const button = e.target instanceof Element ? e.target.closest("button[data-product]") : null;
  if (!button) return;
  const ot = await analytics;
  ot?.track("Product Added", { product_id: button.dataset.product, quantity: 1 });
});

window.app = { analytics }; // for the e2e test and the console
show();
