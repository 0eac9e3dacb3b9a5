// Hostile host pages: each page breaks one or more of its own globals *before* the snippet
// (polluted prototypes, replaced or failing built-ins, blocked storage), then tracks events
// with nested arrays and objects, half queued by the snippet before the SDK loaded and half
// after. Asserts, per page: every event arrives exactly once, its properties and traits are
// the same JSON text a clean page delivers, and the page saw no error and no exception.
// The breaks are the ones real sites ship (prototype.js 1.6, fetch polyfills, monitoring agents
// wrapping fetch, zone.js, blocked storage/cookies, prototype pollution) and the ones other
// SDKs' issue trackers report. Script-tag install (the snippet) and the npm entry.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCollector, startSite, launchBrowser, waitFor, ROOT } from "./harness.mjs";

const EVENTS = 20; // "Hostile" track events per page: 0..9 queued before load, 10..19 after

// Each break runs in the page before anything of ours. Written without the built-ins they
// break, so that the break itself cannot fail.
const PAGES = {
  clean: "",
  "Array.prototype.toJSON (prototype.js 1.6)": `
    Array.prototype.toJSON = function () {
      var r = [];
      for (var i = 0; i < this.length; i++) r.push(JSON.stringify(this[i]));
      return "[" + r.join(", ") + "]";
    };`,
  "prototype.js 1.6 toJSON family (Array, Date, String, Number, Boolean, Hash-like Object)": `
    Array.prototype.toJSON = function () { return "[" + this.length + " items]"; };
    Date.prototype.toJSON = function () { return '"' + this.getUTCFullYear() + '"'; };
    Date.prototype.toISOString = function () { return "not a date"; };
    String.prototype.toJSON = function () { return '"' + this + '"'; };
    Number.prototype.toJSON = function () { return "n"; };
    Boolean.prototype.toJSON = function () { return "b"; };`,
  "Object.prototype.toJSON": `
    Object.defineProperty(Object.prototype, "toJSON", { configurable: true, writable: true,
      value: function () { return "[object]"; } });`,
  "polluted Object.prototype (options, config and consent keys)": `
    Object.prototype.polluted = "yes";
    Object.prototype.context = { evil: true };
    Object.prototype.integrations = { All: false };
    Object.prototype.timestamp = "2001-01-01T00:00:00.000Z";
    Object.prototype.consent = { mode: "opt-in" };
    Object.prototype.wasm = "/nowhere.wasm";
    Object.prototype.cookieless = "yes";`,
  "JSON.stringify replaced (numbers as strings, like a broken polyfill)": `
    (function () {
      var s = JSON.stringify;
      JSON.stringify = function (v, r, n) {
        return s(v, function (k, x) { return typeof x === "number" ? "" + x : x; }, n);
      };
    })();`,
  "window.fetch replaced by a polyfill that fails": `
    window.fetch = function () { return Promise.reject(new TypeError("polyfill: network request failed")); };`,
  "window.fetch replaced by one that never answers": `
    window.fetch = function () { return new Promise(function () {}); };`,
  "window.fetch wrapped by a monitoring agent (works, not native)": `
    (function () {
      var f = window.fetch;
      window.fetch = function (a, b) { window.__wrappedCalls = (window.__wrappedCalls || 0) + 1; return f.call(window, a, b); };
    })();`,
  "window.fetch removed and sendBeacon missing": `
    window.fetch = undefined;
    delete Navigator.prototype.sendBeacon;`,
  "String.prototype methods overridden (throwing)": `
    (function () {
      var names = ["split", "slice", "substring", "substr", "toUpperCase", "toLowerCase", "replace",
        "replaceAll", "indexOf", "lastIndexOf", "includes", "startsWith", "endsWith", "trim", "charAt",
        "concat", "padStart", "padEnd", "match", "search", "repeat", "at", "localeCompare", "normalize"];
      for (var i = 0; i < names.length; i++) {
        (function (n) { String.prototype[n] = function () { throw new Error("String.prototype." + n + " is broken"); }; })(names[i]);
      }
    })();`,
  "Array.prototype methods overridden (throwing)": `
    (function () {
      var names = ["forEach", "map", "filter", "reduce", "some", "every", "find", "findIndex", "indexOf",
        "lastIndexOf", "includes", "join", "slice", "concat", "splice", "flat", "flatMap", "fill", "reverse",
        "sort", "keys", "entries"];
      for (var i = 0; i < names.length; i++) {
        (function (n) { Array.prototype[n] = function () { throw new Error("Array.prototype." + n + " is broken"); }; })(names[i]);
      }
    })();`,
  "zone.js-style Promise": `
    (function () {
      var N = Promise, then = N.prototype.then;
      // zone.js replaces window.Promise and patches the native then (callbacks run wrapped).
      N.prototype.then = function (a, b) {
        return then.call(this, typeof a === "function" ? function (v) { return a(v); } : a,
          typeof b === "function" ? function (e) { return b(e); } : b);
      };
      function ZoneAwarePromise(ex) { var p = new N(ex); Object.setPrototypeOf(p, ZoneAwarePromise.prototype); return p; }
      ZoneAwarePromise.prototype = Object.create(N.prototype);
      ZoneAwarePromise.resolve = function (v) { return new ZoneAwarePromise(function (r) { r(v); }); };
      ZoneAwarePromise.reject = function (e) { return new ZoneAwarePromise(function (r, j) { j(e); }); };
      ZoneAwarePromise.all = function (x) { return N.all(x); };
      ZoneAwarePromise.race = function (x) { return N.race(x); };
      window.Promise = ZoneAwarePromise;
    })();`,
  "localStorage and sessionStorage throw": `
    (function () {
      function deny() { throw new DOMException("The operation is insecure.", "SecurityError"); }
      Object.defineProperty(window, "localStorage", { configurable: true, get: deny });
      Object.defineProperty(window, "sessionStorage", { configurable: true, get: deny });
    })();`,
  "document.cookie hooked (garbage read, writes throw)": `
    Object.defineProperty(document, "cookie", { configurable: true,
      get: function () { return "ot_aid=%E0%A4%A; =; ;;; x"; },
      set: function () { throw new Error("cookie writes blocked by the consent manager"); } });`,
  "crypto.randomUUID missing, getRandomValues throws": `
    delete Crypto.prototype.randomUUID;
    Crypto.prototype.getRandomValues = function () { throw new Error("no entropy"); };`,
  "sendBeacon missing": `
    delete Navigator.prototype.sendBeacon;`,
  "Function.prototype.bind/call/apply replaced (prototype.js-style bind)": `
    (function () {
      var apply = Function.prototype.apply;
      Function.prototype.bind = function (ctx) { var f = this; return function () { return apply.call(f, ctx, arguments); }; };
    })();`,
};
// The pages whose fetch, JSON.stringify and Date serialisation are still the browser's: the SDK
// never makes a frame there.
const NATIVE = new Set(["clean", "Array.prototype.toJSON (prototype.js 1.6)", "Object.prototype.toJSON",
  "polluted Object.prototype (options, config and consent keys)", "String.prototype methods overridden (throwing)",
  "Array.prototype methods overridden (throwing)", "zone.js-style Promise", "localStorage and sessionStorage throw",
  "document.cookie hooked (garbage read, writes throw)", "crypto.randomUUID missing, getRandomValues throws",
  "sendBeacon missing", "Function.prototype.bind/call/apply replaced (prototype.js-style bind)"]);
// Every break at once (those that can coexist).
PAGES["all of the above at once"] = Object.entries(PAGES)
  .filter(([name]) => name !== "clean" && !name.includes("never answers") && !name.includes("monitoring"))
  .map(([, code]) => code).join("\n");

// Runs in the page: tracks events `from..to` and one identify, with nested values built in the
// page's own realm (so its prototypes apply). Written without the built-ins the pages break.
function trackAll(from, to) { // eslint-disable-line no-unused-vars
  function props(i) {
    return {
      i: i,
      items: [{ sku: "tee-" + i, qty: (i % 3) + 1, tags: ["a", "b"], dims: [[1, 2], [3, [4, []]]] }],
      meta: { nested: { arr: [], empty: {}, nil: null, t: true, f: false }, list: [1.5, -2, 1e21, "q\"u\\o\u2028te"] },
      when: new Date(Date.UTC(2026, 0, i + 1)),
      label: new String("boxed"), count: new Number(7),
      klass: { toJSON: function () { return { own: "toJSON applies" }; } },
    };
  }
  for (var i = from; i < to; i++) window.omnitrail.track("Hostile", props(i), i % 2 ? {} : undefined);
  if (from === 0) window.omnitrail.identify("user-7", { plan: "pro", tags: ["x", ["y"]], address: { city: "Zürich", zip: [8, 0, 0, 1] } });
}

let collector, site, browser, snippet, clean, dir;
const table = [];
const NAMES = Object.keys(PAGES);
const INSTALLS = { "script tag": "tag", npm: "npm" };

// The pages are real files on the test site (a document from a real 127.0.0.1 server, as a
// site's would be: Chromium's local-network rules apply to it like to any other page).
before(async () => {
  collector = await startCollector();
  snippet = (await readFile(join(ROOT, "js/dist/snippet.min.js"), "utf8")).trim();
  dir = await mkdtemp(join(tmpdir(), "omnitrail-hostile-"));
  for (let n = 0; n < NAMES.length; n++) {
    await writeFile(join(dir, `${n}-tag.html`), scriptTag(PAGES[NAMES[n]]));
    await writeFile(join(dir, `${n}-npm.html`), npm(PAGES[NAMES[n]]));
  }
  site = await startSite({ root: dir, config: {} });
  browser = await launchBrowser();
});
after(async () => {
  console.log("\nhostile page | delivered intact | duplicates | page errors");
  for (const r of table) console.log(`${r.page} | ${r.intact}/${EVENTS + 1} | ${r.duplicates} | ${r.errors} | ${r.outcome}, frames made/left ${r.frames.made}/${r.frames.left}`);
  await browser?.close();
  await site?.stop();
  await collector?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// The page drives itself (the break may make Playwright's own in-page helpers throw): it
// queues the first half, waits for the SDK (bounded), tracks the second half, flushes, and
// reports through document.title, which the test reads from Playwright's isolated world.
const DRIVE = `
var loaded = false;
function finish(t) {
  if (document.title !== "hostile") return;
  document.title = t + " frames:" + window.__frames + "/" + document.getElementsByTagName("iframe").length;
}
setTimeout(function () { if (!loaded) finish("not ready"); }, 10000);
function whenLoaded(sdk) {
  loaded = true;
  trackAll(${EVENTS / 2}, ${EVENTS});
  var f;
  try { f = sdk.flush(); } catch (e) { finish("flush threw"); }
  setTimeout(function () { finish("flush pending"); }, 10000);
  if (f && typeof f.then === "function") f.then(function () { finish("flushed"); }, function () { finish("flush rejected"); });
}`;

// Counts the frames anything adds to the page (the SDK adds one only where a built-in it needs
// is not the browser's, and removes it at once).
const FRAMES = `window.__frames = 0;
new MutationObserver(function (records) {
  for (var i = 0; i < records.length; i++) for (var j = 0; j < records[i].addedNodes.length; j++)
    if (records[i].addedNodes[j].nodeName === "IFRAME") window.__frames++;
}).observe(document.documentElement, { childList: true, subtree: true });`;

const html = (brk, calls) => `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>hostile</title>
<script>${FRAMES}</script>
<script>${brk}</script>
<script>window.OMNITRAIL_CONFIG = ${JSON.stringify({ src: "/omnitrail/omnitrail.js", writeKey: "demo", endpoint: collector.url, flushInterval: 200 })};
${trackAll}
${DRIVE}</script>
${calls}</head><body><p>hostile</p></body></html>`;

// The script-tag install: break, config, snippet, queued calls; the rest once loaded.
const scriptTag = (brk) => html(brk, `<script>${snippet}</script>
<script>trackAll(0, ${EVENTS / 2});
(function poll() { if (window.omnitrail && window.omnitrail.loaded) whenLoaded(window.omnitrail); else setTimeout(poll, 20); })();</script>`);
// The npm install: the app's module imports the npm entry (js/dist/index.js) and calls it.
const npm = (brk) => html(brk, `<script type="module">
import { Omnitrail } from "/omnitrail/index.js";
const sdk = await Omnitrail.load(window.OMNITRAIL_CONFIG);
window.omnitrail = sdk;
trackAll(0, ${EVENTS / 2});
whenLoaded(sdk);
</script>`);

/** Opens one hostile page; resolves with what arrived and what the page saw. */
async function run(name, install) {
  await collector.reset();
  const ctx = await browser.newContext();
  const url = `${site.url}/${NAMES.indexOf(name)}-${install}.html`;
  const page = await ctx.newPage();
  const errors = [], logs = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console.error: ${m.text()}`); else logs.push(`${m.type()}: ${m.text()}`); });
  const start = Date.now();
  await page.goto(url);
  const title = await waitFor(async () => { const t = await page.title(); return t !== "hostile" && t; }, "the page's verdict", { timeout: 30000 });
  const [, outcome, made, left] = title.match(/^(.*) frames:(\d+)\/(\d+)$/);
  const frames = { made: Number(made), left: Number(left) };
  const ready = outcome !== "not ready";
  // Until every event is in (bounded), then a little longer to see duplicates.
  await waitFor(async () => (await collector.messages()).length >= EVENTS + 1, "events", { timeout: ready ? 5000 : 300 }).catch(() => {});
  await new Promise((r) => setTimeout(r, 300));
  const messages = await collector.messages();
  await ctx.close();
  return { ready, outcome, frames, messages, errors, logs, start };
}

function verdict(name, { ready, outcome, frames, messages, errors, start }) {
  const tracks = messages.filter((m) => m.type === "track" && m.event === "Hostile");
  const identifies = messages.filter((m) => m.type === "identify");
  const byI = new Map();
  for (const m of tracks) byI.set(m.properties?.i, [...(byI.get(m.properties?.i) ?? []), m]);
  let intact = 0;
  const wrong = [];
  for (let i = 0; i < EVENTS; i++) {
    const got = byI.get(i) ?? [];
    const want = clean?.tracks.get(i);
    const text = got[0] && JSON.stringify(got[0].properties);
    const ts = got[0] && Date.parse(got[0].timestamp);
    const ok = got.length >= 1 && (!want || text === want) && ts >= start - 60000
      && JSON.stringify(got[0].integrations ?? null) === JSON.stringify(clean?.integrations ?? got[0].integrations ?? null);
    if (ok) intact++;
    else if (wrong.length < 2) wrong.push(`#${i}: ${got.length ? text + " @" + got[0].timestamp : "missing"}`);
  }
  const traits = identifies[0] && JSON.stringify(identifies[0].traits);
  if (identifies.length >= 1 && (!clean || traits === clean.traits)) intact++;
  else wrong.push(`identify: ${traits ?? "missing"}`);
  const duplicates = tracks.length + identifies.length - (byI.size + Math.min(1, identifies.length));
  table.push({ page: name, intact, duplicates, errors: errors.length, ready, outcome, frames });
  return { intact, wrong, duplicates, tracks, identifies };
}

for (const [label, install] of Object.entries(INSTALLS)) {
  for (const name of Object.keys(PAGES)) {
    test(`${label}: ${name}: every event once, the clean page's JSON, no page error`, async () => {
      const r = await run(name, install);
      const v = verdict(`${label}: ${name}`, r);
      if (name === "clean") {
        clean = {
          tracks: new Map(v.tracks.map((m) => [m.properties.i, JSON.stringify(m.properties)])),
          traits: v.identifies[0] && JSON.stringify(v.identifies[0].traits),
          integrations: v.tracks[0]?.integrations ?? null,
        };
        // The clean page itself: the values a clean browser's JSON.stringify gives.
        assert.equal(clean.tracks.get(3), JSON.stringify({
          i: 3, items: [{ sku: "tee-3", qty: 1, tags: ["a", "b"], dims: [[1, 2], [3, [4, []]]] }],
          meta: { nested: { arr: [], empty: {}, nil: null, t: true, f: false }, list: [1.5, -2, 1e21, "q\"u\\o\u2028te"] },
          when: "2026-01-04T00:00:00.000Z", label: "boxed", count: 7, klass: { own: "toJSON applies" },
        }));
      }
      assert.ok(r.ready, `the SDK loaded: ${[...r.errors, ...r.logs].join("; ")}`);
      assert.deepEqual(r.errors, [], "no page error");
      assert.equal(v.intact, EVENTS + 1, `delivered intact: ${v.wrong.join("; ")} (page: ${r.logs.join("; ")})`);
      assert.equal(v.tracks.length + v.identifies.length, EVENTS + 1, "each event exactly once");
      // A page whose built-ins are the browser's costs no frame; any other at most one, gone at once.
      assert.equal(r.frames.made, NATIVE.has(name) ? 0 : 1, "about:blank frames made");
      assert.equal(r.frames.left, 0, "no frame left in the page");
    });
  }
}
