// Side-by-side benchmark (a program, not a test): Omnitrail against popular browser tracking
// SDKs and a hand-written minimal tracker, in headless Chromium against local sinks on 127.0.0.1.
// Runs interleaved (A B C … A B C …), reports medians with min–max, prints a table and writes
// tests/out/bench-compare.json.
//   node tests/bench/compare.mjs [--rounds 3] [--events 10000] [--only omnitrail,plain]
//        [--call-budget 20000] [--settle-max 15000] [--settle-idle 6000]   (ms)
//        [--unload | --unload-only] [--intercept]
// --unload adds (--unload-only runs only) issue 17's unload scenario for every SDK and
// Omnitrail with `compression: "gzip"` (tests/bench/unload-scenario.mjs): 50 track calls of a
// 13-property event, then navigation (`page.goto`, or `location.href` in the same task), then
// the page reopened; counted at the sink per protocol id (messageId / eid / uuid / insert_id).
// First run installs the pinned SDKs into tests/bench/node_modules (`npm ci`).
import { execFileSync } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync, gunzipSync, brotliCompressSync, constants as Z } from "node:zlib";
import { cpus, totalmem, loadavg } from "node:os";

const git = (...a) => { try { return execFileSync("git", a, { cwd: HERE, encoding: "utf8" }).trim(); } catch { return "?"; } };
const HERE = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const ROUNDS = Number(opt("--rounds", 3));
const N = Number(opt("--events", 10000));
// A burst stops early after this long (checked every 64 calls), so that an SDK whose calls get
// slower as its queue grows cannot hold the run for minutes; the table then says how many calls were made.
const CALL_BUDGET_MS = Number(opt("--call-budget", 20000));
const SETTLE_MAX_MS = Number(opt("--settle-max", 15000)); // per run, after the burst
const SETTLE_IDLE_MS = Number(opt("--settle-idle", 6000)); // no new event for this long = settled
const UNLOAD_ONLY = argv.includes("--unload-only");
const UNLOAD = UNLOAD_ONLY || argv.includes("--unload");
// Hosts other than 127.0.0.1 do not resolve, so no SDK reaches its vendor; the page's own
// requests go straight to the local servers. --intercept instead routes every request through
// Playwright, the method before 2026-12-06: a round trip to this process per request, paid on
// each step of an SDK's request chain (paired medians: Omnitrail's time to ready +14.3 ms, the
// floor's +5.7; BENCHMARKS.md, "Shortening the serial chain").
const INTERCEPT = argv.includes("--intercept");
const BROWSER_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"];

if (!existsSync(join(HERE, "node_modules/esbuild"))) {
  console.error("installing the benchmark's pinned packages (npm ci in tests/bench) …");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: HERE, stdio: "inherit" });
}
const { startCollector, launchBrowser, waitFor, ROOT } = await import("../e2e/harness.mjs");
const esbuild = (await import("esbuild")).default;
const unloadScenario = await import("./unload-scenario.mjs");

// `unload: false`: not in the unload scenario (50 events are under posthog's rate limit: the
// same as posthog); `burst: false`: only in the unload scenario.
const SDKS = [
  { name: "omnitrail", label: "Omnitrail", pkg: null, protocol: "segment" },
  { name: "omnitrail-gzip", label: "Omnitrail, compression: \"gzip\"", pkg: null, protocol: "segment", config: { compression: "gzip" }, burst: false },
  { name: "segment", label: "@segment/analytics-next", pkg: "@segment/analytics-next", protocol: "segment" },
  { name: "rudderstack", label: "@rudderstack/analytics-js", pkg: "@rudderstack/analytics-js", protocol: "segment" },
  { name: "snowplow", label: "@snowplow/browser-tracker", pkg: "@snowplow/browser-tracker", protocol: "snowplow" },
  { name: "posthog", label: "posthog-js", pkg: "posthog-js", protocol: "posthog" },
  { name: "posthog-unlimited", label: "posthog-js, rate limit raised", pkg: "posthog-js", protocol: "posthog", unload: false },
  { name: "amplitude", label: "@amplitude/analytics-browser", pkg: "@amplitude/analytics-browser", protocol: "amplitude" },
  { name: "plain", label: "plain JS (floor)", pkg: null, protocol: "segment" },
].filter((s) => !opt("--only") || opt("--only").split(",").includes(s.name));
const BURST_SDKS = UNLOAD_ONLY ? [] : SDKS.filter((s) => s.burst !== false);
const UNLOAD_SDKS = UNLOAD ? SDKS.filter((s) => s.unload !== false) : [];

const version = (pkg) => JSON.parse(readFileSync(join(HERE, "node_modules", pkg, "package.json"), "utf8")).version;
const OUT = join(ROOT, "tests/out/bench-compare");
const SITE = join(OUT, "site"); // pages at /p/<sdk>/, Omnitrail's files at /omnitrail/

// ---- build one track-only page per SDK (esbuild: bundle + minify, ESM, code splitting) ----
const HEAD = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script>window.__lt=[];try{new PerformanceObserver(function(l){for(const e of l.getEntries())__lt.push([e.startTime,e.duration])}).observe({type:"longtask",buffered:true})}catch(e){}</script>`;
function buildPages(sinkUrl) {
  rmSync(SITE, { recursive: true, force: true });
  const benchCfg = `<script>window.BENCH={sink:${JSON.stringify(sinkUrl)}}</script>`;
  for (const sdk of SDKS) {
    const dir = join(SITE, sdk.name);
    mkdirSync(dir, { recursive: true });
    if (sdk.name.startsWith("omnitrail")) {
      // The script-tag install of the README: config + the inline snippet; the snippet loads
      // /omnitrail/omnitrail.js, which loads omnitrail_bg.wasm.
      // a copy of js/dist taken now, so a rebuild in the tree during the run changes nothing
      mkdirSync(join(SITE, "omnitrail-dist"), { recursive: true });
      for (const f of ["omnitrail.js", "omnitrail_core_bg.wasm", "omnitrail_full.js", "omnitrail_bg.wasm", "snippet.min.js", "sizes.json"]) writeFileSync(join(SITE, "omnitrail-dist", f), readFileSync(join(ROOT, "js/dist", f)));
      const snippet = readFileSync(join(SITE, "omnitrail-dist/snippet.min.js"), "utf8").trim();
      const cfg = { writeKey: "bench", endpoint: sinkUrl, src: "/omnitrail/omnitrail.js", ...sdk.config };
      writeFileSync(join(dir, "index.html"), `${HEAD}${benchCfg}
<script>window.OMNITRAIL_CONFIG=${JSON.stringify(cfg)};</script>
<script>${snippet}</script>
<script>omnitrail.ready.then(function(){window.__track=function(e,p){omnitrail.track(e,p)};window.__bench={sdk:${JSON.stringify(sdk.name)},readyAt:performance.now()}});</script>`);
      continue;
    }
    esbuild.buildSync({
      entryPoints: { main: join(HERE, "sdks", `${sdk.name}.js`) }, outdir: dir, bundle: true, minify: true,
      format: "esm", splitting: true, platform: "browser", target: "es2022", legalComments: "none",
      define: { "process.env.NODE_ENV": '"production"' }, logLevel: "error",
    });
    writeFileSync(join(dir, "index.html"), `${HEAD}${benchCfg}\n<script type="module" src="./main.js"></script>`);
  }
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };
async function startStatic() {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      let file = path.startsWith("/omnitrail/") ? join(SITE, "omnitrail-dist", normalize(path.slice(11))) : join(SITE, normalize(path.replace(/^\/p\//, "/")));
      if ((await stat(file).catch(() => null))?.isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(body);
    } catch { res.writeHead(404); res.end(); }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }) };
}

// ---- the sink: proxies /v1/* to the reference collector, counts the other SDKs' own protocols ----
// `leave`: the unload scenario's events (name unloadScenario.EVENT): copies received, copies per
// event index and per protocol id, and the requests that carried them (bytes, all their events).
function newCounts() {
  return { events: 0, requests: 0, bodyBytes: 0, compressedRequests: 0, encodings: new Set(), sent: 0, other: 0, otherPaths: new Set(), statuses: {}, answers: [],
    preflights: 0, preflightPaths: new Set(),
    leave: { copies: 0, byIndex: new Map(), byId: new Map(), requests: 0, compressed: 0, bytes: 0, events: 0, encodings: new Set() } };
}
function startSink(collectorUrl) {
  const state = { current: "none", counts: newCounts() };
  const cors = (req) => ({
    "access-control-allow-origin": req.headers.origin ?? "*", "access-control-allow-credentials": "true",
    "access-control-allow-methods": "GET, POST, OPTIONS", "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
    "access-control-max-age": "600",
  });
  // Every event of a request body as { name, i (the `i` property), id (the protocol's own event
  // id: Segment messageId, Snowplow eid, PostHog uuid, Amplitude insert_id) }.
  const eventsOf = (sdkProtocol, raw) => {
    const out = [];
    try {
      if (sdkProtocol === "segment") {
        const j = JSON.parse(raw);
        for (const m of j.batch ?? [j]) out.push({ name: m.event, i: m.properties?.i, id: m.messageId });
      } else if (sdkProtocol === "snowplow") {
        const j = JSON.parse(raw);
        for (const e of j.data ?? []) {
          const ue = e.ue_pr ?? (e.ue_px ? Buffer.from(e.ue_px, "base64").toString() : "");
          let data = null;
          try { data = e.e === "ue" ? JSON.parse(ue).data?.data : null; } catch { /* not JSON */ }
          out.push({ name: data?.event, i: data?.i, id: e.eid });
        }
      } else if (sdkProtocol === "posthog") {
        let j;
        try { j = JSON.parse(raw); } catch { j = JSON.parse(Buffer.from(new URLSearchParams(raw).get("data") ?? "", "base64").toString()); }
        for (const e of j.batch ?? (Array.isArray(j) ? j : [j])) out.push({ name: e.event, i: e.properties?.i, id: e.uuid });
      } else if (sdkProtocol === "amplitude") {
        for (const e of JSON.parse(raw).events ?? []) out.push({ name: e.event_type, i: e.event_properties?.i, id: e.insert_id });
      }
    } catch { /* unparsable: counts 0 */ }
    return out;
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, "http://x");
      const c = state.counts;
      const sdk = SDKS.find((s) => s.name === state.current);
      if (req.method === "OPTIONS") { c.preflights++; c.preflightPaths.add(url.pathname); res.writeHead(204, cors(req)); res.end(); return; }
      const isEvents = /^\/v1\/|^\/com\.snowplowanalytics\.snowplow\/tp2|^\/i$|^\/ph\/(e|i\/v0\/e|batch|capture|track)\/?$|^\/amp\/2\/httpapi/.test(url.pathname);
      if (isEvents) {
        c.requests++; c.bodyBytes += body.length;
        const gz = body[0] === 0x1f && body[1] === 0x8b;
        const enc = req.headers["content-encoding"] ?? (gz ? "gzip (magic bytes)" : url.searchParams.get("compression") ?? "");
        // posthog's `compression=base64` (its sendBeacon form body) is an encoding, not compression
        const compressed = gz || /gzip|deflate|br/.test(enc);
        if (enc) c.encodings.add(enc);
        if (compressed) c.compressedRequests++;
        let raw = gz ? gunzipSync(body).toString() : body.toString();
        if (req.method === "GET" && url.pathname === "/i") raw = JSON.stringify({ data: [Object.fromEntries(url.searchParams)] });
        const evs = eventsOf(sdk?.protocol, raw);
        c.sent += evs.filter((e) => e.name === "Bench").length; c.events += evs.length;
        const left = evs.filter((e) => e.name === unloadScenario.EVENT);
        if (left.length) {
          const l = c.leave;
          l.requests++; l.bytes += body.length; l.events += evs.length; l.copies += left.length;
          if (compressed) l.compressed++;
          if (enc) l.encodings.add(enc);
          for (const e of left) {
            l.byIndex.set(e.i, (l.byIndex.get(e.i) ?? 0) + 1);
            l.byId.set(e.id, (l.byId.get(e.id) ?? 0) + 1);
          }
        }
      }
      if (url.pathname.startsWith("/v1/")) {
        // forward to the reference collector, headers and body unchanged
        // analytics-next sends single events to /t, /p, /i, /g, /a, /s: Segment's API names
        const short = { t: "track", p: "page", i: "identify", g: "group", a: "alias", s: "screen" };
        const path = req.url.replace(/^\/v1\/([tpigas])(?=$|\?)/, (_, k) => `/v1/${short[k]}`);
        const fwd = httpRequest(collectorUrl + path, { method: req.method, headers: { ...req.headers, host: new URL(collectorUrl).host } }, (up) => {
          c.statuses[up.statusCode] = (c.statuses[up.statusCode] ?? 0) + 1;
          res.writeHead(up.statusCode, up.headers);
          const parts = [];
          up.on("data", (d) => { parts.push(d); res.write(d); });
          up.on("end", () => {
            res.end();
            // keep a few collector answers (rejections explain "sent but not stored")
            if (c.answers.length < 3) c.answers.push(`${up.statusCode} ${Buffer.concat(parts).toString().slice(0, 400)}`);
          });
        });
        fwd.on("error", () => { res.writeHead(502); res.end(); });
        fwd.end(body);
        return;
      }
      const h = { ...cors(req), "content-type": "application/json" };
      if (isEvents) { c.statuses[200] = (c.statuses[200] ?? 0) + 1; res.writeHead(200, h); res.end(url.pathname.startsWith("/amp") ? '{"code":200}' : "{}"); return; }
      if (url.pathname.startsWith("/rs/sourceConfig")) {
        res.writeHead(200, h);
        res.end(JSON.stringify({ isHosted: false, source: { id: "bench", name: "bench", writeKey: "bench", workspaceId: "bench", enabled: true, config: {}, destinations: [] } }));
        return;
      }
      if (/^\/ph\/array\/.*\/config\.js$/.test(url.pathname)) { res.writeHead(200, { ...h, "content-type": "text/javascript" }); res.end(""); return; }
      if (/^\/ph\/array\/.*\/config$/.test(url.pathname)) { res.writeHead(200, h); res.end("{}"); return; }
      if (/^\/ph\/(flags|decide)/.test(url.pathname)) {
        res.writeHead(200, h);
        res.end(JSON.stringify({ featureFlags: {}, flags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false, sessionRecording: false, supportedCompression: ["gzip-js"] }));
        return;
      }
      c.other++; c.otherPaths.add(`${req.method} ${url.pathname}`);
      res.writeHead(404, h); res.end();
    });
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok({
    url: `http://127.0.0.1:${server.address().port}`, state,
    begin(name) { state.current = name; state.counts = newCounts(); },
    stop: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
  })));
}

// ---- one run: fresh context, page load, burst, settle ----
async function runOnce(browser, sdk, site, sink, collector) {
  await collector.reset();
  sink.begin(sdk.name);
  const ctx = await browser.newContext();
  try { return await measure(ctx, browser, sdk, site, sink, collector); } finally { await ctx.close().catch(() => {}); }
}
async function measure(ctx, browser, sdk, site, sink, collector) {
  const blocked = [];
  if (INTERCEPT) {
    await ctx.route("**/*", (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === "127.0.0.1") return route.continue();
      blocked.push(u.host + u.pathname); return route.abort("blockedbyclient");
    });
  } else {
    // Other hosts do not resolve (BROWSER_ARGS); their requests are only counted.
    ctx.on("request", (q) => { const u = new URL(q.url()); if (u.hostname !== "127.0.0.1") blocked.push(u.host + u.pathname); });
  }
  const page = await ctx.newPage();
  const logs = [];
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") logs.push(`${m.type()}: ${m.text()}`.slice(0, 300)); });
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`.slice(0, 300)));
  const downloads = [];
  page.on("response", async (r) => {
    const u = new URL(r.url());
    if (u.origin !== site.url || r.request().resourceType() === "document") return;
    try { downloads.push({ path: u.pathname, body: await r.body() }); } catch { /* aborted */ }
  });
  await page.goto(`${site.url}/p/${sdk.name}/`);
  await page.waitForFunction(() => window.__bench, null, { timeout: 30000 });
  const readyMs = await page.evaluate(() => window.__bench.readyAt);
  await page.waitForTimeout(1500); // let start-up requests (page views, config, flags) finish
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Performance.enable");
  const bcdp = await browser.newBrowserCDPSession();
  const rendererCpu = async () => (await bcdp.send("SystemInfo.getProcessInfo")).processInfo
    .filter((p) => p.type === "renderer").reduce((s, p) => s + p.cpuTime, 0);
  const task = async () => (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "TaskDuration").value;
  const before = { ...sink.state.counts };
  sink.state.counts.encodings = new Set(); // encodings seen from the burst on
  const cpu0 = await rendererCpu(), task0 = await task();
  // The burst runs as an ordinary page task (a timer, as a click handler would), not inside the
  // DevTools evaluation, so the long-task observer sees it as it sees any page task.
  const burst = await page.evaluate(([n, budget]) => new Promise((done) => setTimeout(() => {
    const heap0 = performance.memory.usedJSHeapSize;
    const lt0 = window.__lt.length;
    const t0 = performance.now();
    let i = 0;
    while (i < n) {
      window.__track("Bench", { i, sku: "tee-blue", price: 19.0 });
      if ((++i & 63) === 0 && performance.now() - t0 > budget) break;
    }
    const t1 = performance.now();
    window.__burstStart = t0;
    done({ loopMs: t1 - t0, calls: i, heap0, lt0 });
  }, 0)), [N, CALL_BUDGET_MS]);
  const tBurst = Date.now();
  // settle: until N events arrived (or no progress for SETTLE_IDLE_MS, or SETTLE_MAX_MS)
  // events of the burst that reached the proxy / sink (whether the collector then accepts them or not)
  const delivered = async () => sink.state.counts.sent - before.sent;
  let last = -1, lastChange = Date.now(), got = 0, settleMs = null;
  while (Date.now() - tBurst < SETTLE_MAX_MS) {
    got = await delivered();
    if (got !== last) { last = got; lastChange = Date.now(); }
    if (got >= burst.calls) { settleMs = Date.now() - tBurst; break; }
    if (Date.now() - lastChange > SETTLE_IDLE_MS && got > 0) break;
    if (Date.now() - lastChange > SETTLE_IDLE_MS * 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpu1 = await rendererCpu(), task1 = await task();
  got = await delivered(); // what arrived by the end of the window
  const c = sink.state.counts;
  const wire = { requests: c.requests - before.requests, bytes: c.bodyBytes - before.bodyBytes, events: c.events - before.events,
    compressed: c.compressedRequests - before.compressedRequests };
  await new Promise((r) => setTimeout(r, 300)); // last forwarded requests reach the collector's store
  const stats = await collector.stats();
  const after = await page.evaluate((lt0) => ({
    heap1: performance.memory.usedJSHeapSize,
    longTasks: window.__lt.slice(lt0).filter(([s]) => s >= window.__burstStart - 1).map(([, d]) => d),
  }), burst.lt0);
  await cdp.send("HeapProfiler.collectGarbage");
  const heapGc = await page.evaluate(() => performance.memory.usedJSHeapSize);
  const inlineSnippet = sdk.name === "omnitrail" ? [Buffer.from(readFileSync(join(SITE, "omnitrail-dist/snippet.min.js"), "utf8").trim())] : [];
  const bodies = [...downloads.map((d) => d.body), ...inlineSnippet];
  const sizes = {
    files: downloads.map((d) => `${d.path} ${d.body.length}`),
    raw: bodies.reduce((s, b) => s + b.length, 0),
    gzip: bodies.reduce((s, b) => s + gzipSync(b, { level: 9 }).length, 0),
    brotli: bodies.reduce((s, b) => s + brotliCompressSync(b, { params: { [Z.BROTLI_PARAM_QUALITY]: 11 } }).length, 0),
  };
  await bcdp.detach().catch(() => {});
  return {
    sdk: sdk.name, readyMs, sizes,
    usPerCall: (burst.loopMs * 1000) / burst.calls, loopMs: burst.loopMs, calls: burst.calls,
    mainThreadMs: (task1 - task0) * 1000, rendererCpuMs: (cpu1 - cpu0) * 1000,
    longTasks: after.longTasks.length, longestTaskMs: Math.max(0, ...after.longTasks),
    heapAfterMB: after.heap1 / 1048576, heapGrowthMB: (after.heap1 - burst.heap0) / 1048576, heapAfterGcMB: heapGc / 1048576,
    delivered: got, settleMs, wire,
    // Segment-protocol SDKs: what the reference collector validated and stored; sinks accept all
    accepted: sdk.protocol === "segment" ? (stats.byEvent?.Bench ?? 0) : got, sentOnWire: c.sent, requests: wire.requests, wireBytes: wire.bytes,
    bytesPerEvent: wire.events ? wire.bytes / wire.events : null,
    compressedRequests: wire.compressed, encodings: [...c.encodings], statuses: c.statuses,
    collectorRejected: sdk.protocol === "segment" ? stats.rejected : null,
    otherSinkRequests: [...c.otherPaths], collectorAnswers: c.answers, collectorDuplicates: sdk.protocol === "segment" ? stats.duplicates : null, blocked: blocked.length, blockedHosts: [...new Set(blocked.map((b) => b.split("/")[0]))], blockedUrls: [...new Set(blocked)].slice(0, 10),
    logs: logs.slice(0, 10),
  };
}

// ---- the unload scenario (issue 17): one run = fresh context, load, 50 calls + leave, reopen ----
// Its own browser: no request routing (Playwright's interception could change what the browser
// does with keepalive requests and beacons of a page that is going away); hosts other than
// 127.0.0.1 do not resolve instead.
const UNLOAD_BROWSER_ARGS = BROWSER_ARGS;
function leaveSnapshot(c) {
  const l = c.leave;
  return { distinct: l.byIndex.size, copies: l.copies, ids: l.byId.size, requests: l.requests, compressed: l.compressed, bytes: l.bytes, events: l.events };
}
async function unloadOnce(browser, sdk, how, site, sink, collector) {
  await collector.reset();
  sink.begin(sdk.name);
  const ctx = await browser.newContext();
  try {
    const url = `${site.url}/p/${sdk.name}/`;
    const page = await ctx.newPage();
    const logs = [];
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`.slice(0, 300)));
    await page.goto(url);
    await page.waitForFunction(() => window.__bench, null, { timeout: 30000 });
    await page.waitForTimeout(1500); // start-up requests (page views, config, flags) finish, as in the burst
    const probe = async () => leaveSnapshot(sink.state.counts);
    await unloadScenario.leave(page, how);
    const left = await unloadScenario.settle(probe, { idleMs: 1500, giveUpMs: 5000, maxMs: 10000 });
    await page.goto(url);
    await page.waitForFunction(() => window.__bench, null, { timeout: 30000 }).catch(() => {});
    // what the reopened page sends of the left page's events (stored, retried): until all are in
    // and nothing new came for 3 s, or nothing at all for 6 s
    const all = await unloadScenario.settle(probe, { idleMs: 3000, giveUpMs: 6000, maxMs: 20000 });
    const c = sink.state.counts;
    // what the reopened page still keeps (events an SDK would send on a later visit, or never)
    const storage = await page.evaluate(() => [localStorage, sessionStorage].flatMap((st, j) =>
      Object.keys(st).map((k) => `${j ? "session" : "local"}:${k} ${st.getItem(k).length}`))).catch((e) => [String(e)]);
    const dupLeft = left.copies - left.distinct, dupAll = all.copies - all.distinct;
    return {
      sdk: sdk.name, how, arrivedLeft: left.distinct, arrivedAll: all.distinct,
      duplicatesLeft: dupLeft, duplicatesByReopened: dupAll - dupLeft,
      // the same counted by the protocol's id (differs only if an SDK re-sends an event under a new id)
      duplicatesById: all.copies - all.ids,
      leftRequests: left.requests, leftCompressed: left.compressed, encodings: [...c.leave.encodings],
      wireBytesPerEvent: left.events ? left.bytes / left.events : null,
      preflights: c.preflights, preflightPaths: [...c.preflightPaths], storage, logs: logs.slice(0, 5),
    };
  } finally { await ctx.close().catch(() => {}); }
}

// ---- main ----
const collector = await startCollector({ extraArgs: ["--write-key", "bench", "--quiet"] });
process.on("exit", () => collector.stop()); // never leave the collector behind, even on a crash
const sink = await startSink(collector.url);
buildPages(sink.url);
const site = await startStatic();
const browser = await launchBrowser({ args: ["--enable-precise-memory-info", ...(INTERCEPT ? [] : BROWSER_ARGS)] });
const load0 = loadavg();
const runs = [];
const t0 = Date.now();
for (let r = 0; r < ROUNDS && BURST_SDKS.length; r++) {
  for (const sdk of BURST_SDKS) {
    try {
      const load = +loadavg()[0].toFixed(2);
      const w0 = Date.now();
      const res = await runOnce(browser, sdk, site, sink, collector);
      res.wallMs = Date.now() - w0;
      runs.push({ round: r, load1m: load, ...res });
      console.error(`round ${r + 1}/${ROUNDS} ${sdk.name.padEnd(11)} ready ${res.readyMs.toFixed(0)} ms, ${res.usPerCall.toFixed(2)} µs/call, ${res.calls} calls, delivered ${res.delivered}${res.settleMs == null ? " (not all)" : ` in ${res.settleMs} ms`}, blocked ${res.blocked}, ${(res.wallMs / 1000).toFixed(0)} s`);
    } catch (e) {
      runs.push({ round: r, sdk: sdk.name, error: String(e?.message ?? e).slice(0, 500) });
      console.error(`round ${r + 1}/${ROUNDS} ${sdk.name}: FAILED ${e?.message ?? e}`);
    }
  }
}
const chromium = browser.version();
await browser.close();
const unloadRuns = [];
if (UNLOAD_SDKS.length) {
  const ub = await launchBrowser({ args: UNLOAD_BROWSER_ARGS });
  for (let r = 0; r < ROUNDS; r++) {
    for (const how of unloadScenario.WAYS) {
      for (const sdk of UNLOAD_SDKS) {
        const load = +loadavg()[0].toFixed(2);
        try {
          const res = await unloadOnce(ub, sdk, how, site, sink, collector);
          unloadRuns.push({ round: r, load1m: load, ...res });
          console.error(`unload round ${r + 1}/${ROUNDS} ${how.padEnd(9)} ${sdk.name.padEnd(14)} arrived ${res.arrivedLeft} / ${res.arrivedAll}, duplicates ${res.duplicatesLeft} + ${res.duplicatesByReopened} by the reopened page, ${res.wireBytesPerEvent?.toFixed(0)} B/event, preflights ${res.preflights}`);
        } catch (e) {
          unloadRuns.push({ round: r, sdk: sdk.name, how, load1m: load, error: String(e?.message ?? e).slice(0, 500) });
          console.error(`unload round ${r + 1}/${ROUNDS} ${how} ${sdk.name}: FAILED ${e?.message ?? e}`);
        }
      }
    }
  }
  await ub.close();
}
const load1 = loadavg();
await site.stop();
await sink.stop();
await collector.stop();

const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const agg = (xs) => xs.length ? { median: med(xs), min: Math.min(...xs), max: Math.max(...xs) } : null;
const METRICS = [
  ["SDK bytes downloaded, raw", (r) => r.sizes.raw, 0],
  ["… gzip -9", (r) => r.sizes.gzip, 0],
  ["… brotli", (r) => r.sizes.brotli, 0],
  ["time to ready (ms from navigation)", (r) => r.readyMs, 0],
  [`track() calls made (of ${N}; cut after ${CALL_BUDGET_MS / 1000} s)`, (r) => r.calls, 0],
  ["µs per track() call", (r) => r.usPerCall, 2],
  ["main-thread busy ms (burst → settled)", (r) => r.mainThreadMs, 0],
  ["renderer CPU ms (burst → settled)", (r) => r.rendererCpuMs, 0],
  ["long tasks (> 50 ms)", (r) => r.longTasks, 0],
  ["longest task ms", (r) => r.longestTaskMs, 0],
  ["JS heap after burst MB", (r) => r.heapAfterMB, 1],
  ["JS heap after burst + GC MB", (r) => r.heapAfterGcMB, 1],
  ["events delivered (reached the sink / collector)", (r) => r.delivered, 0],
  ["… of them accepted (collector validation)", (r) => r.accepted, 0],
  ["ms until all delivered", (r) => r.settleMs ?? NaN, 0],
  ["event requests (burst → end of window)", (r) => r.requests, 0],
  ["wire bytes per event (all events in them)", (r) => r.bytesPerEvent ?? NaN, 0],
  ["requests blocked (other hosts)", (r) => r.blocked, 0],
];
const fmt = (a, d) => !a ? "—" : a.min === a.max ? a.median.toFixed(d) : `${a.median.toFixed(d)} (${a.min.toFixed(d)}–${a.max.toFixed(d)})`;
const versionOf = (sdk) => sdk.pkg ? version(sdk.pkg) : sdk.name.startsWith("omnitrail") ? `tree @ ${git("rev-parse", "--short", "HEAD")}` : "—";
const summary = {};
for (const sdk of BURST_SDKS) {
  const ok = runs.filter((r) => r.sdk === sdk.name && !r.error);
  summary[sdk.name] = {
    label: sdk.label, version: versionOf(sdk),
    runs: ok.length, failures: runs.filter((r) => r.sdk === sdk.name && r.error).map((r) => r.error),
    metrics: Object.fromEntries(METRICS.map(([m, f]) => [m, agg(ok.map(f).filter((x) => Number.isFinite(x)))])),
    compressed: ok.length ? `${ok[0].compressedRequests}/${ok[0].requests}${ok[0].encodings.length ? " " + ok[0].encodings.join(",") : ""}` : "—",
    blockedHosts: [...new Set(ok.flatMap((r) => r.blockedHosts))], blockedUrls: [...new Set(ok.flatMap((r) => r.blockedUrls))],
    files: ok[0]?.sizes.files ?? [],
  };
}
const rows = [...METRICS.map(([m, , d]) => [m, ...BURST_SDKS.map((s) => fmt(summary[s.name].metrics[m], d))]),
  ["requests compressed (round 1)", ...BURST_SDKS.map((s) => summary[s.name].compressed)],
  ["version", ...BURST_SDKS.map((s) => summary[s.name].version)]];
const header = ["metric", ...BURST_SDKS.map((s) => s.name)];
const md = BURST_SDKS.length ? [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n") : "";

// the unload table: one row per SDK, ranges over rounds
const range = (xs) => { const v = xs.filter((x) => x != null && Number.isFinite(x)).map(Math.round); if (!v.length) return "—"; const lo = Math.min(...v), hi = Math.max(...v); return lo === hi ? `${lo}` : `${lo}–${hi}`; };
const unloadSummary = {};
const unloadRows = UNLOAD_SDKS.map((sdk) => {
  const of = (how) => unloadRuns.filter((r) => r.sdk === sdk.name && r.how === how && !r.error);
  const mine = unloadRuns.filter((r) => r.sdk === sdk.name && !r.error);
  const arrived = (how) => `${range(of(how).map((r) => r.arrivedLeft))} / ${range(of(how).map((r) => r.arrivedAll))}`;
  const dups = (how) => `${range(of(how).map((r) => r.duplicatesLeft))} + ${range(of(how).map((r) => r.duplicatesByReopened))}`;
  const gz = mine.reduce((n, r) => n + r.leftCompressed, 0), reqs = mine.reduce((n, r) => n + r.leftRequests, 0);
  const preflight = mine.some((r) => r.preflights > 0) ? `yes (${range(mine.map((r) => r.preflights))} per run)` : "no";
  unloadSummary[sdk.name] = { label: sdk.label, version: versionOf(sdk), runs: mine.length,
    failures: unloadRuns.filter((r) => r.sdk === sdk.name && r.error).map((r) => r.error),
    goto: { arrived: arrived("goto"), duplicates: dups("goto") }, sameTask: { arrived: arrived("same-task"), duplicates: dups("same-task") },
    wireBytesPerEvent: range(mine.map((r) => r.wireBytesPerEvent)), compressedRequests: `${gz}/${reqs}`, preflight };
  return `| ${sdk.label} ${unloadSummary[sdk.name].version} | ${arrived("goto")} | ${arrived("same-task")} | ${dups("goto")} | ${dups("same-task")} | ${range(mine.map((r) => r.wireBytesPerEvent))}${gz ? ` (${gz} of ${reqs} requests compressed)` : ""} | ${preflight} |`;
});
const unloadMd = UNLOAD_SDKS.length ? ["| | `page.goto`: arrived from the left page / in all after reopen | same task: arrived / after reopen | duplicates, `page.goto`: at unload + sent by the reopened page | duplicates, same task | wire bytes per event (the left page's requests) | CORS preflight |",
  "|---|---|---|---|---|---|---|", ...unloadRows].join("\n") : "";
const machine = { nproc: cpus().length, cpu: cpus()[0]?.model, memGB: +(totalmem() / 2 ** 30).toFixed(1), loadavgBefore: load0.map((x) => +x.toFixed(2)), loadavgAfter: load1.map((x) => +x.toFixed(2)), node: process.version, chromium };
if (md) {
  console.log(`\n${N}-event track() burst, ${ROUNDS} interleaved rounds, Chromium ${chromium}, other hosts ${INTERCEPT ? "blocked by Playwright routing (--intercept)" : "unresolved"}, ${machine.nproc} cores, load ${machine.loadavgBefore.join(" ")} → ${machine.loadavgAfter.join(" ")}, ${((Date.now() - t0) / 1000).toFixed(0)} s; median (min–max)\n`);
  console.log(md);
  for (const s of BURST_SDKS) if (summary[s.name].failures.length) console.log(`\n${s.name} failures: ${summary[s.name].failures.join(" | ")}`);
}
if (unloadMd) {
  console.log(`\nunload: ${unloadScenario.N} track calls (13 properties) then navigation, then the page reopened; ${ROUNDS} rounds, Chromium ${chromium}, load ${machine.loadavgBefore.join(" ")} → ${machine.loadavgAfter.join(" ")}; distinct events, ranges over rounds\n`);
  console.log(unloadMd);
  for (const s of UNLOAD_SDKS) if (unloadSummary[s.name].failures.length) console.log(`\n${s.name} unload failures: ${unloadSummary[s.name].failures.join(" | ")}`);
}
mkdirSync(join(ROOT, "tests/out"), { recursive: true });
writeFileSync(join(ROOT, "tests/out/bench-compare.json"), JSON.stringify({
  date: new Date().toISOString(), events: N, rounds: ROUNDS, machine, intercept: INTERCEPT, settle: { maxMs: SETTLE_MAX_MS, idleMs: SETTLE_IDLE_MS }, callBudgetMs: CALL_BUDGET_MS,
  summary, table: md, omnitrail: { commit: git("rev-parse", "--short", "HEAD"), dirty: git("status", "--porcelain", "--", "src", "js").length > 0,
    sizes: JSON.parse(readFileSync(join(SITE, "omnitrail-dist/sizes.json"), "utf8")).total }, runs: runs.map((r) => ({ ...r, sizes: r.sizes && { ...r.sizes, files: undefined } })),
  unload: UNLOAD_SDKS.length ? { events: unloadScenario.N, ways: unloadScenario.WAYS, summary: unloadSummary, table: unloadMd, runs: unloadRuns } : null,
}, null, 2));
console.log("\nwrote tests/out/bench-compare.json");
