// examples/hybrid in real Chromium, inside the simulated native shell (examples/hybrid/
// shell.mjs) for each bridge the SDK detects: the app and its web views share identity,
// session, consent and the cart both ways, and with `nativeEvents` the app delivers the events.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startCollector, startSite, launchBrowser, waitFor, ROOT } from "./harness.mjs";
import { NativeShell } from "../../examples/hybrid/shell.mjs";

let collector, site, routed, browser;
const figures = {};

before(async () => {
  collector = await startCollector();
  const root = join(ROOT, "examples/hybrid");
  site = await startSite({ root, config: { writeKey: "demo", endpoint: collector.url, flushInterval: 100 } });
  routed = await startSite({ root, config: { writeKey: "demo", endpoint: collector.url, flushInterval: 100, nativeEvents: true } });
  browser = await launchBrowser();
});
after(async () => {
  console.log("hybrid figures:", JSON.stringify(figures));
  await browser?.close();
  await site?.stop();
  await routed?.stop();
  await collector?.stop();
});
beforeEach(async () => {
  await collector.reset();
});

for (const platform of ["ios", "android", "react-native", "capacitor"]) {
  test(`${platform}: identity, session, consent and cart are shared both ways`, async () => {
    const now = Date.now();
    const app = new NativeShell({
      platform,
      state: {
        anonymousId: `app-aid-${platform}`, userId: "u-1", sessionId: now - 120_000, lastActivity: now - 5_000,
        consent: { analytics: true, marketing: false },
      },
    });
    const ctx = await browser.newContext();
    const t0 = Date.now();
    const view = await app.openWebView(ctx, site.url + `/?view=${platform}`);
    figures[`${platform}ReadyMs`] = Date.now() - t0;
    // App → web at start: identity, consent, session.
    assert.deepEqual(await view.evaluate(() => omnitrail.user()), { anonymousId: `app-aid-${platform}`, userId: "u-1", groupId: null });
    assert.equal(await view.evaluate(() => omnitrail.consent.get().marketing), false);
    await view.evaluate(() => omnitrail.flush());
    const pageView = await waitFor(async () => (await collector.messages()).find((m) => m.type === "page" && m.context.page.search === `?view=${platform}`), "the page view");
    assert.equal(pageView.anonymousId, `app-aid-${platform}`);
    assert.equal(pageView.context.sessionId, now - 120_000, "the app's session continues in the web view");

    // Web → app: cart and consent changes made in the web view.
    await view.click("#add");
    const cartMsg = await waitFor(() => app.of("cart").at(-1), "the cart message");
    assert.equal(typeof cartMsg.state, "string");
    await view.click("#marketing");
    await waitFor(() => app.state.consent?.marketing === true, "the consent message");
    assert.equal(app.state.consent.analytics, true);
    await view.evaluate(() => omnitrail.identify("u-1", { plan: "pro" }));
    await waitFor(() => app.of("identity").length === 1, "the identity message");
    assert.deepEqual(app.of("identity")[0], { omnitrail: 1, type: "identity", anonymousId: `app-aid-${platform}`, userId: "u-1" });
    assert.equal(app.of("session").length, 0, "the app's own session continued: nothing new to tell");

    // The app opens another screen in a fresh web view: it starts with the app's state.
    const other = await browser.newContext();
    const second = await app.openWebView(other, site.url + "/");
    assert.equal(await second.evaluate(() => omnitrail.cart.get().quantity), 1, "the cart reached a new web view");
    assert.equal(await second.evaluate(() => omnitrail.user().anonymousId), `app-aid-${platform}`);
    assert.equal(await second.evaluate(() => document.getElementById("cart-count").textContent), "1");

    // App → web at runtime: the second web view's change, and a consent choice made natively.
    await second.click("#add");
    await waitFor(() => app.state.cart !== cartMsg.state && app.state.cart, "the second view's cart");
    await view.evaluate(() => { window.__consent = []; omnitrail.consent.onChange((p) => window.__consent.push(p)); });
    assert.equal(await app.send(view, { type: "cart", state: app.state.cart }), true);
    await waitFor(async () => (await view.evaluate(() => document.getElementById("cart-count").textContent)) === "2", "badge of the first view");
    assert.equal(await app.send(view, { type: "consent", preferences: { analytics: false } }), true);
    assert.equal(await view.evaluate(() => omnitrail.consent.get().analytics), false);
    assert.equal(await view.evaluate(() => window.__consent.length), 1, "onChange heard the app's choice");
    assert.equal(await app.send(view, { type: "identity", anonymousId: "x" }), true);
    assert.equal(await app.send(view, { type: "teleport" }), false);
    assert.equal(await view.evaluate(() => omnitrailReceive("not json")), false);
    assert.deepEqual([...view.logs, ...second.logs].filter((l) => l.startsWith("pageerror")), []);
    await ctx.close();
    await other.close();
  });
}

test("nativeEvents: the web view hands its batches to the app, which delivers them", async () => {
  const app = new NativeShell({ platform: "ios", collector: collector.url });
  const ctx = await browser.newContext();
  const direct = [];
  ctx.on("request", (r) => { if (r.url().startsWith(collector.url)) direct.push(r.url()); });
  const view = await app.openWebView(ctx, routed.url + "/");
  await view.evaluate(() => { for (let i = 0; i < 25; i++) omnitrail.track("Routed", { i }); return omnitrail.flush(); });
  await waitFor(() => app.delivered >= 26, "26 events delivered by the app");
  // The app had no session: the web view started one and told the app.
  const [session] = app.of("session");
  assert.ok(session.sessionId > 0 && session.lastActivity >= session.sessionId);
  assert.equal(app.state.sessionId, session.sessionId);
  const batches = app.of("batch");
  assert.ok(batches.length >= 1);
  assert.equal(batches[0].body.writeKey, "demo");
  assert.deepEqual(direct, [], "the web view itself sent nothing to the collector");
  const stored = await collector.messages();
  assert.equal(stored.filter((m) => m.event === "Routed").length, 25);
  assert.equal((await view.evaluate(() => omnitrail.stats())).delivered, 26);
  figures.routedBatches = batches.length;
  // Without a bridge (a plain browser) the same config delivers over HTTP.
  const plain = await browser.newContext();
  const page = await plain.newPage();
  await page.goto(routed.url + "/");
  await page.evaluate(() => window.omnitrail.ready);
  await page.evaluate(() => { omnitrail.track("Plain"); return omnitrail.flush(); });
  await waitFor(async () => (await collector.messages()).some((m) => m.event === "Plain"), "delivered over HTTP");
  await ctx.close();
  await plain.close();
});
