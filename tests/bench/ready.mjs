// Time to ready of the script-tag path in headless Chromium: from navigation start to the
// snippet's `omnitrail.ready` (the wasm fetched, compiled and instantiated, the queue
// replayed), cold (a fresh browser context: nothing cached) and warm (a reload).
//   node tests/bench/ready.mjs [--runs 15]
// Prints a table and writes tests/out/bench-ready.json.
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { startCollector, startSite, launchBrowser, ROOT } from "../e2e/harness.mjs";

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : dflt; };
const runs = arg("--runs", 15);

// Records when `omnitrail.ready` resolves, from the moment the snippet defines window.omnitrail.
const HOOK = `Object.defineProperty(window, "omnitrail", { configurable: true, set(v) {
  Object.defineProperty(window, "omnitrail", { value: v, writable: true, configurable: true });
  queueMicrotask(() => v.ready && v.ready.then(() => { window.__readyAt = performance.now(); }));
} });`;

const collector = await startCollector();
const site = await startSite({ config: { writeKey: "demo", endpoint: collector.url } });
const browser = await launchBrowser();
const load = loadavg().map((x) => x.toFixed(2)).join(" / ");

async function once(page, nav) {
  await nav();
  await page.waitForFunction(() => window.__readyAt !== undefined, null, { timeout: 20000 });
  return page.evaluate(() => ({
    ready: window.__readyAt,
    dcl: performance.getEntriesByType("navigation")[0]?.domContentLoadedEventEnd ?? null,
  }));
}

const cold = [], warm = [];
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext();
  await ctx.addInitScript(HOOK);
  const page = await ctx.newPage();
  cold.push(await once(page, () => page.goto(site.url + "/")));
  warm.push(await once(page, () => page.reload()));
  await ctx.close();
}
await browser.close();
await site.stop();
await collector.stop();

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const stat = (xs) => ({ median: +median(xs).toFixed(1), min: +Math.min(...xs).toFixed(1), max: +Math.max(...xs).toFixed(1) });
const sizes = JSON.parse(readFileSync(join(ROOT, "js/dist/sizes.json"), "utf8"));
const result = {
  date: new Date().toISOString(), runs, loadAverageAtStart: load, shippedGzip: sizes.total.gzip,
  coldReadyMs: stat(cold.map((r) => r.ready)), warmReadyMs: stat(warm.map((r) => r.ready)),
  coldDomContentLoadedMs: stat(cold.map((r) => r.dcl)),
};
console.log(`time to ready, script tag, headless Chromium (${runs} runs, load ${load}):`);
console.log(`  cold (fresh context): median ${result.coldReadyMs.median} ms (${result.coldReadyMs.min}–${result.coldReadyMs.max}); DOMContentLoaded ${result.coldDomContentLoadedMs.median} ms`);
console.log(`  warm (reload, cached): median ${result.warmReadyMs.median} ms (${result.warmReadyMs.min}–${result.warmReadyMs.max})`);
mkdirSync(join(ROOT, "tests/out"), { recursive: true });
writeFileSync(join(ROOT, "tests/out/bench-ready.json"), JSON.stringify(result, null, 2));
