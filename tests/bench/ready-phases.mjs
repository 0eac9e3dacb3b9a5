// Where the time to ready goes (a program, not a test): the script-tag path, cold (a fresh
// browser context each run), in headless Chromium against the reference collector, split into
// phases from navigation start:
//   page      navigation start -> the snippet runs (HTML, config.js)
//   queue     snippet -> the loader's request starts (the module script is queued; negative
//             where the page's modulepreload hint requested it before the snippet ran)
//   loader    the loader's request (omnitrail.js: fetch to response end)
//   eval      the later of the loader's response end and the snippet -> the wasm's request
//             starts (module evaluation, picking the build: js/src/variant.js)
//   glue      the full build's glue module (omnitrail_full.js: fetch to response end;
//             requested with the wasm, in parallel; 0 on a core page, whose glue is in the loader)
//   wasm      the wasm's request (omnitrail_core_bg.wasm or omnitrail_bg.wasm: fetch to
//             response end)
//   compile   wasm response end -> instantiate resolved (streaming compile overlaps the fetch;
//             this is what is left after the last byte)
//   start     instantiate resolved -> `ready` (the constructor: storage, cookies, locks, the
//             identity endpoint, the first page view; then the snippet's queue replayed)
// and, inside `start`, the time and count of the page APIs the SDK calls (localStorage,
// document.cookie, navigator.locks, BroadcastChannel), hooked from an init script, and the
// fetches it starts (from resource timing). `fetch` is not wrapped: the SDK would take the
// wrapper for a page's replacement and fetch through an about:blank frame's fetch instead
// (js/src/builtins.js), which costs the page a frame (17-20 ms measured in `eval`) that a real
// page does not pay.
//   node tests/bench/ready-phases.mjs [--runs 15] [--eager] [--paths /about.html,/]
// --paths: the shop pages to open, one after the other in each round (interleaved), each with
// its own table: /about.html tracks only (the small core), / queues cart.onChange (the full
// build). Default: /.
// --without-hint: each page also without its modulepreload hint for the loader (README,
// "Install (script tag)"), interleaved: `<path>?nohint` is the same page with the hint's
// <link> removed on the way (Playwright routing of that document only, so its `page` phase
// is longer; compare the phases after it).
// --eager starts Chromium with --no-wasm-lazy-compilation: every wasm function is compiled
// before instantiate resolves, so what `start` loses against the default run is V8 compiling
// functions on their first call (Liftoff compiles lazily by default).
// Prints a table and writes tests/out/bench-ready-phases.json.
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { startCollector, startSite, launchBrowser, ROOT } from "../e2e/harness.mjs";

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : dflt; };
const runs = arg("--runs", 15);
const EAGER = process.argv.includes("--eager");
const GIVEN = (() => { const i = process.argv.indexOf("--paths"); return i >= 0 ? process.argv[i + 1].split(",") : ["/"]; })();
const PATHS = process.argv.includes("--without-hint") ? GIVEN.flatMap((p) => [p, p + "?nohint"]) : GIVEN;

// Runs before any page script: times WebAssembly instantiation, the snippet, `ready`, and
// every call of the page APIs the SDK uses (their time inside the call, and how many).
const HOOK = `(() => {
  const t = (window.__phase = { api: {} });
  const now = () => performance.now();
  const count = (name, ms) => { const a = t.api[name] || (t.api[name] = { n: 0, ms: 0 }); a.n++; a.ms += ms; };
  const wrap = (obj, key, name) => {
    const f = obj[key];
    if (typeof f !== "function") return;
    obj[key] = function () { const s = now(); try { return f.apply(this, arguments); } finally { count(name, now() - s); } };
  };
  for (const k of ["getItem", "setItem", "removeItem", "key"]) wrap(Storage.prototype, k, "storage." + k);
  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  Object.defineProperty(Document.prototype, "cookie", { configurable: true,
    get() { const s = now(); try { return cookie.get.call(this); } finally { count("cookie.get", now() - s); } },
    set(v) { const s = now(); try { cookie.set.call(this, v); } finally { count("cookie.set", now() - s); } } });
  if (navigator.locks) wrap(LockManager.prototype, "request", "locks.request");
  const BC = window.BroadcastChannel;
  if (BC) window.BroadcastChannel = function (n) { count("BroadcastChannel", 0); return new BC(n); };
  for (const k of ["instantiateStreaming", "instantiate"]) {
    const f = WebAssembly[k];
    WebAssembly[k] = function () {
      t.instantiateStart ??= now();
      return f.apply(this, arguments).then((r) => { t.instantiateEnd = now(); t.apiAtInstantiate = JSON.parse(JSON.stringify(t.api)); return r; });
    };
  }
  Object.defineProperty(window, "omnitrail", { configurable: true, set(v) {
    t.snippet = now();
    Object.defineProperty(window, "omnitrail", { value: v, writable: true, configurable: true });
    queueMicrotask(() => v.ready && v.ready.then(() => { t.ready = now(); t.apiAtReady = JSON.parse(JSON.stringify(t.api)); }));
  } });
})();`;

const collector = await startCollector();
const site = await startSite({ config: { writeKey: "demo", endpoint: collector.url } });
const browser = await launchBrowser(EAGER ? { args: ["--js-flags=--no-wasm-lazy-compilation"] } : {});
const load = loadavg().map((x) => x.toFixed(2)).join(" / ");

const samples = [];
for (let i = 0; i < runs * PATHS.length; i++) {
  const path = PATHS[i % PATHS.length];
  const ctx = await browser.newContext();
  await ctx.addInitScript(HOOK);
  const page = await ctx.newPage();
  await ctx.route((u) => u.searchParams.has("nohint"), async (route) => {
    const res = await route.fetch();
    const html = (await res.text()).replace(/<link rel="modulepreload"[^>]*>/, "");
    await route.fulfill({ response: res, body: html });
  });
  await page.goto(site.url + path);
  await page.waitForFunction(() => window.__phase.ready !== undefined, null, { timeout: 20000 });
  samples.push(await page.evaluate((path) => {
    const t = window.__phase;
    const res = (re) => performance.getEntriesByType("resource").find((e) => re.test(e.name.split("?")[0]));
    const js = res(/\/omnitrail\.js$/), wasm = res(/_bg\.wasm$/), glue = res(/\/omnitrail_(core|full)\.js$/);
    const api = {};
    for (const [k, v] of Object.entries(t.apiAtReady)) {
      const before = t.apiAtInstantiate[k] || { n: 0, ms: 0 };
      if (v.n - before.n) api[k] = { n: v.n - before.n, ms: v.ms - before.ms };
    }
    const fetches = performance.getEntriesByType("resource").filter((e) => e.initiatorType === "fetch" && e.startTime >= t.instantiateEnd && e.startTime <= t.ready).length;
    if (fetches) api.fetch = { n: fetches, ms: 0 };
    return {
      path, build: wasm.name.includes("_core_") ? "core" : "full",
      page: t.snippet, queue: js.startTime - t.snippet, loader: js.responseEnd - js.startTime,
      eval: wasm.startTime - Math.max(js.responseEnd, t.snippet), glue: glue ? glue.responseEnd - glue.startTime : 0, wasm: wasm.responseEnd - wasm.startTime,
      compile: t.instantiateEnd - wasm.responseEnd, start: t.ready - t.instantiateEnd, ready: t.ready,
      wasmBytes: wasm.encodedBodySize, api,
    };
  }, path));
  await ctx.close();
}
await browser.close();
await site.stop();
await collector.stop();

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const phases = ["page", "queue", "loader", "eval", "glue", "wasm", "compile", "start", "ready"];
const tables = {}, apisByPath = {};
for (const path of PATHS) {
  const mine = samples.filter((s) => s.path === path);
  const table = (tables[`${path} (${mine[0].build})`] = {});
  for (const p of phases) table[p] = { medianMs: +median(mine.map((s) => s[p])).toFixed(1), minMs: +Math.min(...mine.map((s) => s[p])).toFixed(1), maxMs: +Math.max(...mine.map((s) => s[p])).toFixed(1) };
  const apis = (apisByPath[path] = {});
  for (const k of new Set(mine.flatMap((s) => Object.keys(s.api)))) {
    apis[k] = { calls: median(mine.map((s) => s.api[k]?.n ?? 0)), medianMs: +median(mine.map((s) => s.api[k]?.ms ?? 0)).toFixed(2) };
  }
}
const sizes = JSON.parse(readFileSync(join(ROOT, "js/dist/sizes.json"), "utf8"));
const result = { date: new Date().toISOString(), runs, eagerWasmCompilation: EAGER, loadAverageAtStart: load, pages: sizes.pages, phases: tables, apisDuringStart: apisByPath, samples };
for (const [name, table] of Object.entries(tables)) {
  console.log(`where the cold time to ready goes, ${name}, script tag, headless Chromium${EAGER ? " with eager wasm compilation" : ""} (${runs} runs, load ${load}):`);
  console.table(table);
}
console.log("page APIs called between instantiate and ready (median calls, median ms inside them):");
for (const [path, apis] of Object.entries(apisByPath)) { console.log(path); console.table(apis); }
mkdirSync(join(ROOT, "tests/out"), { recursive: true });
writeFileSync(join(ROOT, `tests/out/bench-ready-phases${EAGER ? "-eager" : ""}.json`), JSON.stringify(result, null, 2));
