// The demo: the reference collector + the demo shop (script-tag SDK) + a scripted customer
// journey in headless Chromium, then a report of what the collector received.
//   node tests/demo/journey.mjs [--serve] [--site-port N] [--collector-port N]
// With --serve, the collector, the shop and the journey viewer stay up until Ctrl-C.
import { startCollector, startSite, launchBrowser, openPage, waitFor, strictCsp } from "../e2e/harness.mjs";

const args = process.argv.slice(2);
const serve = args.includes("--serve");
const portArg = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };

const collector = await startCollector({ extraArgs: [] });
// The shop runs under a strict Content-Security-Policy with Trusted Types, like a careful site.
const site = await startSite({
  port: portArg("--site-port", serve ? 8080 : 0),
  config: { writeKey: "demo", endpoint: collector.url },
  csp: strictCsp(collector.url),
});
console.log(`collector   ${collector.url}   (journey viewer: ${collector.url}/journeys)`);
console.log(`shop        ${site.url}/`);

const browser = await launchBrowser();
const ctx = await browser.newContext();
// Violations from every page of the journey.
const violations = [];
await ctx.exposeFunction("__reportViolation", (v) => violations.push(v));
await ctx.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) => window.__reportViolation(`${e.violatedDirective} ${e.blockedURI}`));
});
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
await page.click("#login button");
await page.click("#order");
await page.evaluate(() => omnitrail.flush());
await tab2.evaluate(() => omnitrail.flush());
const journeyMs = Date.now() - t0;

// page x4 (one in the second tab), Product Viewed, Product Added, identify, Checkout Started,
// Order Completed
const expected = 9;
const messages = await waitFor(async () => {
  const m = await collector.messages();
  return m.length >= expected && m;
}, `${expected} messages at the collector`);
await browser.close();

const count = (key) => messages.reduce((acc, m) => ((acc[key(m)] = (acc[key(m)] ?? 0) + 1), acc), {});
const stats = await collector.stats();
console.log(`\njourney: 3 pages, a product view, add to cart, sign-in, order — ${journeyMs} ms in headless Chromium`);
console.log(`cart: added in tab 1, tab 2's badge showed it ${badgeMs} ms later (BroadcastChannel; no reload)`);
console.log(`CSP: script-src 'self' 'wasm-unsafe-eval' + hashes, Trusted Types enforced — ${violations.length} violations`);
console.log(`collector received ${stats.received} messages in ${stats.requests} requests (${stats.stored} stored, ${stats.duplicates} duplicates)`);
console.log("\nby type: ", count((m) => m.type));
console.log("by event:", count((m) => m.event ?? m.name ?? `(${m.type})`));
const people = new Set(messages.map((m) => m.anonymousId));
console.log(`people:   ${people.size} anonymousId, userId ${[...new Set(messages.map((m) => m.userId).filter(Boolean))].join(", ")}`);
console.log("\nexample message (Order Completed):");
console.log(JSON.stringify(messages.find((m) => m.event === "Order Completed"), null, 2));

if (serve) {
  console.log(`\nserving — open ${site.url}/ and watch ${collector.url}/journeys; Ctrl-C to stop`);
  const stop = async () => { await site.stop(); await collector.stop(); process.exit(0); };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} else {
  await site.stop();
  await collector.stop();
}
