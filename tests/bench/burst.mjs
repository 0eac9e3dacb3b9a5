// Benchmark (a program, not a test): a burst of N `track` calls on the demo shop in headless
// Chromium against the reference collector. Prints a table and writes tests/out/bench-burst.json.
//   node tests/bench/burst.mjs [--events 10000] [--runs 5] [--compression gzip|none] [--landing]
// --compression sets the SDK's `compression` option (without it the SDK's default applies);
// --landing opens the shop on a campaign landing URL (utm_* + gclid, as an ad click would)
// instead of `/`, so that messages carry that page's campaign and touchpoint.
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { startCollector, startSite, launchBrowser, openPage, waitFor, ROOT } from "../e2e/harness.mjs";

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : dflt; };
const N = arg("--events", 10000);
const RUNS = arg("--runs", 5);
const ci = process.argv.indexOf("--compression");
const COMPRESSION = ci >= 0 ? process.argv[ci + 1] : undefined;
const LANDING = process.argv.includes("--landing")
  ? "/?utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale_2026&utm_content=hero_banner&gclid=Cj0KCQiA2KitBhCIARIsAPPMEhK7x3kq9fH2Zr5tW1yN8uVbQpL4mX6cD0eG"
  : "/";

const collector = await startCollector();
const site = await startSite({ config: { writeKey: "demo", endpoint: collector.url, ...(COMPRESSION && { compression: COMPRESSION }) } });
const browser = await launchBrowser();
const runs = [];
for (let r = 0; r < RUNS; r++) {
  await collector.reset();
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + LANDING);
  await page.evaluate(() => omnitrail.flush());
  await collector.reset();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Performance.enable");
  const cpu0 = (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "TaskDuration").value;
  const res = await page.evaluate(async (n) => {
    const longTasks = [];
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); });
    obs.observe({ type: "longtask", buffered: false });
    const heap0 = performance.memory?.usedJSHeapSize ?? 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) omnitrail.track("Burst", { i, sku: "tee-blue", price: 19.0 });
    const t1 = performance.now();
    // The coalesced tick (persist + first batch) runs as a microtask right after this task.
    await new Promise((ok) => setTimeout(ok, 0));
    const t2 = performance.now();
    const flushed = await omnitrail.flush();
    const t3 = performance.now();
    await new Promise((ok) => setTimeout(ok, 100));
    obs.disconnect();
    return { loopMs: t1 - t0, tickMs: t2 - t1, deliverMs: t3 - t1, flushed, longTasks,
      heapMB: ((performance.memory?.usedJSHeapSize ?? 0) - heap0) / 1048576, stats: omnitrail.stats() };
  }, N);
  const cpu1 = (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "TaskDuration").value;
  const delivered = await waitFor(async () => {
    const s = await collector.stats();
    return (s.byEvent?.Burst ?? 0) >= N && s;
  }, `${N} events at the collector`, { timeout: 60000 });
  runs.push({ ...res, usPerCall: (res.loopMs * 1000) / N, rendererCpuMs: (cpu1 - cpu0) * 1000,
    delivered: delivered.byEvent.Burst, duplicates: delivered.duplicates, requests: delivered.requests,
    compressed: delivered.compressed ?? 0, wireBytesPerEvent: (delivered.bodyBytes ?? NaN) / delivered.received });
  await ctx.close();
}
await browser.close();
await site.stop();
await collector.stop();

const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const row = (name, key, digits = 2) => {
  const xs = runs.map((r) => (typeof key === "function" ? key(r) : r[key]));
  return { metric: name, median: +med(xs).toFixed(digits), min: +Math.min(...xs).toFixed(digits), max: +Math.max(...xs).toFixed(digits) };
};
const table = [
  row("µs per track() call", "usPerCall"),
  row("loop ms (main thread)", "loopMs", 1),
  row("coalesced tick ms (persist + first batch)", "tickMs", 1),
  row("ms until all acknowledged", "deliverMs", 0),
  row("renderer main-thread task ms (CDP TaskDuration)", "rendererCpuMs", 0),
  row("long tasks (> 50 ms)", (r) => r.longTasks.length, 0),
  row("longest long task ms", (r) => Math.max(0, ...r.longTasks), 0),
  row("JS heap growth MB", "heapMB", 2),
  row("events delivered", "delivered", 0),
  row("batches (requests)", "requests", 0),
  row("… of them gzip-compressed", "compressed", 0),
  row("wire bytes per event (request bodies as sent / events)", "wireBytesPerEvent", 1),
  row("duplicates at collector", "duplicates", 0),
];
const sizes = JSON.parse(readFileSync(`${ROOT}/js/dist/sizes.json`, "utf8"));
console.log(`burst of ${N} track() calls, ${RUNS} runs, headless Chromium, shipped ${sizes.total.gzip} B gzip, compression ${COMPRESSION ?? "(default)"}, landing ${LANDING}`);
console.table(table);
mkdirSync(`${ROOT}/tests/out`, { recursive: true });
writeFileSync(`${ROOT}/tests/out/bench-burst.json`, JSON.stringify({ events: N, runs: RUNS, compression: COMPRESSION ?? null, landing: LANDING, table, raw: runs.map(({ stats, longTasks, ...r }) => ({ ...r, longTasks })), sizes }, null, 2));
