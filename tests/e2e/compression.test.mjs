// End-to-end: compression in real Chromium against the reference collector. `"gzip"`: batches
// leave gzipped by the browser's CompressionStream and marked `?compression=gzip`; every event
// still arrives exactly once; keepalive sends on pagehide stay plain; without the API, or when
// it fails, the plain body goes. `"auto"` (the default): plain until the collector advertised
// gzip (`Accept-Encoding` on a 2xx), then gzip, remembered per endpoint; an endpoint that never
// advertises it only ever receives plain bodies. Unload: a batch still being compressed when the
// page goes away leaves plain with keepalive in the same event, and the gzipped one never; the
// next page sends none of it again (with or without compression).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { gunzipSync } from "node:zlib";
import { startCollector, startSite, launchBrowser, openPage, waitFor, idCounts } from "./harness.mjs";

const GZIP_MIN_BYTES = 1024; // src/wire.rs
let collector, sink, gzipSite, plainSite, autoSite, sinkSite, waitingSite, browser;

/** A Segment-compatible endpoint that accepts batches and never advertises gzip (like
 *  RudderStack's or Segment's: they read gzip only with `Content-Encoding`). It exposes
 *  `Accept-Encoding` through CORS but never sends it; it records every request. */
async function startSink() {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method, url: req.url, gzip: body.length > 2 && body[0] === 0x1f && body[1] === 0x8b, body });
      res.writeHead(req.method === "OPTIONS" ? 204 : 200, {
        "access-control-allow-origin": "*",
        "access-control-expose-headers": "Retry-After, Accept-Encoding",
        "content-type": "application/json",
      });
      res.end(req.method === "OPTIONS" ? undefined : '{"success":true}');
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${server.address().port}`, requests,
    stop: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }) };
}

before(async () => {
  collector = await startCollector();
  sink = await startSink();
  const base = { writeKey: "demo", endpoint: collector.url, flushInterval: 200 };
  gzipSite = await startSite({ config: { ...base, compression: "gzip" } });
  plainSite = await startSite({ config: { ...base, compression: "none" } });
  // The default ("auto"); no automatic page view, so the first batch is the test's own.
  autoSite = await startSite({ config: { ...base, autoPage: false } });
  sinkSite = await startSite({ config: { ...base, endpoint: sink.url, autoPage: false } });
  // Events wait (no count or age trigger within the test): only pagehide sends them.
  waitingSite = await startSite({ config: { ...base, compression: "gzip", flushAt: 1000, flushInterval: 600000 } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  for (const s of [gzipSite, plainSite, autoSite, sinkSite, waitingSite]) await s?.stop();
  await sink?.stop();
  await collector?.stop();
});
beforeEach(async () => {
  await collector.reset();
});

/** Records every batch request the context's pages make: url, wire bytes, gzip or not, the
 *  decoded batch. Attach it before opening the page: the automatic page view may leave before
 *  `openPage` returns on a loaded machine. */
function recordBatches(ctx) {
  const seen = [];
  ctx.on("request", (req) => {
    if (req.method() !== "POST" || !req.url().startsWith(collector.url + "/v1/batch")) return;
    const wire = req.postDataBuffer() ?? Buffer.alloc(0);
    const gzip = wire.length > 2 && wire[0] === 0x1f && wire[1] === 0x8b;
    const plain = gzip ? gunzipSync(wire) : wire;
    seen.push({ url: req.url(), wire: wire.length, plain: plain.length, gzip, batch: JSON.parse(plain.toString("utf8")).batch });
  });
  return seen;
}

const tracked = (msgs, prefix) => msgs.filter((m) => m.type === "track" && m.event.startsWith(prefix));
const errors = (page) => page.logs.filter((l) => l.startsWith("error") || l.startsWith("pageerror"));

async function burst(page, prefix, n) {
  await page.evaluate(async ([prefix, n]) => {
    for (let i = 0; i < n; i++) omnitrail.track(prefix, { i, sku: "tee-blue", price: 19.0 });
    await omnitrail.flush();
  }, [prefix, n]);
  const msgs = await waitFor(async () => {
    const m = tracked(await collector.messages(), prefix);
    return m.length >= n && m;
  }, `${n} ${prefix} events`);
  // Exactly once: every index, no duplicate message id, none answered as a duplicate.
  assert.deepEqual(msgs.map((m) => m.properties.i).sort((a, b) => a - b), [...Array(n).keys()]);
  assert.equal(idCounts(msgs).duplicated, 0);
  return msgs;
}

test("gzip: batches arrive compressed and marked, every event exactly once", async () => {
  const ctx = await browser.newContext();
  const seen = recordBatches(ctx);
  const page = await openPage(ctx, gzipSite.url + "/");
  await page.evaluate(() => omnitrail.flush());
  await burst(page, "Gz", 1500);
  const s = await collector.stats();
  assert.equal(s.duplicates, 0);
  assert.ok(seen.length >= 2, `${seen.length} requests`);
  for (const r of seen) {
    // The core's rule: compress from GZIP_MIN_BYTES of uncompressed body on (the automatic page
    // view alone is below it); the byte limits hold for the uncompressed body.
    assert.equal(r.gzip, r.plain >= GZIP_MIN_BYTES, `${r.plain} B body, gzip ${r.gzip}`);
    assert.equal(r.url.endsWith("/v1/batch?compression=gzip"), r.gzip, r.url);
    assert.ok(r.plain <= 512000);
    if (r.gzip) assert.ok(r.wire < r.plain / 4, `${r.wire} B on the wire for ${r.plain} B`);
  }
  const gz = seen.filter((r) => r.gzip);
  assert.ok(gz.reduce((n, r) => n + r.batch.filter((m) => m.event === "Gz").length, 0) === 1500, "every burst event travelled gzipped");
  // The collector saw them as gzip, and counted the bytes as they travelled.
  assert.equal(s.compressed, gz.length);
  assert.equal(s.requests, seen.length);
  assert.equal(s.bodyBytes, seen.reduce((n, r) => n + r.wire, 0));
  assert.deepEqual(errors(page), []);
  await ctx.close();
});

test("none: nothing is compressed", async () => {
  const ctx = await browser.newContext();
  const seen = recordBatches(ctx);
  const page = await openPage(ctx, plainSite.url + "/");
  await burst(page, "Plain", 300);
  const s = await collector.stats();
  assert.equal(s.compressed, 0);
  assert.ok(seen.length >= 1 && seen.every((r) => !r.gzip && r.url === collector.url + "/v1/batch"));
  await ctx.close();
});

test("gzip: the keepalive send on pagehide stays plain and synchronous", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, waitingSite.url + "/");
  await page.evaluate(() => { for (let i = 0; i < 60; i++) omnitrail.track("Hide", { i, sku: "tee-blue", price: 19.0 }); });
  // Let the coalesced tick persist them (it sends nothing: no trigger is due).
  await page.evaluate(() => new Promise((ok) => setTimeout(ok, 50)));
  assert.equal((await collector.stats()).requests, 0, "nothing sent before pagehide");
  await page.goto("about:blank"); // pagehide: what waits goes out with keepalive, from this very task
  const msgs = await waitFor(async () => {
    const m = tracked(await collector.messages(), "Hide");
    return m.length >= 60 && m;
  }, "60 events sent on pagehide");
  assert.equal(idCounts(msgs).duplicated, 0);
  const s = await collector.stats();
  assert.equal(s.compressed, 0, "the keepalive request went plain");
  assert.ok(s.requests >= 1);
  await ctx.close();
});

for (const [name, stub] of [
  ["missing", () => { delete window.CompressionStream; }],
  ["throwing", () => { window.CompressionStream = class { constructor() { throw new Error("no gzip here"); } }; }],
  ["failing mid-stream", () => {
    window.CompressionStream = class extends TransformStream {
      constructor() { super({ transform(_chunk, c) { c.error(new Error("stream broke")); } }); }
    };
  }],
]) {
  test(`gzip configured, CompressionStream ${name}: the plain body goes, every event once`, async () => {
    const ctx = await browser.newContext();
    await ctx.addInitScript(stub);
    const seen = recordBatches(ctx);
    const page = await openPage(ctx, gzipSite.url + "/");
    await burst(page, "Fallback", 200);
    const s = await collector.stats();
    assert.equal(s.compressed, 0);
    assert.equal(s.duplicates, 0);
    assert.ok(seen.length >= 1 && seen.every((r) => !r.gzip && !r.url.includes("compression")));
    assert.deepEqual(errors(page), []);
    await ctx.close();
  });
}

test("an unknown compression is a configuration error, not a silent fallback", async () => {
  const bad = await startSite({ config: { writeKey: "demo", endpoint: collector.url, compression: "br" } });
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  await page.goto(bad.url + "/");
  await waitFor(() => logs.find((l) => l.includes("config.compression")), "the configuration error");
  assert.ok(logs.some((l) => l === 'error: omnitrail: config.compression must be "auto", "gzip" or "none"'), logs.join("\n"));
  assert.equal((await collector.stats()).requests, 0);
  await ctx.close();
  await bad.stop();
});

test("a collector that refuses a gzipped batch (400) gets it again plain, and plain from then on", async () => {
  const ctx = await browser.newContext();
  const seen = recordBatches(ctx);
  const page = await openPage(ctx, gzipSite.url + "/");
  await page.evaluate(() => omnitrail.flush()); // the page view goes first, unfaulted
  await collector.fault({ status: 400, count: 1 });
  const msgs = await burst(page, "Refused gzip", 40);
  assert.equal(msgs.length, 40, "nothing lost");
  // The batches of the burst and after (the page view before it is below the gzip size).
  const fromBurst = () => seen.slice(seen.findIndex((b) => b.batch.some((m) => m.event === "Refused gzip")));
  assert.ok(fromBurst()[0].gzip, "the first batch of the burst went gzipped");
  assert.ok(fromBurst().slice(1).every((b) => !b.gzip), "every later batch is plain");
  await burst(page, "Then plain", 40);
  assert.ok(fromBurst().slice(1).every((b) => !b.gzip));
  assert.equal((await page.evaluate(() => omnitrail.stats())).rejected, 0);
  await ctx.close();
});

const gzKey = (page) => page.evaluate(() => localStorage.getItem("ot1.gz"));
/** The batch requests that carried events named `name`. */
const carrying = (seen, name) => seen.filter((r) => r.batch.some((m) => m.event === name));

test("auto (default): the first batch plain, gzip once the collector advertised it, remembered across page loads", async () => {
  const ctx = await browser.newContext();
  const seen = recordBatches(ctx);
  // about.html: no page() of its own (the shop's index calls one, which leaves in a batch of its
  // own when the SDK takes longer than flushInterval to load, as on a loaded machine).
  const page = await openPage(ctx, autoSite.url + "/about.html");
  assert.equal(await gzKey(page), null, "nothing known yet");
  await burst(page, "Nego 1", 40);
  await burst(page, "Nego 2", 40);
  assert.equal(await gzKey(page), collector.url + "/v1/batch", "remembered for this endpoint");
  // The next page load (the first one closed: it no longer holds the delivery lock)
  // compresses its first batch already.
  const pageErrors = errors(page);
  await page.close();
  const next = await openPage(ctx, autoSite.url + "/about.html");
  await burst(next, "Nego 3", 40);
  const shape = (r) => ({ gzip: r.gzip, marked: r.url.endsWith("?compression=gzip"), large: r.plain >= GZIP_MIN_BYTES });
  assert.deepEqual(seen.map(shape), [
    { gzip: false, marked: false, large: true }, // before any answer: plain, though over the threshold
    { gzip: true, marked: true, large: true },
    { gzip: true, marked: true, large: true },
  ]);
  for (const [i, name] of ["Nego 1", "Nego 2", "Nego 3"].entries()) assert.deepEqual(carrying(seen, name), [seen[i]]);
  let s = await collector.stats();
  assert.deepEqual([s.requests, s.compressed, s.duplicates], [3, 2, 0]);
  // A 400 to a gzipped batch: sent again plain, forgotten, plain for the rest of the page.
  await collector.fault({ status: 400, count: 1 });
  await burst(next, "Refused", 40);
  await burst(next, "After", 40);
  assert.deepEqual(carrying(seen, "Refused").map((r) => r.gzip), [true, false]);
  assert.deepEqual(carrying(seen, "After").map((r) => r.gzip), [false]);
  assert.equal(await gzKey(next), null, "the remembered flag is cleared");
  s = await collector.stats();
  // Six requests; the collector decoded two gzipped ones (the fault answered the third first).
  assert.deepEqual([seen.length, seen.filter((r) => r.gzip).length], [6, 3]);
  assert.deepEqual([s.requests, s.compressed, s.duplicates], [6, 2, 0]);
  // The browser logs the 400 itself; nothing else is an error.
  assert.deepEqual([...pageErrors, ...errors(next)].filter((l) => !l.includes("status of 400")), []);
  await ctx.close();
});

test("auto (default) against an endpoint that never advertises gzip: only plain bodies, no preflight", async () => {
  sink.requests.length = 0;
  const ctx = await browser.newContext();
  // about.html, as above: only the test's own batches.
  const page = await openPage(ctx, sinkSite.url + "/about.html");
  for (const round of [1, 2, 3]) {
    await page.evaluate(async (round) => {
      for (let i = 0; i < 40; i++) omnitrail.track(`Sink ${round}`, { i, sku: "tee-blue", price: 19.0 });
      await omnitrail.flush();
    }, round);
  }
  const pageErrors = errors(page);
  await page.close();
  const next = await openPage(ctx, sinkSite.url + "/about.html");
  await next.evaluate(async () => {
    for (let i = 0; i < 40; i++) omnitrail.track("Sink 4", { i, sku: "tee-blue", price: 19.0 });
    await omnitrail.flush();
  });
  const sinkEvents = () => sink.requests.filter((r) => r.method === "POST").flatMap((r) => JSON.parse(r.body.toString("utf8")).batch).filter((m) => m.event?.startsWith("Sink "));
  const events = await waitFor(() => sinkEvents().length >= 160 && sinkEvents(), "160 events at the sink");
  assert.equal(events.length, 160);
  assert.equal(idCounts(events).duplicated, 0);
  assert.deepEqual(sink.requests.map((r) => [r.method, r.url, r.gzip]), Array(4).fill(["POST", "/v1/batch", false]));
  assert.equal(await gzKey(next), null);
  assert.deepEqual([...pageErrors, ...errors(next)], []);
  await ctx.close();
});

// Issue 17: with compression on, 50 track calls and a navigation in one task used to leave
// nothing until the page was opened again (the batch was still in the CompressionStream, or
// its gzipped request was cancelled with the page). The page navigated to (about:blank) has no
// SDK, so what arrives was sent by the page that left.
for (const mode of ["gzip", "auto", "none"]) {
  test(`${mode}: 50 track calls and location.href in the same task: all 50 arrive from the unload, none sent again by the next page`, async () => {
    const site = { gzip: gzipSite, auto: autoSite, none: plainSite }[mode];
    const ctx = await browser.newContext();
    const page = await openPage(ctx, site.url + "/");
    if (mode === "auto") {
      await burst(page, "Negotiated", 40);
      assert.equal(await gzKey(page), collector.url + "/v1/batch");
    } else {
      assert.equal(await page.evaluate(() => omnitrail.flush()), true);
    }
    await collector.reset();
    await page.evaluate((to) => {
      for (let i = 0; i < 50; i++) omnitrail.track("Leave", { i, sku: "tee-blue", price: 19.0 });
      location.href = to;
    }, "about:blank");
    const msgs = await waitFor(async () => {
      const m = tracked(await collector.messages(), "Leave");
      return m.length >= 50 && m;
    }, "50 events sent by the page that left", { timeout: 5000 });
    await new Promise((ok) => setTimeout(ok, 500)); // anything late would show now
    assert.equal(tracked(await collector.messages(), "Leave").length, 50);
    assert.equal(idCounts(msgs).duplicated, 0);
    const s = await collector.stats();
    console.log(`# ${mode} same-task navigation: ${msgs.length}/50 stored, requests ${s.requests}, gzipped ${s.compressed}, duplicates discarded ${s.duplicates}`);
    // pagehide sent the 50 plain with keepalive when their batch was still being gzipped (that
    // request then never leaves); a gzipped batch that had left went with keepalive (it fits
    // half the quota) and is handed over: no copy. Plain ("none"), the 50 events are over half
    // the quota, so their request goes without keepalive: the browser cancels it with the page
    // and, if it reached the collector anyway, the keepalive copy is 50 duplicates the
    // collector drops by messageId (acceptance unknown).
    if (mode === "none") {
      assert.ok(s.duplicates % 50 === 0 && s.duplicates <= 50 * (s.requests - 1), `a copy only where a cancelled request was stored too: ${JSON.stringify(s)}`);
    } else {
      assert.equal(s.duplicates, 0, JSON.stringify(s));
    }
    // Reopening the site: the browser took the keepalive request while the page was online
    // and the collector healthy, so the left page kept no copy: the next page sends none of
    // the 50 again (issue 17: it used to send all 50).
    const back = await openPage(ctx, site.url + "/");
    assert.equal(await back.evaluate(() => omnitrail.flush()), true);
    const again = await collector.stats();
    console.log(`# ${mode} after reopening: stored ${tracked(await collector.messages(), "Leave").length}, duplicates discarded ${again.duplicates - s.duplicates}`);
    assert.equal(again.duplicates, s.duplicates, "nothing sent again by the next page");
    assert.equal(tracked(await collector.messages(), "Leave").length, 50);
    assert.equal(idCounts(tracked(await collector.messages(), "Leave")).duplicated, 0);
    await ctx.close();
  });
}

test("a batch still being gzipped when the page is hidden leaves plain with keepalive at once; the gzipped one never", async () => {
  const ctx = await browser.newContext();
  // A CompressionStream that takes 800 ms: the batch is still in it when the page is hidden.
  await ctx.addInitScript(() => {
    const Real = window.CompressionStream;
    window.CompressionStream = class {
      constructor(format) {
        const real = new Real(format);
        const slow = new TransformStream({ async transform(chunk, c) { await new Promise((ok) => setTimeout(ok, 800)); c.enqueue(chunk); } });
        this.writable = real.writable;
        this.readable = real.readable.pipeThrough(slow);
      }
    };
  });
  const seen = recordBatches(ctx);
  const page = await openPage(ctx, gzipSite.url + "/");
  assert.equal(await page.evaluate(() => omnitrail.flush()), true);
  await collector.reset();
  const from = seen.length;
  await page.evaluate(async () => {
    for (let i = 0; i < 50; i++) omnitrail.track("Stalled", { i, sku: "tee-blue", price: 19.0 });
    await new Promise((ok) => setTimeout(ok, 50)); // the tick ran: the batch is in the stream
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  const msgs = await waitFor(async () => {
    const m = tracked(await collector.messages(), "Stalled");
    return m.length >= 50 && m;
  }, "50 events sent when hidden");
  await new Promise((ok) => setTimeout(ok, 1500)); // the stream is done by now
  const sent = carrying(seen.slice(from), "Stalled");
  assert.deepEqual(sent.map((r) => [r.gzip, r.batch.length]), [[false, 50]], "one plain request, no gzipped one");
  const s = await collector.stats();
  assert.deepEqual([s.requests, s.compressed, s.duplicates, msgs.length], [1, 0, 0, 50]);
  // Visible again: delivery goes on (gzipped), nothing of the above is sent again.
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await burst(page, "Visible again", 40);
  assert.equal(tracked(await collector.messages(), "Stalled").length, 50);
  assert.equal((await collector.stats()).duplicates, 0);
  assert.deepEqual(errors(page), []);
  await ctx.close();
});
