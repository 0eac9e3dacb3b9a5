// End-to-end: `compression: "gzip"` in real Chromium against the reference collector. Batches
// leave gzipped by the browser's CompressionStream and marked `?compression=gzip`; every event
// still arrives exactly once; keepalive sends on pagehide stay plain; without the API, or when
// it fails, the plain body goes.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { startCollector, startSite, launchBrowser, openPage, waitFor, idCounts } from "./harness.mjs";

const GZIP_MIN_BYTES = 1024; // src/wire.rs
let collector, gzipSite, plainSite, waitingSite, browser;

before(async () => {
  collector = await startCollector();
  const base = { writeKey: "demo", endpoint: collector.url, flushInterval: 200 };
  gzipSite = await startSite({ config: { ...base, compression: "gzip" } });
  plainSite = await startSite({ config: base }); // the default
  // Events wait (no count or age trigger within the test): only pagehide sends them.
  waitingSite = await startSite({ config: { ...base, compression: "gzip", flushAt: 1000, flushInterval: 600000 } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  for (const s of [gzipSite, plainSite, waitingSite]) await s?.stop();
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

test("default: nothing is compressed", async () => {
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
  assert.ok(logs.some((l) => l === 'error: omnitrail: config.compression must be "gzip" or "none"'), logs.join("\n"));
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
