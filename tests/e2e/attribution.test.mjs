// Touchpoints and attribution in real Chromium: automatic and SPA page views, context.campaign,
// channel classification, redaction, the journey across sessions and on conversions, and
// declarative tracking.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";

let collector, site, shortSessions, browser;

before(async () => {
  collector = await startCollector();
  const base = { writeKey: "demo", endpoint: collector.url, flushInterval: 100, outboundLinks: true };
  site = await startSite({ config: base });
  shortSessions = await startSite({ config: { ...base, sessionTimeout: 1500 } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await shortSessions?.stop();
  await collector?.stop();
});
beforeEach(async () => {
  await collector.reset();
});

const msgs = () => collector.messages();
const pages = async () => (await msgs()).filter((m) => m.type === "page");

test("one automatic page view when the page does not call page(), none extra when it does", async () => {
  const ctx = await browser.newContext();
  const about = await openPage(ctx, site.url + "/about.html");
  await about.evaluate(() => omnitrail.flush());
  const home = await openPage(ctx, site.url + "/");
  await home.evaluate(() => omnitrail.flush());
  const pv = await waitFor(async () => { const p = await pages(); return p.length >= 2 && p; }, "2 page views");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual((await pages()).map((p) => p.context.page.path).sort(), ["/", "/about.html"]);
  assert.equal(pv.length, 2);
  await ctx.close();
});

test("campaign parameters become context.campaign and a touchpoint; sensitive parameters never leave the page", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/?utm_source=Newsletter&UTM_MEDIUM=email&utm_campaign=winter%20sale&gclid=abc&email=ada%40example.com&token=s3cret");
  await page.evaluate(() => { omnitrail.track("Browsed"); return omnitrail.flush(); });
  const all = await waitFor(async () => { const m = await msgs(); return m.some((x) => x.event === "Browsed") && m; }, "events");
  const text = JSON.stringify(all);
  assert.ok(!text.includes("ada%40example.com") && !text.includes("s3cret"), "redacted everywhere");
  const t = all.find((m) => m.event === "Browsed");
  assert.deepEqual(t.context.campaign, { source: "Newsletter", medium: "email", name: "winter sale", gclid: "abc" });
  // As in GA4, Google Ads auto-tagging (gclid: google / cpc) outranks manual utm_* tags
  // (docs/channels.md); before the table followed GA4 the utm_medium won ("email").
  assert.equal(t.context.omnitrail.touch.channel, "paid_search");
  assert.ok(!t.context.page.search.includes("email="));
  await ctx.close();
});

test("the referrer decides the channel of a visit without campaign data", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(site.url + "/about.html", { referer: "https://www.google.co.uk/" });
  await page.evaluate(() => window.omnitrail.ready.then(() => omnitrail.flush()));
  const pv = await waitFor(async () => (await pages())[0], "page view");
  assert.equal(pv.context.omnitrail.touch.channel, "organic_search");
  assert.equal(pv.context.omnitrail.touch.referrerHost, "www.google.co.uk");
  await ctx.close();
});

test("SPA route changes send page views with the previous in-app URL as referrer, de-duplicated", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await page.evaluate(async () => {
    const tick = () => new Promise((r) => setTimeout(r, 20));
    history.pushState({}, "", "/products/tee"); document.title = "Tee"; await tick();
    history.pushState({}, "", "/products/tee"); await tick();          // same URL: no page view
    history.replaceState({ x: 1 }, "", "/products/tee"); await tick(); // state only: none either
    history.pushState({}, "", "/cart"); document.title = "Cart"; await tick();
    history.back(); await tick(); await tick();                          // popstate to /products/tee
    return omnitrail.flush();
  });
  const pv = await waitFor(async () => { const p = await pages(); return p.length >= 4 && p; }, "4 page views");
  await new Promise((r) => setTimeout(r, 300));
  const seen = (await pages()).map((p) => [p.context.page.path, new URL(p.context.page.referrer || "http://x/").pathname]);
  assert.deepEqual(seen, [["/", "/"], ["/products/tee", "/"], ["/cart", "/products/tee"], ["/products/tee", "/cart"]]);
  assert.equal(pv[1].properties.title, "Tee");
  await ctx.close();
});

test("an event tracked in the same task as history.pushState carries its own page and is stored after that page's view", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await page.evaluate(() => omnitrail.flush());
  await collector.reset();
  await page.evaluate(() => {
    // What a router does: change the URL, then the new route's code tracks, in one task.
    history.pushState({}, "", "/products/tee");
    omnitrail.track("Product Viewed", { product_id: "tee" });
    omnitrail.cart.add({ product_id: "tee", price: 19 });
    // An app that calls page() itself on a route gets no automatic page view besides it.
    history.pushState({}, "", "/cart");
    omnitrail.page("Cart");
    omnitrail.track("Cart Viewed");
    return omnitrail.flush();
  });
  await page.evaluate(() => new Promise((r) => setTimeout(r, 100)).then(() => omnitrail.flush()));
  const got = await waitFor(async () => { const m = await msgs(); return m.length >= 5 && m; }, "5 messages");
  await new Promise((r) => setTimeout(r, 300));
  const seen = (await msgs()).map((m) => [m.type, m.event ?? m.name ?? null, m.context.page.path]);
  assert.deepEqual(seen, [
    ["page", null, "/products/tee"], ["track", "Product Viewed", "/products/tee"], ["track", "Product Added", "/products/tee"],
    ["page", "Cart", "/cart"], ["track", "Cart Viewed", "/cart"],
  ]);
  assert.equal(new URL(got[0].context.page.referrer).pathname, "/", "the previous in-app URL is the referrer");
  await ctx.close();
});

test("the journey persists across sessions and conversions carry it", async () => {
  const ctx = await browser.newContext();
  const p1 = await openPage(ctx, shortSessions.url + "/?utm_source=newsletter&utm_medium=email&utm_campaign=winter");
  await p1.evaluate(() => omnitrail.flush());
  await new Promise((r) => setTimeout(r, 1800)); // the session times out
  const p2 = await openPage(ctx, shortSessions.url + "/checkout.html");
  await p2.evaluate(() => { omnitrail.track("Order Completed", { order_id: "o-9", total: 19, currency: "EUR" }); return omnitrail.flush(); });
  const order = await waitFor(async () => (await msgs()).find((m) => m.event === "Order Completed"), "the order");
  const j = order.context.omnitrail.journey;
  assert.equal(j.touchCount, 2);
  assert.equal(j.first.channel, "email");
  assert.equal(j.lastNonDirect.channel, "email");
  assert.deepEqual(j.touches.map((t) => t.channel), ["email", "direct"]);
  assert.equal(order.context.omnitrail.touch.channel, "direct");
  const other = (await msgs()).filter((m) => m.event !== "Order Completed");
  assert.ok(other.every((m) => !m.context.omnitrail?.journey), "only conversions carry the journey");
  await ctx.close();
});

test("data-ot-event elements and outbound links are tracked without any JavaScript", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/about.html");
  await page.click("#newsletter");
  await page.click("#send");
  await page.evaluate(() => { document.getElementById("partner").addEventListener("click", (e) => e.preventDefault()); });
  await page.click("#partner");
  await page.evaluate(() => omnitrail.flush());
  const got = await waitFor(async () => { const m = (await msgs()).filter((x) => x.type === "track"); return m.length >= 3 && m; }, "3 events");
  const by = Object.fromEntries(got.map((m) => [m.event, m.properties]));
  assert.deepEqual(by["Newsletter Signup Clicked"], { list: "weekly", placement: "about-page" });
  assert.deepEqual(by["Contact Form Submitted"], { topic: "sizes" });
  assert.deepEqual(by["Outbound Link Clicked"], { url: "https://partner.example/deal", text: "Our partner" });
  await ctx.close();
});
