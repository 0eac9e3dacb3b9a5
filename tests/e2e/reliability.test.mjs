// Reliability end-to-end: the script-tag SDK in real Chromium against the real collector,
// under the failures a tracking SDK meets in the field — a tab closed while its batch is in
// flight, connection resets and timeouts, five tabs with the delivering tab closed midway, a
// browser restart, 5xx outages and a 400. Every scenario names each event uniquely and checks
// that each one is stored exactly once (none lost) and how many duplicate copies the collector
// had to discard (`stats.duplicates`: at-least-once delivery, deduplicated on messageId).
// Figures per scenario go to tests/out/reliability.json and are printed at the end.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, CHROMIUM_FLAGS, startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";
import { fiveTabs, bursts } from "./five-tabs.mjs";

// requestTimeout 2 s (default 30 s) so the timeout scenario is short; a quick backoff.
const SDK = { writeKey: "demo", flushInterval: 200, requestTimeout: 2000, retry: { baseMs: 200, maxMs: 2000 } };
const BOUNDED = { timeout: 60000 }; // a scenario that hangs fails instead
const started = Date.now();
const figures = {};

let collector, site, plainSite, holdSite, browser;

before(async () => {
  collector = await startCollector();
  site = await startSite({ config: { ...SDK, endpoint: collector.url } });
  // Plain bodies: with the default `compression: "auto"` a 400 to a gzipped batch means "cannot
  // read gzip" and the batch goes again plain (e2e/compression.test.mjs); 5b is about a 400 as such.
  plainSite = await startSite({ config: { ...SDK, endpoint: collector.url, compression: "none" } });
  // Nothing leaves on its own (3b): events wait until the page is hidden or flush() asks.
  holdSite = await startSite({ config: { ...SDK, endpoint: collector.url, flushAt: 10000, flushInterval: 600000 } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await plainSite?.stop();
  await holdSite?.stop();
  await collector?.stop();
  const out = { sdk: SDK, fileSeconds: +((Date.now() - started) / 1000).toFixed(1), scenarios: figures };
  mkdirSync(join(ROOT, "tests/out"), { recursive: true });
  writeFileSync(join(ROOT, "tests/out/reliability.json"), JSON.stringify(out, null, 2) + "\n");
  console.log("\nreliability figures (tests/out/reliability.json):");
  console.table(Object.fromEntries(Object.entries(figures).map(([k, f]) =>
    [k, { events: f.events, lost: f.lost, requests: f.requests, duplicates: f.duplicates, sdkRetries: f.sdkRetries, deliveredMs: f.deliveredMs }])));
});
beforeEach(async () => {
  await collector.fault({ clear: true });
  await collector.reset();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const names = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const trackAll = (page, list) => page.evaluate((list) => { for (const e of list) omnitrail.track(e); }, list);
const sdkStats = (page) => page.evaluate(() => omnitrail.stats());
const closed = (page) => new Promise((r) => page.once("close", r));
/** Collector stats without the per-event table (for assertion messages). */
const brief = ({ byEvent, byType, ...s }) => JSON.stringify(s);

/** How each expected track event arrived at `c`: `lost` (never stored), `twice` (stored more than once), `unexpected` (same prefix, not expected). */
async function arrival(c, expected, prefix) {
  const want = new Map(expected.map((n) => [n, 0]));
  const unexpected = [];
  for (const m of await c.messages()) {
    if (m.type !== "track") continue;
    if (want.has(m.event)) want.set(m.event, want.get(m.event) + 1);
    else if (m.event.startsWith(prefix)) unexpected.push(m.event);
  }
  const lost = [...want].filter(([, n]) => n === 0).map(([e]) => e);
  const twice = [...want].filter(([, n]) => n > 1).map(([e]) => e);
  return { arrived: expected.length - lost.length, lost, twice, unexpected };
}

/** Waits until every expected event is stored (bounded), then checks each is stored exactly once. Returns ms waited from `t0`. */
async function expectAllOnce(c, expected, prefix, t0, timeout = 30000) {
  let last;
  try {
    await waitFor(async () => { last = await arrival(c, expected, prefix); return last.lost.length === 0; },
      `${expected.length} "${prefix}*" events`, { timeout, interval: 100 });
  } catch (e) {
    throw new Error(`${e.message}\nlost ${last?.lost.length}: ${last?.lost.slice(0, 20).join(", ")}`);
  }
  const ms = Date.now() - t0;
  const a = await arrival(c, expected, prefix);
  assert.deepEqual(a.lost, [], "lost events");
  assert.deepEqual(a.twice, [], "events stored twice");
  assert.deepEqual(a.unexpected, [], "unexpected events");
  return ms;
}

/** Opens the site and waits until its page view is acknowledged (`flush()` waits for the delivery role), so later counts are the scenario's own. */
async function settledPage(ctx, path = "/", on = site) {
  const page = await openPage(ctx, on.url + path);
  assert.equal(await page.evaluate(() => omnitrail.flush()), true);
  return page;
}

// Five tabs of `on` in a new context (./five-tabs.mjs), once exactly one delivers.
async function fiveTabsOf(on) {
  const ctx = await browser.newContext();
  return { ctx, ...(await fiveTabs(ctx, on)) };
}

function record(name, f) {
  figures[name] = f;
  console.log(`# ${name}: ${JSON.stringify(f)}`);
}

// 1. The collector holds every request; the tab is closed (or navigated away) while its batch
// is in flight and more events wait. The next page of the site adopts the persisted outbox.
for (const how of ["close", "navigate"]) {
  test(`tab ${how === "close" ? "closed" : "navigated away"} while its batch hangs at the collector: the next page delivers everything`, BOUNDED, async () => {
    const key = `1-tab-${how}`;
    const ctx = await browser.newContext();
    const a = await settledPage(ctx);
    await collector.reset();
    await collector.fault({ mode: "hang" }); // held until cleared
    const prefix = `R1${how[0]} `;
    const inFlight = names(prefix + "flight ", 20); // flushAt 20: sent at once, and held
    const waiting = names(prefix + "late ", 10); // tracked while that batch hangs
    await trackAll(a, inFlight);
    await waitFor(async () => (await collector.stats()).hung >= 1, "the first batch held by the collector");
    await trackAll(a, waiting);
    const t0 = Date.now();
    let b;
    if (how === "close") {
      const gone = closed(a);
      await a.close({ runBeforeUnload: true }); // pagehide fires; close() does not wait for it
      await gone;
      b = await openPage(ctx, site.url + "/checkout.html");
    } else {
      await a.goto(site.url + "/checkout.html");
      await a.evaluate(() => window.omnitrail.ready);
      b = a;
    }
    // Held now: the first batch, all 30 sent with keepalive on pagehide (the held batch's events
    // too: the browser cancels that request), and the next page's own page view (it finds none
    // of the 30 persisted).
    await waitFor(async () => (await collector.stats()).hung >= 3, "keepalive batch and the next page's batch held too");
    await collector.fault({ clear: true });
    const expected = [...inFlight, ...waiting];
    const deliveredMs = await expectAllOnce(collector, expected, prefix, t0);
    await sleep(300); // held requests finish
    const s = await collector.stats();
    const sb = await sdkStats(b);
    // At least once: the held batch goes again in the keepalive request at pagehide (the
    // browser cancels the held one; if the collector stored it anyway, those are duplicates);
    // the next page sends none of it again (it used to send all 30).
    assert.ok(s.duplicates <= expected.length, brief(s));
    assert.equal(sb.role, "leader");
    record(key, { events: expected.length, lost: 0, requests: s.requests, hung: s.hung, duplicates: s.duplicates,
      sdkRetries: sb.retries, deliveredMs, note: "ms from the close/navigation to the last event stored" });
    await ctx.close();
  });
}

// 2a. Connection resets: the collector closes the first k connections without answering.
test("connection resets: every event arrives after the fault clears, retries counted", BOUNDED, async () => {
  const ctx = await browser.newContext();
  const page = await settledPage(ctx);
  await collector.reset();
  const k = 3;
  await collector.fault({ mode: "reset", count: k });
  const before = await sdkStats(page);
  const expected = names("R2r ", 40);
  const t0 = Date.now();
  await trackAll(page, expected);
  const deliveredMs = await expectAllOnce(collector, expected, "R2r ", t0);
  const s = await collector.stats();
  // The collector stores a batch before its answer reaches the page: the SDK's queue empties
  // once it has read that answer (bounded wait; it fails if the queue never empties).
  const sp = await waitFor(async () => { const x = await sdkStats(page); return x.queued === 0 && x; }, "the SDK's queue emptied after the last answer");
  const retries = sp.retries - before.retries;
  assert.equal(s.faulted, k, brief(s));
  // Chromium itself may resend once on a reset keep-alive socket, so the SDK sees ≤ k failures.
  assert.ok(retries >= 1 && retries <= k, `SDK retries ${retries} for ${k} resets`);
  assert.equal(s.duplicates, 0, "a reset request stores nothing");
  assert.equal(sp.queued, 0);
  record("2a-resets", { events: expected.length, lost: 0, resets: k, requests: s.requests, duplicates: s.duplicates,
    sdkRetries: retries, deliveredMs });
  await ctx.close();
});

// 2b. Timeouts: the collector holds requests longer than the SDK's requestTimeout.
test("collector slower than requestTimeout: the SDK times out, retries, and everything arrives", BOUNDED, async () => {
  const ctx = await browser.newContext();
  const page = await settledPage(ctx);
  await collector.reset();
  const delayMs = SDK.requestTimeout + 1500;
  await collector.fault({ mode: "hang", delayMs, count: 2 }); // the next 2 requests answer after 3.5 s
  const before = await sdkStats(page);
  const expected = names("R2t ", 20);
  const t0 = Date.now();
  await trackAll(page, expected);
  const deliveredMs = await expectAllOnce(collector, expected, "R2t ", t0);
  // The first request went with keepalive (it fits half the quota): the SDK aborts it at the
  // timeout and retries as before, but Chromium completes a keepalive request on the wire after
  // the page's abort, so the collector stores that copy when it gets to it (after delayMs),
  // before the retries. After that no-answer, normal batches go without keepalive.
  assert.ok(deliveredMs >= SDK.requestTimeout, `not before the first timeout (${deliveredMs} ms)`);
  await sleep(delayMs + 300); // the held requests are processed after the SDK gave up on them
  const s = await collector.stats();
  const sp = await sdkStats(page);
  const retries = sp.retries - before.retries;
  assert.equal(s.hung, 2, brief(s));
  assert.equal(retries, 2, "one retry per timed-out request");
  assert.equal(sp.queued, 0);
  // A timed-out request may still be stored when the collector gets to it (then a copy is a
  // duplicate): the keepalive one is (the browser completes it), the plain retry aborted before
  // the collector read it is not. At most one extra copy per timed-out request.
  assert.ok(s.duplicates <= 2 * expected.length, brief(s));
  assert.deepEqual((await arrival(collector, expected, "R2t ")).twice, [], "still stored once each");
  record("2b-timeouts", { events: expected.length, lost: 0, requestTimeoutMs: SDK.requestTimeout, collectorDelayMs: delayMs,
    requests: s.requests, hung: s.hung, duplicates: s.duplicates, sdkRetries: retries, deliveredMs });
  await ctx.close();
});

// 3. Five tabs of one site, one delivering tab (Web Locks); the delivering tab closes midway.
test("five tabs tracking 200 events each; the delivering tab closes midway: all 1000 arrive", BOUNDED, async () => {
  const { ctx, tabs, leader } = await fiveTabsOf(site);
  await tabs[leader].evaluate(() => omnitrail.flush());
  await collector.reset();
  // Every request takes 200 ms at the collector, so the leader has a batch in flight when it closes.
  await collector.fault({ mode: "hang", delayMs: 200 });
  const leaderBefore = await sdkStats(tabs[leader]);
  const followers = tabs.filter((_, i) => i !== leader);
  const trackedBefore = (await Promise.all(followers.map((p) => sdkStats(p)))).reduce((n, s) => n + s.tracked, 0);
  const t0 = Date.now();
  // Interleaved bursts: the leader tracks its 200 in 10 rounds, the others in 20 slower ones.
  const runs = bursts(tabs, leader);
  await runs[leader];
  const trackedAtClose = (await Promise.all(followers.map((p) => sdkStats(p)))).reduce((n, s) => n + s.tracked, 0) - trackedBefore;
  const leaderAtClose = await sdkStats(tabs[leader]);
  const gone = closed(tabs[leader]);
  await tabs[leader].close({ runBeforeUnload: true });
  await gone;
  const closedAt = Date.now() - t0;
  await Promise.all(runs.filter((_, i) => i !== leader));
  const newRoles = await waitFor(async () => {
    const r = await Promise.all(followers.map((p) => p.evaluate(() => omnitrail.stats().role)));
    return r.includes("leader") && r;
  }, "a new delivering tab");
  assert.equal(newRoles.filter((r) => r === "leader").length, 1, newRoles.join());
  const expected = [];
  for (let t = 0; t < 5; t++) expected.push(...names(`R3 ${t} `, 200));
  const deliveredMs = await expectAllOnce(collector, expected, "R3 ", t0);
  await sleep(500);
  const s = await collector.stats();
  const st = await Promise.all(followers.map((p) => sdkStats(p)));
  // At least once, never more: what the closed tab had acknowledged is not sent again, and
  // the rest at most twice (its last plain request, cancelled at close, then the keepalive copy).
  const ackedByLeader = leaderAtClose.delivered - leaderBefore.delivered;
  assert.ok(s.duplicates <= expected.length - ackedByLeader, `${brief(s)}; the closed tab had ${ackedByLeader} acknowledged`);
  assert.equal(st.reduce((n, x) => n + x.queued, 0), 0, "outboxes empty");
  record("3-five-tabs", { events: expected.length, lost: 0, requests: s.requests, duplicates: s.duplicates,
    sdkRetries: st.reduce((n, x) => n + x.retries, 0), deliveredMs, leaderClosedAtMs: closedAt,
    followerEventsTrackedAtClose: trackedAtClose, leaderAcknowledgedAtClose: ackedByLeader, leaderUnacknowledgedAtClose: leaderAtClose.queued,
    note: "ms from the first track to the last event stored" });
  await ctx.close();
});

// 3b. Five tabs again, but the delivering tab closes with no request in flight: its events
// wait (nothing is sent before the page is hidden), so at pagehide it hands what fits the
// keepalive quota to the browser and removes those lines from storage. Every request's fate is
// known to the page here (the collector answers at once), so exactly once: the tab that takes
// over, whose storage view (another renderer process) may still show those lines, adopts the
// outbox only once the closing tab's succession marker is gone from its view, after them.
test("five tabs; the delivering tab closes with its events waiting: each of the 500 stored once, none sent twice", BOUNDED, async () => {
  const { ctx, tabs, leader } = await fiveTabsOf(holdSite);
  assert.equal(await tabs[leader].evaluate(() => omnitrail.flush()), true);
  await collector.reset();
  const leaderBatches = (await sdkStats(tabs[leader])).batches;
  const t0 = Date.now();
  await Promise.all(tabs.map((p, t) => p.evaluate((t) => { for (let i = 0; i < 100; i++) omnitrail.track(`R3b ${t} ${i}`); }, t)));
  // The followers' chunks reach the delivering tab (storage events): it holds them too, all
  // 500 (about 400 KB: under maxBatchBytes, so no batch is due before the close).
  await waitFor(async () => (await sdkStats(tabs[leader])).queued === 500, "the delivering tab adopted the follower chunks");
  assert.equal((await sdkStats(tabs[leader])).batches, leaderBatches, "nothing sent before the close");
  const gone = closed(tabs[leader]);
  await tabs[leader].close({ runBeforeUnload: true });
  await gone;
  const followers = tabs.filter((_, i) => i !== leader);
  await waitFor(async () => (await Promise.all(followers.map((p) => p.evaluate(() => omnitrail.stats().role)))).includes("leader"), "a new delivering tab");
  const flushed = await Promise.all(followers.map((p) => p.evaluate(() => omnitrail.flush())));
  const expected = [];
  for (let t = 0; t < 5; t++) expected.push(...names(`R3b ${t} `, 100));
  const deliveredMs = await expectAllOnce(collector, expected, "R3b ", t0);
  await sleep(500);
  const s = await collector.stats();
  assert.equal(s.duplicates, 0, `nothing the closing tab handed to the browser is sent again: ${brief(s)}`);
  assert.deepEqual(flushed, [true, true, true, true], "every follower's flush() settles true");
  record("3b-five-tabs-idle-close", { events: expected.length, lost: 0, requests: s.requests, duplicates: s.duplicates, deliveredMs });
  await ctx.close();
});

// 4. The collector is down (503) for a whole browser session; the browser quits; the events
// wait in the profile's localStorage and go out when the site is opened again.
test("browser restart with a persistent profile: events persisted during an outage are delivered on the next visit", BOUNDED, async () => {
  const dir = mkdtempSync(join(tmpdir(), "omnitrail-profile-"));
  const launch = () => chromium.launchPersistentContext(dir, { executablePath: "/usr/bin/chromium", args: CHROMIUM_FLAGS });
  // Stopped at most once each (a second stop() would wait for an exit that already happened).
  let down = await startCollector(), up = null;
  let s4 = await startSite({ config: { ...SDK, endpoint: down.url } });
  const port = new URL(s4.url).port;
  let ctx;
  try {
    await down.fault({ status: 503 }); // until the process ends
    ctx = await launch();
    const page = await openPage(ctx, s4.url + "/");
    const expected = names("R4 ", 30);
    await trackAll(page, expected);
    const firstSession = await waitFor(async () => { const x = await sdkStats(page); return x.retries >= 2 && x; }, "two failed attempts");
    const persisted = await page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith("ot1.q."))
      .reduce((n, [, v]) => n + v.split("\n").filter((l) => l.includes('"R4 ')).length, 0));
    assert.equal(persisted, 30, "all 30 events in localStorage");
    const failed = await down.stats();
    await ctx.close(); // the whole browser
    ctx = undefined;
    await down.stop();
    down = null;
    await s4.stop();
    s4 = null;

    up = await startCollector(); // a healthy collector (new process) ...
    s4 = await startSite({ port: +port, config: { ...SDK, endpoint: up.url } }); // ... and the same origin
    const t0 = Date.now();
    ctx = await launch();
    await ctx.addInitScript(() => {
      window.__chunksAtStart = Object.keys(localStorage).filter((k) => k.startsWith("ot1.q.")).length;
    });
    const again = await openPage(ctx, s4.url + "/");
    const deliveredMs = await expectAllOnce(up, expected, "R4 ", t0);
    const s = await up.stats();
    const chunks = await again.evaluate(() => window.__chunksAtStart);
    const sa = await sdkStats(again);
    assert.ok(chunks >= 1, "the outbox survived the restart");
    assert.equal(s.duplicates, 0);
    record("4-browser-restart", { events: expected.length, lost: 0, requests: s.requests, duplicates: s.duplicates,
      failedRequestsBeforeQuit: failed.requests, sdkRetriesBeforeQuit: firstSession.retries, chunksAtRelaunch: chunks,
      sdkRetries: sa.retries, deliveredMs,
      note: "ms from relaunching the browser to the last event stored" });
  } finally {
    await ctx?.close();
    await s4?.stop();
    await down?.stop();
    await up?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// 5a. 5xx outages: 503 with Retry-After, then 500 without; bounded attempts, then delivery.
test("503 with Retry-After, then 500, for a while: everything arrives, no retry storm", BOUNDED, async () => {
  const ctx = await browser.newContext();
  const page = await settledPage(ctx);
  const phases = [
    { key: "5a-503-retry-after", prefix: "R5u ", fault: { status: 503, retryAfter: 1, forMs: 3000 }, maxAttempts: 4 },
    // Full-jitter backoff from 200 ms: > 15 attempts in 2 s is practically impossible.
    { key: "5a-500", prefix: "R5s ", fault: { status: 500, forMs: 2000 }, maxAttempts: 15 },
  ];
  for (const ph of phases) {
    await collector.reset();
    const before = await sdkStats(page);
    await collector.fault(ph.fault);
    const expected = names(ph.prefix, 30);
    const t0 = Date.now();
    await trackAll(page, expected);
    const deliveredMs = await expectAllOnce(collector, expected, ph.prefix, t0);
    assert.ok(deliveredMs >= ph.fault.forMs - 300, `delivered only after the outage (${deliveredMs} ms)`);
    const s = await collector.stats();
    const sp = await sdkStats(page);
    assert.ok(s.faulted >= 1 && s.faulted <= ph.maxAttempts, `${s.faulted} failed attempts in ${ph.fault.forMs} ms`);
    assert.equal(s.requests, s.faulted + 1, "one successful request after the outage");
    assert.equal(s.duplicates, 0, "a 5xx stores nothing");
    assert.equal(sp.retries - before.retries, s.faulted);
    record(ph.key, { events: expected.length, lost: 0, outageMs: ph.fault.forMs, requests: s.requests, failedRequests: s.faulted,
      duplicates: s.duplicates, sdkRetries: sp.retries - before.retries, deliveredMs });
  }
  await ctx.close();
});

// 5b. A 400 is final: the batch is dropped and counted, never retried; later events flow.
test("400 for a batch: dropped and counted, not retried; later events arrive", BOUNDED, async () => {
  const ctx = await browser.newContext();
  const page = await settledPage(ctx, "/", plainSite);
  await collector.reset();
  await collector.fault({ status: 400, count: 1 });
  const before = await sdkStats(page);
  const bad = names("R5b bad ", 10);
  const flushed = await page.evaluate((list) => { for (const e of list) omnitrail.track(e); return omnitrail.flush(); }, bad);
  await sleep(1500); // time enough for any retry to show
  let s = await collector.stats();
  let sp = await sdkStats(page);
  assert.equal(s.requests, 1, "no retry of a rejected batch");
  assert.equal(sp.rejected - before.rejected, 10);
  assert.equal(sp.dropped - before.dropped, 10);
  assert.equal(sp.retries - before.retries, 0);
  assert.equal(sp.queued, 0);
  assert.equal(flushed, false, "flush() does not claim a rejected batch was delivered");
  const good = names("R5b good ", 10);
  const t0 = Date.now();
  await trackAll(page, good);
  const deliveredMs = await expectAllOnce(collector, good, "R5b good ", t0);
  assert.equal((await arrival(collector, bad, "R5b bad ")).arrived, 0, "the rejected batch is not stored");
  s = await collector.stats();
  sp = await sdkStats(page);
  assert.equal(s.requests, 2);
  assert.equal(s.duplicates, 0);
  record("5b-400", { events: 20, rejected: 10, lost: 0, requests: s.requests, duplicates: s.duplicates,
    sdkRetries: sp.retries - before.retries, sdkRejected: sp.rejected - before.rejected, sdkDropped: sp.dropped - before.dropped,
    flushResolved: flushed, deliveredMs, note: "lost counts the 10 accepted events; the 10 rejected ones are dropped by design" });
  await ctx.close();
});
