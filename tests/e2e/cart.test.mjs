// The shared cart in real Chromium: tabs see each other's changes without a reload, concurrent
// adds both count, the cart survives a reload and a browser restart, two "devices" (browser
// contexts) signed in as one customer converge through the collector's cart endpoint, a guest
// cart merges into the customer's on login, and the native bridge exchanges the cart both ways.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startCollector, startSite, launchBrowser, openPage, waitFor, CHROMIUM_FLAGS } from "./harness.mjs";

const SECRET = "e2e-cart-secret";
const token = (userId) => createHmac("sha256", SECRET).update(`demo:${userId}`).digest("hex");
let collector, site, browser;
const figures = {};

before(async () => {
  collector = await startCollector({ extraArgs: ["--cart-secret", SECRET] });
  site = await startSite({ config: { writeKey: "demo", endpoint: collector.url, flushInterval: 100, cart: { syncDelay: 200 } } });
  browser = await launchBrowser();
});
after(async () => {
  console.log("cart figures:", JSON.stringify(figures));
  await browser?.close();
  await site?.stop();
  await collector?.stop();
});
beforeEach(async () => {
  await collector.reset();
});

const TEE = { product_id: "tee-blue", variant: "M", name: "Blue tee", price: 19, currency: "EUR", sku: "T-1" };
const MUG = { product_id: "mug-red", name: "Red mug", price: 9.5, currency: "EUR" };
const qty = (page, id = "tee-blue", variant = "M") =>
  page.evaluate(([id, variant]) => omnitrail.cart.get().products.find((p) => p.product_id === id && (p.variant ?? "") === variant)?.quantity ?? 0, [id, variant]);
const events = async (name) => (await collector.messages()).filter((m) => m.event === name);

test("a change in one tab shows in another at once; concurrent adds from two tabs both count", async () => {
  const ctx = await browser.newContext();
  const a = await openPage(ctx, site.url + "/");
  const b = await openPage(ctx, site.url + "/product.html?id=mug-red");
  await b.evaluate(() => { window.__seen = []; omnitrail.cart.onChange((c) => window.__seen.push([performance.timeOrigin + performance.now(), c.quantity])); });
  const t0 = await a.evaluate((p) => { omnitrail.cart.add(p); return performance.timeOrigin + performance.now(); }, TEE);
  await waitFor(async () => (await b.evaluate(() => window.__seen.length)) > 0, "tab B's onChange");
  const [[t1, n]] = await b.evaluate(() => window.__seen);
  assert.equal(n, 1);
  figures.tabLatencyMs = Math.round((t1 - t0) * 10) / 10; // add in A → onChange in B (wall clock of both)
  assert.equal(await qty(b), 1, "visible in tab B without a reload");
  // The shop's cart badge re-rendered in both tabs (its own onChange listener).
  for (const [tab, name] of [[a, "A"], [b, "B"]]) {
    await waitFor(async () => (await tab.evaluate(() => document.getElementById("cart-count").textContent)) === "1", `tab ${name} badge`);
  }

  // Both tabs add the same line at the same moment: 1 + 1 + 1.
  await Promise.all([a.evaluate((p) => omnitrail.cart.add(p), TEE), b.evaluate((p) => omnitrail.cart.add(p), TEE)]);
  await waitFor(async () => (await qty(a)) === 3 && (await qty(b)) === 3, "both tabs at 3");
  // A removal in B removes what B saw; a set-quantity wins everywhere.
  await b.evaluate(() => omnitrail.cart.setQuantity({ product_id: "tee-blue", variant: "M" }, 5));
  await waitFor(async () => (await qty(a)) === 5, "set-quantity reached tab A");

  await Promise.all([a.evaluate(() => omnitrail.flush()), b.evaluate(() => omnitrail.flush())]);
  const added = await waitFor(async () => { const e = await events("Product Added"); return e.length === 4 && e; }, "4 Product Added");
  assert.deepEqual(added.map((m) => m.properties.quantity).sort(), [1, 1, 1, 2], "3 adds + the set-quantity's difference, never a replay of the other tab's");
  const p = added[0].properties;
  assert.equal(p.product_id, "tee-blue");
  assert.equal(p.sku, "T-1");
  assert.equal(p.price, 19);
  assert.ok(p.cart_id, "cart_id");
  assert.equal(new Set(added.map((m) => m.properties.cart_id)).size, 1, "one cart id for both tabs");
  // What the snippet queued before the SDK loaded replays under its queued names.
  await a.evaluate((p) => { omnitrail.sdk.replay("cartAdd", [p, 2], Date.now()); omnitrail.sdk.replay("cartRemove", ["mug-red", 1], Date.now()); }, MUG);
  await waitFor(async () => (await qty(b, "mug-red", "")) === 1, "replayed cartAdd/cartRemove reached tab B");
  await ctx.close();
});

test("the cart survives a reload and a browser restart; a corrupt stored cart is replaced with one warning", async () => {
  const profile = mkdtempSync(join(tmpdir(), "ot-cart-"));
  const launch = () => chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", args: CHROMIUM_FLAGS });
  try {
    let ctx = await launch();
    let page = await openPage(ctx, site.url + "/");
    await page.evaluate(([t, m]) => { omnitrail.cart.add(t, 2); omnitrail.cart.add(m); omnitrail.cart.applyCoupon("SPRING"); }, [TEE, MUG]);
    await page.reload();
    await page.evaluate(() => window.omnitrail.ready);
    assert.equal(await qty(page), 2, "after a reload");
    await ctx.close();
    ctx = await launch();
    page = await openPage(ctx, site.url + "/checkout.html");
    const cart = await page.evaluate(() => omnitrail.cart.get());
    assert.deepEqual(cart.products.map((p) => [p.product_id, p.quantity]).sort(), [["mug-red", 1], ["tee-blue", 2]], "after a browser restart");
    assert.equal(cart.coupon, "SPRING");
    assert.equal(cart.value, 47.5);
    assert.equal(await page.evaluate(() => document.getElementById("cart-count").textContent), "3", "the badge rendered from cart.get()");
    // Corrupt state: replaced by an empty cart, reported once, the page keeps working.
    await page.evaluate(() => localStorage.setItem("ot1.c1", "C1\tgarbage"));
    await page.reload();
    await page.evaluate(() => window.omnitrail.ready);
    await waitFor(() => page.logs.some((l) => l.includes("stored cart was corrupt")), "the warning");
    assert.equal(page.logs.filter((l) => l.includes("stored cart was corrupt")).length, 1);
    assert.deepEqual(await page.evaluate(() => omnitrail.cart.get().products), []);
    await page.evaluate((p) => omnitrail.cart.add(p), MUG);
    assert.equal(await qty(page, "mug-red", ""), 1);
    assert.deepEqual(page.logs.filter((l) => l.startsWith("pageerror")), []);
    await ctx.close();
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});

test("two devices signed in as one customer converge through the collector; the guest cart merges on login", async () => {
  const phone = await browser.newContext();
  const laptop = await browser.newContext();
  const p = await openPage(phone, site.url + "/");
  const l = await openPage(laptop, site.url + "/");
  // The laptop's saved cart: signed in, a mug.
  await l.evaluate(([m, tok]) => { omnitrail.identify("user-42"); omnitrail.cart.connect(tok); omnitrail.cart.add(m); }, [MUG, token("user-42")]);
  assert.equal(await l.evaluate(() => omnitrail.cart.sync()), true);
  // The phone shops as a guest, then signs in: its tee merges into the saved cart.
  await p.evaluate((t) => omnitrail.cart.add(t), TEE);
  const t0 = Date.now();
  await p.evaluate((tok) => { omnitrail.identify("user-42"); omnitrail.cart.connect(tok); }, token("user-42"));
  await waitFor(async () => (await qty(p, "mug-red", "")) === 1, "the saved mug on the phone");
  figures.loginMergeMs = Date.now() - t0;
  assert.equal(await qty(p), 1, "the guest's tee is still there");
  // The laptop pulls (as when its page becomes visible again).
  assert.equal(await l.evaluate(() => omnitrail.cart.sync()), true);
  assert.equal(await qty(l), 1, "the phone's tee reached the laptop");
  // Concurrent adds of the same line on both devices both count.
  await Promise.all([p.evaluate((m) => omnitrail.cart.add(m), MUG), l.evaluate((m) => omnitrail.cart.add(m), MUG)]);
  assert.deepEqual(await Promise.all([p.evaluate(() => omnitrail.cart.sync()), l.evaluate(() => omnitrail.cart.sync())]), [true, true]);
  // Each answer held what the collector had then: one more exchange each sees both adds.
  assert.deepEqual(await Promise.all([p.evaluate(() => omnitrail.cart.sync()), l.evaluate(() => omnitrail.cart.sync())]), [true, true]);
  assert.equal(await qty(p, "mug-red", ""), 3);
  assert.equal(await qty(l, "mug-red", ""), 3);
  // The collector holds the same cart.
  const r = await fetch(`${collector.url}/v1/cart/user-42?writeKey=demo`, { headers: { "X-Omnitrail-Cart-Token": token("user-42") } });
  const saved = (await r.json()).cart;
  assert.deepEqual(saved.products.map((x) => [x.product_id, x.quantity]).sort(), [["mug-red", 3], ["tee-blue", 1]]);
  const stats = await l.evaluate(() => omnitrail.stats());
  figures.laptopSync = { requests: stats.cartSyncRequests, merged: stats.cartSyncMerged, failures: stats.cartSyncFailures };
  // Merges from the other device emitted nothing: 4 local adds in all.
  await Promise.all([p.evaluate(() => omnitrail.flush()), l.evaluate(() => omnitrail.flush())]);
  await waitFor(async () => (await events("Product Added")).length >= 4, "the adds");
  assert.equal((await events("Product Added")).length, 4);
  // A wrong token is refused and named; the page is unaffected.
  await p.evaluate(() => omnitrail.cart.connect("0".repeat(64)));
  await waitFor(() => p.logs.some((l) => l.includes("refused the cart token")), "the refusal warning");
  // Logging out empties this browser's cart, not the saved one.
  await p.evaluate(() => omnitrail.reset());
  assert.deepEqual(await p.evaluate(() => omnitrail.cart.get().products), []);
  await phone.close();
  await laptop.close();
});

test("cart.sync() settles false on every kind of failed exchange, and true once one succeeds", async () => {
  // One answer callback serves each stage of a cart request (web/cart_runtime.rs): the fetch
  // rejected, a non-2xx answer, a 2xx whose body is not a cart, and a 2xx with the merged cart.
  const ctx = await browser.newContext();
  const p = await openPage(ctx, site.url + "/");
  await p.evaluate(([m, tok]) => { omnitrail.identify("user-7"); omnitrail.cart.connect(tok); omnitrail.cart.add(m); }, [MUG, token("user-7")]);
  assert.equal(await p.evaluate(() => omnitrail.cart.sync()), true);
  const before = await p.evaluate(() => omnitrail.stats());
  const answers = [
    (route) => route.abort("connectionrefused"),
    (route) => route.fulfill({ status: 503, headers: { "retry-after": "1", "access-control-allow-origin": "*" }, body: "busy" }),
    (route) => route.fulfill({ status: 200, headers: { "access-control-allow-origin": "*" }, body: "not a cart" }),
  ];
  // Bounded: a stage left unanswered would leave the promise pending forever.
  const sync = () => p.evaluate(() => Promise.race([omnitrail.cart.sync(), new Promise((r) => setTimeout(() => r("still pending"), 15000))]));
  for (const answer of answers) {
    await ctx.route("**/v1/cart/**", (route) => (route.request().method() === "PUT" ? answer(route) : route.continue()));
    assert.equal(await sync(), false);
    await ctx.unroute("**/v1/cart/**");
  }
  assert.equal(await p.evaluate(() => omnitrail.cart.sync()), true);
  const stats = await p.evaluate(() => omnitrail.stats());
  assert.equal(stats.cartSyncFailures - before.cartSyncFailures, 3);
  assert.equal(stats.cartSyncMerged - before.cartSyncMerged, 1);
  await ctx.close();
});

test("the native bridge: the app's cart reaches a new web view, and web view changes reach the app", async () => {
  const ctx = await browser.newContext();
  // A simulated iOS shell: WKWebView's message handler records what the web view posts.
  await ctx.addInitScript(() => {
    window.__posted = [];
    window.webkit = { messageHandlers: { omnitrail: { postMessage: (m) => window.__posted.push(JSON.parse(m)) } } };
  });
  const first = await openPage(ctx, site.url + "/");
  await first.evaluate((t) => omnitrail.cart.add(t), TEE);
  const msg = await waitFor(async () => (await first.evaluate(() => window.__posted.filter((m) => m.type === "cart"))).at(-1), "a cart message to the app");
  assert.equal(msg.omnitrail, 1);
  // The app opens another web view (fresh storage) and hands it the state it holds.
  const other = await browser.newContext();
  await other.addInitScript((state) => { window.omnitrailNative = { cart: state }; }, msg.state);
  const second = await openPage(other, site.url + "/");
  assert.equal(await qty(second), 1, "the app's cart at start");
  // The app changes the cart (another web view's state) and pushes it while this one runs.
  await first.evaluate((m) => omnitrail.cart.add(m), MUG);
  const next = await waitFor(async () => {
    const m = (await first.evaluate(() => window.__posted.filter((x) => x.type === "cart"))).at(-1);
    return m.state !== msg.state && m;
  }, "the updated state");
  const ok = await second.evaluate((m) => omnitrailReceive(JSON.stringify(m)), next);
  assert.equal(ok, true);
  assert.equal(await qty(second, "mug-red", ""), 1);
  assert.equal(await second.evaluate(() => omnitrailReceive('{"omnitrail":1,"type":"cart","state":"junk"}')), false);
  assert.ok(second.logs.some((l) => l.includes("native cart state is corrupt")));
  await ctx.close();
  await other.close();
});
