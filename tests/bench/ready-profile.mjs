// Where the main thread's time goes on a cold script-tag load (a program, not a test): a CPU
// profile (CDP Profiler, 50 µs sampling) from navigation to `omnitrail.ready`, self time summed
// by function over N fresh browser contexts. For wasm function names, profile a build whose
// wasm keeps its name section (wasm-opt -g; scripts/build.sh strips it), e.g.:
//   wasm-bindgen --target web --no-typescript --out-dir /tmp/pkg \
//     target/wasm32-unknown-unknown/wasm-release/omnitrail.wasm
//   js/node_modules/.bin/wasm-opt -g -Oz --minify-imports-and-exports-and-modules \
//     <the build.sh --enable-* flags> /tmp/pkg/omnitrail_bg.wasm -o js/dist/omnitrail_bg.wasm
// (the glue in js/dist calls the wasm by minified names; wasm-opt gives the same names whenever
// the wasm-bindgen output is the same: they follow the order of the imports and exports)
//   node tests/bench/ready-profile.mjs [--runs 8] [--top 40]
// Prints the top functions (ms per load) and writes tests/out/bench-ready-profile.json.
// This is how the 17–52 ms `Intl.DateTimeFormat` construction on the way to ready was found
// (BENCHMARKS.md, "Where the time to ready goes").
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { startCollector, startSite, launchBrowser, ROOT } from "../e2e/harness.mjs";

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : dflt; };
const runs = arg("--runs", 8);
const top = arg("--top", 40);

const collector = await startCollector();
const site = await startSite({ config: { writeKey: "demo", endpoint: collector.url } });
const browser = await launchBrowser();
const load = loadavg().map((x) => x.toFixed(2)).join(" / ");
const self = new Map();
let sampled = 0;
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
  await cdp.send("Profiler.start");
  await page.goto(site.url + "/");
  await page.evaluate(() => window.omnitrail.ready);
  const { profile } = await cdp.send("Profiler.stop");
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, k) => {
    const f = nodes.get(id).callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}`.trim();
    const ms = (profile.timeDeltas[k] ?? 0) / 1000;
    self.set(key, (self.get(key) ?? 0) + ms);
    sampled += ms;
  });
  await ctx.close();
}
await browser.close();
await site.stop();
await collector.stop();

const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, ms]) => ({ fn, msPerLoad: +(ms / runs).toFixed(2) }));
console.log(`cold script-tag load to ready, self time per load (${runs} runs, load ${load}; ${(sampled / runs).toFixed(1)} ms sampled per load):`);
console.table(rows);
mkdirSync(join(ROOT, "tests/out"), { recursive: true });
writeFileSync(join(ROOT, "tests/out/bench-ready-profile.json"), JSON.stringify({ date: new Date().toISOString(), runs, loadAverageAtStart: load, rows }, null, 2));
