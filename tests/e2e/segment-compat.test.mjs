// Compatibility: a client we did not write — Segment's @segment/analytics-next from npm, in
// batching mode — delivers to the reference collector, and its events are stored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../../js/node_modules/esbuild/lib/main.js";
import { ROOT, startCollector, startSite, launchBrowser, waitFor } from "./harness.mjs";

let collector, site, browser;
before(async () => {
  collector = await startCollector();
  const dir = mkdtempSync(join(tmpdir(), "segment-compat-"));
  await build({
    entryPoints: [join(ROOT, "tests/e2e/compat/segment-app.js")],
    bundle: true, format: "esm", minify: true, target: "es2022", outfile: join(dir, "app.js"), logLevel: "warning",
    nodePaths: [join(ROOT, "tests/node_modules")],
  });
  const apiHost = collector.url.replace(/^http:\/\//, "") + "/v1";
  writeFileSync(join(dir, "index.html"), `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Segment client</title><script>window.COMPAT=${JSON.stringify({ writeKey: "demo", apiHost })}</script>
<script type="module" src="/app.js"></script></head><body>segment</body></html>`);
  site = await startSite({ root: dir });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await collector?.stop();
});

test("@segment/analytics-next (batching) delivers its events to the collector, stored once each", async () => {
  const ctx = await browser.newContext();
  const foreign = [];
  const collectorHost = new URL(collector.url).host, siteHost = new URL(site.url).host;
  await ctx.route("**/*", (route) => {
    const host = new URL(route.request().url()).host;
    if (host === collectorHost || host === siteHost) return route.continue();
    foreign.push(route.request().url());
    return route.abort();
  });
  const page = await ctx.newPage();
  await page.goto(site.url + "/");
  await page.waitForFunction(() => window.segment);
  await page.evaluate(async () => {
    await window.segment.page();
    await window.segment.identify("seg-user-1", { plan: "pro" });
    for (let i = 0; i < 12; i++) await window.segment.track("Segment Event", { i });
  });
  const msgs = await waitFor(async () => {
    const m = await collector.messages();
    return m.filter((x) => x.event === "Segment Event").length === 12 && m;
  }, "12 track events from analytics-next", { timeout: 30000 });
  const stats = await collector.stats();
  assert.equal(stats.duplicates, 0);
  assert.ok(msgs.some((m) => m.type === "page"));
  assert.equal(msgs.find((m) => m.type === "identify").userId, "seg-user-1");
  const t = msgs.find((m) => m.event === "Segment Event");
  assert.match(t.messageId, /\S/);
  assert.equal(t.context.library.name, "analytics.js");
  assert.deepEqual(foreign, [], "analytics-next reached no other host");
  console.log(`segment-compat: ${msgs.length} messages stored from analytics-next in ${stats.requests} requests`);
  await ctx.close();
});
