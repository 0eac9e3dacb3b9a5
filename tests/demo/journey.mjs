// The demo: the reference collector + the demo shop (script-tag SDK) + a scripted customer
// journey in headless Chromium, then a report of what the collector received.
//   node tests/demo/journey.mjs [--serve] [--site-port N] [--collector-port N]
// With --serve, the collector, the shop and the journey viewer stay up until Ctrl-C.
import { randomBytes } from "node:crypto";
import { startCollector, startSite, launchBrowser, openPage, waitFor, strictCsp } from "../e2e/harness.mjs";

const args = process.argv.slice(2);
const serve = args.includes("--serve");
const portArg = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };

// The cart secret lets the collector keep each signed-in customer's cart (cart sync); the
// shop's "backend" (the site server's /cart-token) signs a token with it at sign-in.
const CART_SECRET = "demo-cart-secret";
// People's data (the journey viewer, its API, /metrics) is served only with an admin token,
// never with the write key (public in every page): a fresh one per run.
const ADMIN_TOKEN = randomBytes(18).toString("base64url");
const collector = await startCollector({ extraArgs: ["--cart-secret", CART_SECRET, "--admin-token", ADMIN_TOKEN] });
// The shop runs under a strict Content-Security-Policy with Trusted Types, like a careful site.
const site = await startSite({
  port: portArg("--site-port", serve ? 8080 : 0),
  config: { writeKey: "demo", endpoint: collector.url },
  csp: strictCsp(collector.url),
  cartSecret: CART_SECRET,
});
console.log(`collector   ${collector.url}   (journey viewer: ${collector.url}/journeys — user "admin", password ${ADMIN_TOKEN})`);
console.log(`shop        ${site.url}/`);

const browser = await launchBrowser();
// Two devices: a phone and a laptop (separate browser contexts: no shared storage or cookies).
const violations = [];
async function device() {
  const c = await browser.newContext();
  // Violations from every page of the journey.
  await c.exposeFunction("__reportViolation", (v) => violations.push(v));
  await c.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => window.__reportViolation(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return c;
}
const ctx = await device();
const t0 = Date.now();
const page = await openPage(ctx, `${site.url}/?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale`);
const sdkReady = () => page.waitForFunction(() => window.omnitrail && window.omnitrail.loaded);
await Promise.all([page.waitForURL("**/product.html?id=tee-blue"), page.click("text=Blue tee")]);
await sdkReady();
// A second tab of the shop is open: its cart badge follows the first tab's cart.
const tab2 = await openPage(ctx, `${site.url}/`);
const tAdd = Date.now();
await page.click("#add");
await tab2.waitForFunction(() => document.getElementById("cart-count").textContent === "1");
const badgeMs = Date.now() - tAdd;
await Promise.all([page.waitForURL("**/checkout.html"), page.click("#cart-link")]);
await sdkReady();
await page.click("#login button"); // signs in: the guest cart goes up to the collector
await page.waitForFunction(() => omnitrail.stats().cartSyncMerged > 0);
// Later, on the laptop: the customer signs in at checkout and finds the phone's cart there.
const laptop = await device();
const desk = await openPage(laptop, `${site.url}/checkout.html`);
const tLogin = Date.now();
await desk.click("#login button");
await desk.waitForFunction(() => document.getElementById("cart-count").textContent === "1");
const deviceMs = Date.now() - tLogin;
const laptopCart = await desk.evaluate(() => omnitrail.cart.get());
await desk.click("#order");
await Promise.all([page, tab2, desk].map((p) => p.evaluate(() => omnitrail.flush())));
const journeyMs = Date.now() - t0;

// phone: page x3 (+1 in its second tab), Product Viewed, Product Added, identify;
// laptop: page, identify, Checkout Started, Order Completed
const expected = 11;
const messages = await waitFor(async () => {
  const m = await collector.messages();
  return m.length >= expected && m;
}, `${expected} messages at the collector`);
await browser.close();

const count = (key) => messages.reduce((acc, m) => ((acc[key(m)] = (acc[key(m)] ?? 0) + 1), acc), {});
const stats = await collector.stats();
console.log(`\njourney: phone — 3 pages, a product view, add to cart, sign-in; laptop — sign-in, order — ${journeyMs} ms in headless Chromium`);
console.log(`cart: added in tab 1, tab 2's badge showed it ${badgeMs} ms later (BroadcastChannel; no reload)`);
console.log(`cart: on the laptop, sign-in → the phone's cart (${laptopCart.products.map((p) => `${p.quantity} × ${p.name}`).join(", ")}) in ${deviceMs} ms (collector cart sync)`);
console.log(`CSP: script-src 'self' 'wasm-unsafe-eval' + hashes, Trusted Types enforced — ${violations.length} violations`);
console.log(`collector received ${stats.received} messages in ${stats.requests} requests (${stats.stored} stored, ${stats.duplicates} duplicates)`);
console.log("\nby type: ", count((m) => m.type));
console.log("by event:", count((m) => m.event ?? m.name ?? `(${m.type})`));
const people = new Set(messages.map((m) => m.anonymousId));
console.log(`people:   ${people.size} anonymousId, userId ${[...new Set(messages.map((m) => m.userId).filter(Boolean))].join(", ")}`);
// What the marketer sees (admin API; the write key alone reads nothing): the customer's
// journey, the attribution report and the customer's profile.
const userId = messages.find((m) => m.userId)?.userId;
const admin = { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
const adminGet = async (path) => (await fetch(collector.url + path, admin)).json();
const refused = (await fetch(`${collector.url}/v1/journeys/${encodeURIComponent(userId)}`)).status;
const timeline = await adminGet(`/v1/journeys/${encodeURIComponent(userId)}`);
console.log(`\njourney of ${userId} across ${timeline.linkedIds.length} linked ids (without the admin token: HTTP ${refused}):`);
for (const e of [...timeline.entries].reverse()) {
  console.log(`  ${e.timestamp}  ${e.kind.padEnd(10)} ${e.title}${e.channel ? ` [${e.channel}]` : ""}`);
}
const report = await adminGet("/v1/reports/attribution");
console.log(`\nattribution (${report.conversions} conversions, revenue ${report.revenue}, ${report.lookbackDays}-day lookback):`);
console.log(`  ${"model".padEnd(16)} channel → conversions credited / revenue credited`);
for (const [model, rows] of Object.entries(report.models)) {
  console.log(`  ${model.padEnd(16)} ${rows.map((r) => `${r.channel} → ${r.conversions} / ${r.revenue}`).join(", ")}`);
}
const profile = await adminGet(`/v1/profiles/${encodeURIComponent(userId)}`);
console.log(`\nprofile of ${userId}: devices ${profile.ids.anonymousIds.length} (${profile.ids.anonymousIds.join(", ")}), ` +
  `traits ${JSON.stringify(profile.traits)}, consent ${JSON.stringify(profile.consent?.categoryPreferences)}`);
console.log(`  first touch ${profile.firstTouch?.channel}, last touch ${profile.lastTouch?.channel}; ${profile.sessions.length} sessions, ` +
  `${profile.orders.length} order(s) ${profile.orders.map((o) => `${o.orderId} ${o.revenue} ${o.currency}`).join(", ")}; ` +
  `cart kept by the collector: ${profile.cart ? profile.cart.cart.products.length + " line(s)" : "none"}`);
console.log("\nexample message (Order Completed):");
console.log(JSON.stringify(messages.find((m) => m.event === "Order Completed"), null, 2));

if (serve) {
  console.log(`\nserving — open ${site.url}/ and watch ${collector.url}/journeys, ${collector.url}/reports and ` +
    `${collector.url}/profiles?id=${encodeURIComponent(userId)} (user "admin", password ${ADMIN_TOKEN}); Ctrl-C to stop`);
  const stop = async () => { await site.stop(); await collector.stop(); process.exit(0); };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} else {
  await site.stop();
  await collector.stop();
}
