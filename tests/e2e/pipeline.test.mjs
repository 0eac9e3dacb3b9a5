// End-to-end: the script-tag SDK in real Chromium delivering to the reference collector.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startCollector, startSite, launchBrowser, openPage, waitFor, idCounts } from "./harness.mjs";

let collector, site, browser;

before(async () => {
  collector = await startCollector();
  site = await startSite({ config: { writeKey: "demo", endpoint: collector.url, flushInterval: 200 } });
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

const tracked = (msgs, prefix) => msgs.filter((m) => m.type === "track" && m.event.startsWith(prefix));

test("events arrive once each, with the Segment fields", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await page.evaluate(async () => {
    for (let i = 0; i < 30; i++) omnitrail.track("Once " + i, { i });
    omnitrail.identify("user-1", { plan: "pro" });
    await omnitrail.flush();
  });
  const msgs = await waitFor(async () => {
    const m = await collector.messages();
    return tracked(m, "Once ").length === 30 && m.some((x) => x.type === "identify") && m;
  }, "30 tracks + identify");
  const s = await collector.stats();
  assert.equal(s.duplicates, 0);
  assert.deepEqual(idCounts(msgs).duplicated, 0);
  const t = tracked(msgs, "Once ")[0];
  assert.equal(t.properties.i, 0);
  assert.match(t.messageId, /^[0-9a-f-]{36}$/);
  assert.match(t.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(t.context.library.name, "omnitrail");
  assert.equal(t.context.page.path, "/");
  assert.ok(t.context.userAgent.includes("Chrome"));
  assert.ok(t.anonymousId);
  const pv = msgs.find((m) => m.type === "page");
  assert.equal(pv.properties.url, site.url + "/");
  const id = msgs.find((m) => m.type === "identify");
  assert.equal(id.userId, "user-1");
  assert.equal(id.traits.plan, "pro");
  assert.equal(id.anonymousId, t.anonymousId);
  assert.deepEqual(page.logs.filter((l) => l.startsWith("error") || l.startsWith("pageerror")), []);
  await ctx.close();
});

test("50 events tracked right before navigating away all arrive (after at most one reload)", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await page.evaluate(() => { for (let i = 0; i < 50; i++) omnitrail.track("Unload " + i, { i }); });
  await page.goto(site.url + "/checkout.html"); // the SDK on the next page resends anything unacknowledged
  await page.evaluate(() => window.omnitrail.ready);
  const msgs = await waitFor(async () => {
    const m = tracked(await collector.messages(), "Unload ");
    return new Set(m.map((x) => x.messageId)).size === 50 && m;
  }, "50 unload events");
  assert.deepEqual(msgs.map((m) => m.properties.i).sort((a, b) => a - b), [...Array(50).keys()]);
  await ctx.close();
});

test("collector answering 503 for 5 s, then 200: everything arrives, no duplicates", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await collector.fault({ status: 503, forMs: 5000, retryAfter: 1 });
  await page.evaluate(() => { for (let i = 0; i < 40; i++) omnitrail.track("Storm " + i, { i }); });
  const msgs = await waitFor(async () => {
    const m = tracked(await collector.messages(), "Storm ");
    return m.length >= 40 && m;
  }, "40 events after the outage", { timeout: 40000 });
  const s = await collector.stats();
  assert.ok(s.faulted >= 1, "the outage was hit");
  assert.equal(idCounts(msgs).unique, 40);
  assert.equal(s.duplicates, 0, "nothing acknowledged was sent again");
  const stats = await page.evaluate(() => omnitrail.stats());
  assert.ok(stats.retries >= 1);
  await ctx.close();
});

test("two tabs tracking concurrently: one delivers, no duplicates", async () => {
  const ctx = await browser.newContext();
  const a = await openPage(ctx, site.url + "/");
  const b = await openPage(ctx, site.url + "/product.html?id=tee-blue");
  const roles = await waitFor(async () => {
    const r = [await a.evaluate(() => omnitrail.stats().role), await b.evaluate(() => omnitrail.stats().role)];
    return !r.includes("undecided") && r;
  }, "roles decided");
  assert.deepEqual(roles.sort(), ["follower", "leader"]);
  const burst = (page, tab) => page.evaluate(async (tab) => {
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 10; i++) omnitrail.track(`Tab ${tab} ${round * 10 + i}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }, tab);
  await Promise.all([burst(a, "A"), burst(b, "B")]);
  let arrived = [];
  const msgs = await waitFor(async () => {
    arrived = tracked(await collector.messages(), "Tab ");
    return arrived.length >= 200 && arrived;
  }, "200 events from two tabs").catch(async (e) => {
    // What each tab still holds, and which tab's events are missing (a timing failure seen once
    // in a full run under load: this says where the events were).
    const per = { A: 0, B: 0 };
    for (const m of arrived) per[m.event[4]]++;
    // Bounded: a tab that no longer answers must not turn this failure into the file's timeout.
    const ask = (p) => Promise.race([p.evaluate(() => omnitrail.stats()), new Promise((r) => setTimeout(() => r("no answer in 3 s"), 3000))]);
    const stats = [await ask(a), await ask(b)];
    throw new Error(`${e.message}; arrived A ${per.A}, B ${per.B}; tab stats ${JSON.stringify(stats)}`);
  });
  await new Promise((r) => setTimeout(r, 500));
  const s = await collector.stats();
  assert.equal(idCounts(msgs).unique, 200);
  assert.equal(s.duplicates, 0);
  await ctx.close();
});

test("flush() waits for the delivery role, resolves true once acknowledged and false on a failed attempt", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(site.url + "/");
  // Called as early as possible: the Web Lock may not be granted yet.
  const first = await page.evaluate(async () => { await omnitrail.ready; return omnitrail.flush(); });
  assert.equal(first, true);
  assert.equal((await page.evaluate(() => omnitrail.stats())).queued, 0);
  await collector.fault({ status: 503, forMs: 60000 });
  const second = await page.evaluate(() => { omnitrail.track("Flush fails"); return omnitrail.flush(); });
  assert.equal(second, false);
  await collector.fault({ clear: true });
  await ctx.close();
});

test("context.timezone is the device's IANA zone, read through Temporal and, without it, Intl", async () => {
  for (const [zone, withoutTemporal] of [["America/Los_Angeles", false], ["Asia/Kolkata", true], ["Europe/Paris", true]]) {
    await collector.reset();
    const ctx = await browser.newContext({ timezoneId: zone });
    // A browser without Temporal (Safari, older Chromium): the Intl.DateTimeFormat fallback.
    if (withoutTemporal) await ctx.addInitScript(() => { delete globalThis.Temporal; });
    const page = await openPage(ctx, site.url + "/");
    assert.equal(await page.evaluate(() => typeof Temporal), withoutTemporal ? "undefined" : "object");
    await page.evaluate(() => { omnitrail.track("Zone"); return omnitrail.flush(); });
    const msgs = await waitFor(async () => { const m = await collector.messages(); return tracked(m, "Zone").length === 1 && m; }, "Zone");
    // The browser's own name for the zone (Chromium says the CLDR "Asia/Calcutta" for Kolkata,
    // through Temporal and Intl alike).
    const own = await page.evaluate(() => new Intl.DateTimeFormat().resolvedOptions().timeZone);
    assert.equal(tracked(msgs, "Zone")[0].context.timezone, own, withoutTemporal ? "Intl fallback" : "Temporal");
    assert.ok(own === zone || (zone === "Asia/Kolkata" && own === "Asia/Calcutta"), own);
    assert.deepEqual(page.logs.filter((l) => l.startsWith("error") || l.startsWith("pageerror")), []);
    await ctx.close();
  }
});
