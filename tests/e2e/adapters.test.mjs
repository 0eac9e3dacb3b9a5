// The browser adapters in real Chromium: storage failures, corrupted state, the lease
// fallback without Web Locks, offline/online, non-2xx answers, hostile arguments, and the
// snippet's queue replay.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startCollector, startSite, launchBrowser, openPage, waitFor, idCounts } from "./harness.mjs";

let collector, site, browser;

before(async () => {
  collector = await startCollector();
  site = await startSite({ config: { writeKey: "demo", endpoint: collector.url, flushInterval: 200, retry: { baseMs: 200, maxMs: 2000 } } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await collector?.stop();
});
beforeEach(async () => {
  await collector.fault({ clear: true });
  await collector.reset();
});

const events = async (prefix) => (await collector.messages()).filter((m) => m.type === "track" && m.event.startsWith(prefix));
const trackN = (page, prefix, n) => page.evaluate(({ prefix, n }) => { for (let i = 0; i < n; i++) omnitrail.track(prefix + i, { i }); }, { prefix, n });
const errors = (page) => page.logs.filter((l) => l.startsWith("error") || l.startsWith("pageerror"));

test("a full localStorage degrades to memory: everything still arrives, nothing throws", async () => {
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    if (sessionStorage.getItem("filled")) return;
    sessionStorage.setItem("filled", "1");
    // Fill to the brim: big chunks first, then ever smaller ones.
    let i = 0;
    for (let size = 1 << 20; size >= 1; size >>= 1) {
      const chunk = "x".repeat(size);
      try { for (;;) localStorage.setItem("filler" + i++, chunk); } catch { /* next size */ }
    }
  });
  const page = await openPage(ctx, site.url + "/");
  await trackN(page, "Full ", 30);
  await waitFor(async () => (await events("Full ")).length === 30, "30 events");
  const s = await page.evaluate(() => omnitrail.stats());
  assert.ok(s.storageFailures >= 1, JSON.stringify(s));
  assert.deepEqual(errors(page), []);
  await ctx.close();
});

test("a localStorage that throws on every access: everything still arrives", async () => {
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    Object.defineProperty(window, "localStorage", { get() { throw new DOMException("denied", "SecurityError"); } });
  });
  const page = await openPage(ctx, site.url + "/");
  await trackN(page, "Denied ", 25);
  await waitFor(async () => (await events("Denied ")).length === 25, "25 events");
  assert.deepEqual(errors(page), []);
  await ctx.close();
});

test("corrupted persisted state: valid leftovers are delivered, corrupt lines dropped and counted", async () => {
  const ctx = await browser.newContext();
  const valid = JSON.stringify({ type: "track", event: "Leftover", messageId: "00000000-0000-4000-8000-00000000c0de",
    anonymousId: "anon-left", timestamp: "2026-01-01T00:00:00.000Z", properties: {}, context: {}, integrations: {} });
  await ctx.addInitScript((valid) => {
    if (sessionStorage.getItem("planted")) return;
    sessionStorage.setItem("planted", "1");
    localStorage.setItem("ot1.q.deadtab.0", `garbage\n${valid}\n{"truncated":`);
    localStorage.setItem("ot1.q.deadtab.x", "\u0000\uffff");
    localStorage.setItem("ot1.aid", "");
    localStorage.setItem("ot1.lease", "nonsense");
  }, valid);
  const page = await openPage(ctx, site.url + "/");
  await waitFor(async () => (await collector.messages()).some((m) => m.event === "Leftover"), "the valid leftover");
  const s = await page.evaluate(() => omnitrail.stats());
  assert.equal(s.corrupt, 3);
  const aid = await page.evaluate(() => omnitrail.anonymousId());
  assert.match(aid, /^[0-9a-f-]{36}$/, "an empty stored id is replaced");
  const left = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("ot1.q.deadtab")));
  await waitFor(async () => (await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("ot1.q.deadtab")).length)) === 0, `dead chunks removed (had ${left})`);
  assert.deepEqual(errors(page), []);
  await ctx.close();
});

test("without Web Locks the storage lease picks one delivering tab: no duplicates", async () => {
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => { Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined }); });
  const a = await openPage(ctx, site.url + "/");
  const b = await openPage(ctx, site.url + "/checkout.html");
  // One leader and one follower within the bounded wait. Under load a lease can lapse between
  // two renewals, leaving both tabs followers for a moment until one claims it: that is not a
  // failure (nothing is sent meanwhile); two leaders that last, or none, time this out.
  let roles;
  await waitFor(async () => {
    roles = [await a.evaluate(() => omnitrail.stats().role), await b.evaluate(() => omnitrail.stats().role)].sort();
    return roles[0] === "follower" && roles[1] === "leader";
  }, "one delivering tab");
  assert.deepEqual(roles, ["follower", "leader"]);
  await Promise.all([trackN(a, "LeaseA ", 40), trackN(b, "LeaseB ", 40)]);
  const got = await waitFor(async () => { const m = await events("Lease"); return m.length >= 80 && m; }, "80 events");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(idCounts(got).unique, 80);
  assert.equal((await collector.stats()).duplicates, 0);
  await ctx.close();
});

test("offline pauses delivery, online resumes it", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await page.evaluate(() => omnitrail.flush());
  await ctx.setOffline(true);
  await page.waitForFunction(() => navigator.onLine === false);
  await trackN(page, "Offline ", 20);
  await new Promise((r) => setTimeout(r, 1500));
  const s = await page.evaluate(() => omnitrail.stats());
  assert.equal((await events("Offline ")).length, 0, JSON.stringify(s));
  assert.equal(s.queued, 20, JSON.stringify(s));
  assert.equal(s.batches, 1, `nothing is attempted while offline: ${JSON.stringify(s)}`);
  await ctx.setOffline(false);
  await waitFor(async () => (await events("Offline ")).length === 20, "20 events after going online");
  await ctx.close();
});

test("429 with Retry-After is honoured; 400 drops the batch and later events still flow", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await page.evaluate(() => omnitrail.flush());
  await collector.fault({ status: 429, forMs: 300, retryAfter: 2 });
  const t0 = Date.now();
  await trackN(page, "Busy ", 20);
  await waitFor(async () => (await events("Busy ")).length === 20, "20 events after 429");
  assert.ok(Date.now() - t0 >= 1900, `waited ${Date.now() - t0} ms for Retry-After: 2`);

  await collector.fault({ status: 400, forMs: 2000 });
  await trackN(page, "Bad ", 20);
  await waitFor(async () => (await page.evaluate(() => omnitrail.stats())).rejected >= 20, "20 rejected");
  await collector.fault({ clear: true });
  await trackN(page, "After ", 20);
  await waitFor(async () => (await events("After ")).length === 20, "20 later events");
  assert.equal((await events("Bad ")).length, 0);
  await ctx.close();
});

test("hostile arguments never throw into the page; valid calls around them are delivered", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  const thrown = await page.evaluate(() => {
    const cyclic = { a: 1 }; cyclic.self = cyclic;
    const revoked = Proxy.revocable({}, {}); revoked.revoke();
    const trap = new Proxy({}, { get() { throw new Error("trap"); }, ownKeys() { throw new Error("trap"); } });
    const bad = [undefined, null, 42, "", Symbol("s"), 10n, () => 1, cyclic, { big: 1n }, revoked.proxy, trap,
      "x".repeat(10_000_000), "\ud800", [1, 2], { toJSON() { throw new Error("toJSON"); } }];
    let thrown = 0;
    for (const x of bad) {
      for (const call of [() => omnitrail.track(x), () => omnitrail.track("Hostile", x), () => omnitrail.track("Hostile", {}, x),
        () => omnitrail.identify(x, x), () => omnitrail.page(x, x, x, x), () => omnitrail.group(x, x), () => omnitrail.alias(x, x),
        () => omnitrail.screen(x, x), () => omnitrail.setAnonymousId(x)]) {
        try { call(); } catch { thrown++; }
      }
      omnitrail.track("Valid", { after: typeof x });
    }
    return thrown;
  });
  assert.equal(thrown, 0);
  await waitFor(async () => (await collector.messages()).filter((m) => m.event === "Valid").length === 15, "15 valid events");
  const warnings = page.logs.filter((l) => l.startsWith("warning") && l.includes("omnitrail:"));
  assert.ok(warnings.length >= 3 && warnings.length <= 30, `rate-limited warnings: ${warnings.length}`);
  assert.deepEqual(errors(page), []);
  await ctx.close();
});

test("calls made before the SDK loads are replayed in order with their original timestamps", async () => {
  const ctx = await browser.newContext();
  await ctx.route("**/omnitrail/omnitrail.js", async (route) => {
    await new Promise((r) => setTimeout(r, 700));
    await route.continue();
  });
  const page = await ctx.newPage();
  // The SDK is inserted as an async module: DOMContentLoaded does not wait for it.
  await page.goto(site.url + "/", { waitUntil: "domcontentloaded" });
  const before = await page.evaluate(() => { for (let i = 0; i < 5; i++) omnitrail.track("Early " + i); return Date.now(); });
  await page.evaluate(() => window.omnitrail.ready);
  const loadedAt = await page.evaluate(() => Date.now());
  await page.evaluate(() => omnitrail.flush());
  const got = await waitFor(async () => { const m = await events("Early "); return m.length === 5 && m; }, "5 early events");
  assert.deepEqual(got.map((m) => m.event), ["Early 0", "Early 1", "Early 2", "Early 3", "Early 4"]);
  for (const m of got) assert.ok(Date.parse(m.timestamp) <= before && Date.parse(m.timestamp) < loadedAt - 300, m.timestamp);
  await ctx.close();
});

test("the page stays eligible for the back/forward cache and delivers after being restored", async () => {
  // Playwright disables the bfcache by default; this test needs the browser's real behaviour.
  const bfBrowser = await launchBrowser({ launch: { ignoreDefaultArgs: ["--disable-back-forward-cache"] } });
  try {
    const ctx = await bfBrowser.newContext();
    const page = await openPage(ctx, site.url + "/");
    await page.evaluate(() => {
      window.__restored = false;
      addEventListener("pageshow", (e) => { if (e.persisted) window.__restored = true; });
    });
    await trackN(page, "BeforeBf ", 3);
    await page.goto(site.url + "/checkout.html");
    await page.evaluate(() => window.omnitrail.ready);
    // Going back while this page is still loading can cancel the restore on a loaded machine
    // ("navigation-canceled"): let it finish loading and its first tick run first.
    await page.waitForLoadState("load");
    await page.evaluate(() => new Promise((ok) => setTimeout(ok, 100)));
    await page.goBack({ waitUntil: "commit" }); // a bfcache restore fires no load event
    const restored = await page.waitForFunction(() => window.__restored === true, null, { timeout: 5000 })
      .then(() => true, () => false);
    const reasons = await page.evaluate(() => JSON.stringify(performance.getEntriesByType("navigation")[0]?.notRestoredReasons ?? null));
    assert.equal(restored, true, `not restored from bfcache: ${reasons}`);
    await waitFor(async () => (await page.evaluate(() => omnitrail.stats().role)) !== "undecided", "re-elected after restore");
    await trackN(page, "AfterBf ", 5);
    await waitFor(async () => (await events("AfterBf ")).length === 5, "5 events after restore");
    await waitFor(async () => new Set((await events("BeforeBf ")).map((m) => m.messageId)).size === 3, "3 events before");
  } finally {
    // Always: a browser left open keeps the test file (and the whole suite) from ending.
    await bfBrowser.close();
  }
});

test("if the SDK is blocked the snippet's stub stays harmless: calls queue up to its bound, nothing throws", async () => {
  const ctx = await browser.newContext();
  await ctx.route("**/omnitrail/omnitrail.js", (route) => route.abort("blockedbyclient"));
  const page = await ctx.newPage();
  const logs = [];
  page.on("pageerror", (e) => logs.push(e.message));
  await page.goto(site.url + "/");
  const r = await page.evaluate(() => {
    let thrown = 0;
    for (let i = 0; i < 2500; i++) {
      try { omnitrail.track("Blocked " + i); omnitrail.identify("u"); omnitrail.consent.set({ analytics: true }); } catch { thrown++; }
    }
    return { thrown, queued: omnitrail._q.length, loaded: !!omnitrail.loaded };
  });
  assert.deepEqual(r, { thrown: 0, queued: 1000, loaded: false });
  assert.deepEqual(logs, []);
  await ctx.close();
});
