// Benchmark (a program, not a test): the cost of js/src/builtins.js's `stringify` against the
// browser's JSON.stringify, in headless Chromium, on a clean page and on a page with
// prototype.js 1.6's Array.prototype.toJSON (where the replacer runs). Prints a table and
// writes tests/out/bench-stringify.json.
//   node tests/bench/stringify.mjs [--calls 200000] [--runs 5]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSite, launchBrowser, ROOT } from "../e2e/harness.mjs";

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : dflt; };
const CALLS = arg("--calls", 200000);
const RUNS = arg("--runs", 5);

const site = await startSite({ root: join(ROOT, "js/src") });
const browser = await launchBrowser();
const results = [];
for (const polluted of [false, true]) {
  const page = await browser.newPage();
  await page.goto(site.url + "/no-page"); // any document of the site's origin
  const r = await page.evaluate(async ({ calls, runs, polluted }) => {
    if (polluted) Array.prototype.toJSON = function () { return "[" + this.length + "]"; };
    const { stringify } = await import("/builtins.js");
    // The burst's properties (tests/bench/burst.mjs) and a nested object with arrays and a Date.
    const shapes = {
      burst: (i) => ({ i, sku: "tee-blue", price: 19.0 }),
      nested: (i) => ({ i, items: [{ sku: "a", qty: 2, tags: ["x", "y"] }], meta: { list: [1, 2, 3], o: { p: null } }, when: new Date(0) }),
    };
    const out = {};
    for (const [shape, make] of Object.entries(shapes)) {
      const values = Array.from({ length: 1000 }, (_, i) => make(i));
      for (const [fn, f] of [["JSON.stringify", JSON.stringify], ["builtins stringify", stringify]]) {
        const us = [];
        for (let r = 0; r < runs; r++) {
          let n = 0;
          const t0 = performance.now();
          for (let i = 0; i < calls; i++) n += f(values[i % 1000]).length;
          us.push(((performance.now() - t0) * 1000) / calls);
          if (!n) throw new Error("no output");
        }
        us.sort((a, b) => a - b);
        out[`${shape} / ${fn}`] = { median: us[Math.floor(us.length / 2)], min: us[0], max: us[us.length - 1], sample: f(values[1]) };
      }
    }
    return out;
  }, { calls: CALLS, runs: RUNS, polluted });
  for (const [k, v] of Object.entries(r)) results.push({ page: polluted ? "Array.prototype.toJSON" : "clean", call: k, ...v });
  await page.close();
}
await browser.close();
await site.stop();
console.table(results.map(({ page, call, median, min, max }) => ({ page, call, "µs median": +median.toFixed(3), min: +min.toFixed(3), max: +max.toFixed(3) })));
for (const r of results) console.log(`${r.page} | ${r.call} | ${r.sample}`);
mkdirSync(`${ROOT}/tests/out`, { recursive: true });
writeFileSync(`${ROOT}/tests/out/bench-stringify.json`, JSON.stringify({ calls: CALLS, runs: RUNS, load: (await import("node:os")).loadavg(), results }, null, 2));
