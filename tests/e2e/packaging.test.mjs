// End-to-end: the npm package (js/) as an app team uses it. Tiny apps importing
// `{ Omnitrail } from "omnitrail"` are built once with Vite, webpack 5 and esbuild
// (tests/packaging), the SPA example (examples/spa) with Vite, and a fresh project installs the
// `npm pack` tarball offline and bundles it with esbuild; each is loaded in real Chromium and
// must deliver to the reference collector. Server-side rendering (Node) must not touch a
// browser global. The types must match the wasm surface one-to-one and type-check.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { ROOT, startCollector, startSite, launchBrowser, waitFor } from "./harness.mjs";

const run = promisify(execFile);
const OUT = join(ROOT, "tests/out/packaging");
const PKG = join(ROOT, "tests/packaging");
const BIN = join(PKG, "node_modules/.bin");
const BUNDLERS = ["vite", "webpack", "esbuild"];

let collector, browser, built, spa, packed, fresh;
const report = { bundlers: {}, timings: {} };

async function timed(name, fn) {
  const t = Date.now();
  try { return await fn(); } finally { report.timings[name] = Date.now() - t; }
}

// `npm pack` js/, then a fresh project installs the tarball (offline: it has no dependencies),
// type-checks a TypeScript app against the shipped types and bundles it with esbuild.
async function packAndInstall() {
  const tmp = mkdtempSync(join(tmpdir(), "omnitrail-pack-"));
  const npm = (args, cwd) => run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, maxBuffer: 1 << 24 });
  const { stdout } = await npm(["pack", "--json", "--pack-destination", tmp], join(ROOT, "js"));
  const info = JSON.parse(stdout)[0];
  const dir = join(tmp, "app");
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "fresh-app", private: true, type: "module" }));
  for (const f of ["main.ts", "types.ts", "tsconfig.json"]) copyFileSync(join(PKG, "apps/fresh", f), join(dir, f));
  await npm(["install", "--offline", join(tmp, info.filename)], dir);
  const tsc = await run(join(BIN, "tsc"), ["-p", "tsconfig.json"], { cwd: dir }).then(() => "", (e) => e.stdout + e.stderr);
  const site = join(dir, "site");
  mkdirSync(site);
  await run(join(BIN, "esbuild"), ["main.ts", "--bundle", "--format=esm", "--minify", "--log-level=warning",
    `--outfile=${join(site, "main.js")}`], { cwd: dir });
  // No bundler asset handling here: the wasm goes next to the bundle, where the default
  // `new URL("./omnitrail_bg.wasm", import.meta.url)` points.
  copyFileSync(join(dir, "node_modules/omnitrail/dist/omnitrail_bg.wasm"), join(site, "omnitrail_bg.wasm"));
  writeFileSync(join(site, "index.html"), readFileSync(join(PKG, "apps/static.html"), "utf8")
    .replace("BUNDLER", "npm pack").replace("SCRIPT_ATTRS", 'type="module"'));
  const ssr = JSON.parse((await run("node", [join(PKG, "ssr-check.mjs"), "omnitrail"], { cwd: dir })).stdout);
  return { tmp, dir, site, info, tsc, ssr };
}

before(async () => {
  collector = await startCollector();
  browser = await launchBrowser();
  // Everything is built once, concurrently.
  [built, spa, fresh] = await Promise.all([
    timed("bundlers", async () => JSON.parse((await run("node", [join(PKG, "build.mjs"), OUT], { maxBuffer: 1 << 24 })).stdout)),
    timed("spa", () => run(join(ROOT, "examples/spa/node_modules/.bin/vite"),
      ["build", "--logLevel", "error", "--outDir", join(OUT, "spa"), "--emptyOutDir"], { cwd: join(ROOT, "examples/spa") })),
    timed("pack", packAndInstall),
  ]);
  packed = fresh.info;
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  if (fresh?.tmp) rmSync(fresh.tmp, { recursive: true, force: true });
  const entry = readFileSync(join(ROOT, "js/dist/index.js"));
  report.npmEntry = { raw: entry.length, gzip: gzipSync(entry, { level: 9 }).length };
  if (packed) report.tarball = { file: packed.filename, packed: packed.size, unpacked: packed.unpackedSize, files: packed.files.map((f) => f.path) };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "report.json"), JSON.stringify(report, null, 2));
});

/** Serves `root` (with /config.js), opens it, waits for the app's window.result. */
async function loadApp(root, bundler) {
  const site = await startSite({ root, config: { writeKey: "demo", endpoint: collector.url } });
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const logs = [];
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => logs.push(`requestfailed: ${r.url()}`));
    const wasmRequests = [];
    page.on("request", (r) => { if (r.url().endsWith(".wasm")) wasmRequests.push(r.url()); });
    await page.goto(site.url + "/");
    const result = await waitFor(() => page.evaluate(() => window.result), `${bundler}: the app's result`, { timeout: 30000 });
    assert.equal(result.ok, true, `${bundler}: ${result.error}\n${logs.join("\n")}`);
    return { result, logs, wasmRequests };
  } finally {
    await ctx.close();
    await site.stop();
  }
}

const errorsIn = (logs) => logs.filter((l) => /^(error|pageerror|requestfailed)/.test(l));

for (const bundler of BUNDLERS) {
  test(`${bundler}: an app importing { Omnitrail } from "omnitrail" builds, finds the wasm and delivers`, async () => {
    const files = built[bundler].files;
    const wasm = Object.keys(files).filter((f) => f.endsWith(".wasm"));
    assert.equal(wasm.length, 1, `${bundler} emitted exactly one wasm: ${wasm}`);
    const emitted = createHash("sha256").update(readFileSync(join(OUT, bundler, wasm[0]))).digest("hex");
    assert.equal(emitted, built.wasmSha256, `${bundler}: the package's optimized wasm, unchanged`);
    const js = Object.entries(files).filter(([f]) => f.endsWith(".js")).reduce((n, [, b]) => n + b, 0);
    report.bundlers[bundler] = { buildMs: built[bundler].ms, js, wasm: files[wasm[0]] };

    const { result, logs, wasmRequests } = await loadApp(join(OUT, bundler), bundler);
    assert.equal(result.flushed, true);
    assert.equal(result.supported, true);
    assert.match(result.invalid ?? "", /\w/, "load() with an invalid config rejects with the SDK's message");
    assert.equal(wasmRequests.length, 1, `one wasm request: ${wasmRequests}`);
    assert.deepEqual(errorsIn(logs), []);
    const msgs = await waitFor(async () => {
      const m = (await collector.messages()).filter((x) => x.anonymousId === result.user.anonymousId);
      return m.some((x) => x.type === "track") && m.some((x) => x.type === "page") && m;
    }, `${bundler}: page + track at the collector`);
    const t = msgs.find((m) => m.type === "track");
    assert.equal(t.event, "Bundled App Loaded");
    assert.equal(t.properties.bundler, bundler);
    assert.equal(t.context.library.name, "omnitrail");
    report.bundlers[bundler].ok = true;
  });
}

test("npm pack: the tarball installs offline in a fresh project, type-checks, bundles and delivers", async () => {
  const files = packed.files.map((f) => f.path).sort();
  for (const f of ["package.json", "dist/index.js", "dist/index.d.ts", "dist/omnitrail_bg.wasm", "dist/omnitrail.js", "dist/omnitrail_core_bg.wasm", "dist/omnitrail_full.js", "dist/snippet.min.js"]) {
    assert.ok(files.includes(f), `tarball has ${f}: ${files}`);
  }
  assert.ok(!files.some((f) => f.startsWith("dist/pkg/")), "the unoptimized wasm-bindgen output is not shipped");
  assert.equal(fresh.tsc, "", "tsc --strict on the fresh project");
  assert.deepEqual(fresh.ssr.touched, []);
  assert.equal(fresh.ssr.supported, false);

  const { result, logs } = await loadApp(fresh.site, "npm pack");
  assert.equal(result.flushed, true);
  assert.deepEqual(errorsIn(logs), []);
  const msgs = await waitFor(async () => {
    const m = (await collector.messages()).filter((x) => x.userId === "fresh-user" || x.anonymousId === result.user.anonymousId);
    return m.some((x) => x.type === "track") && m.some((x) => x.type === "page") && m.some((x) => x.type === "identify") && m;
  }, "npm pack app: page + identify + track");
  const t = msgs.find((m) => m.type === "track");
  assert.equal(t.event, "Tarball Installed");
  assert.equal(t.userId, "fresh-user");
  assert.equal(t.context.fresh, true);
  const p = msgs.find((m) => m.type === "page");
  assert.equal(p.name, "Install");
  assert.equal(p.category, "Docs");
});

test("Vite dev server: the installed tarball (excluded from pre-bundling) loads its wasm and delivers", async () => {
  // The same TypeScript app, served unbundled by `vite` (dev) from the fresh project.
  writeFileSync(join(fresh.dir, "index.html"), `<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,"><script>window.OMNITRAIL_CONFIG = ${JSON.stringify({ writeKey: "demo", endpoint: collector.url })};</script>
</head><body><script type="module" src="/main.ts"></script></body></html>`);
  const child = spawn("node", [join(PKG, "vite-dev.mjs"), fresh.dir], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  try {
    const url = await new Promise((ok, fail) => {
      let out = "";
      const timer = setTimeout(() => fail(new Error("vite dev did not start:\n" + stderr)), 20000);
      child.stdout.on("data", (d) => { out += d; const m = out.match(/ready (\S+)/); if (m) { clearTimeout(timer); ok(m[1]); } });
      child.on("exit", (code) => { clearTimeout(timer); fail(new Error(`vite dev exited ${code}:\n${stderr}`)); });
    });
    const ctx = await browser.newContext();
    try {
      const page = await ctx.newPage();
      const logs = [];
      page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
      await page.goto(url);
      const result = await waitFor(() => page.evaluate(() => window.result), "vite dev: the app's result");
      assert.equal(result.ok, true, `${result.error}\n${logs.join("\n")}`);
      assert.equal(result.flushed, true);
      assert.deepEqual(logs, []);
    } finally {
      await ctx.close();
    }
  } finally {
    child.kill("SIGTERM");
  }
});

test("SSR: importing the package in Node touches no browser global; load() resolves to an inert instance", async () => {
  const expect = { touched: [], supported: false, flushed: true, role: "noop" };
  const direct = JSON.parse((await run("node", [join(PKG, "ssr-check.mjs"), join(ROOT, "js/dist/index.js")])).stdout);
  assert.deepEqual({ ...direct, user: undefined, direct: undefined, decorated: undefined, cart: undefined }, { ...expect, user: undefined, direct: undefined, decorated: undefined, cart: undefined });
  assert.equal(direct.direct, "", "new Omnitrail(config) on the server is inert too");
  assert.deepEqual(direct.cart, { get: null, synced: false, added: "undefined" }, "cart.get() → null, cart.sync() → false, cart.add() → undefined off the browser");
  assert.equal(direct.decorated, "https://example.org/a?b=1", "decorate() off the browser returns the url unchanged");
  // A Vite SSR build rendering with the package, run in Node.
  const vite = JSON.parse((await run("node", [join(PKG, "ssr-check.mjs"), join(OUT, "ssr/entry.js"), "render"])).stdout);
  assert.deepEqual({ ...vite, user: undefined }, { ...expect, user: undefined });
  assert.deepEqual(vite.user, { anonymousId: "", userId: null, groupId: null });
});

test("types: index.d.ts matches the wasm class, the README's options and stats() one-to-one", async () => {
  const dts = readFileSync(join(ROOT, "js/dist/index.d.ts"), "utf8");
  const block = (re) => dts.match(re)?.[1] ?? assert.fail(`no ${re} in index.d.ts`);
  const members = (body) => new Set([...body.matchAll(/^ {2}(?:static )?(?:readonly )?(\w+)\??[(:]/gm)].map((m) => m[1]));
  // The wasm-bindgen class (imported in Node: the glue touches no browser global at import).
  const glue = await import(new URL("file://" + join(ROOT, "js/dist/pkg/omnitrail.js")).href);
  const glueMethods = Object.getOwnPropertyNames(glue.Omnitrail.prototype).filter((m) => !m.startsWith("__") && m !== "constructor");
  // `cartCall(name, a, b)` and `consentCall(name, a)` are internal: the `cart` and `consent`
  // namespaces (js/src/namespaces.js) call them; so is `retire()` (the script-tag loader's
  // switch from the small core to the full build).
  assert.ok(glueMethods.includes("cartCall"), "the wasm class has cartCall (src/web/cart_api.rs)");
  assert.ok(glueMethods.includes("consentCall"), "the wasm class has consentCall (src/web/consent_api.rs)");
  const wasmMethods = glueMethods.filter((m) => m !== "cartCall" && m !== "consentCall" && m !== "retire");
  const { Omnitrail } = await import(new URL("file://" + join(ROOT, "js/dist/index.js")).href);
  const wrapped = Object.getOwnPropertyNames(Omnitrail.prototype).filter((m) => m !== "constructor" && m !== "cart" && m !== "consent");
  const declared = members(block(/export declare class Omnitrail \{([\s\S]*?)\n\}/));
  const statics = ["constructor", "load", "init", "supported", "cart", "consent"];
  assert.deepEqual([...declared].filter((m) => !statics.includes(m)).sort(), wasmMethods.sort(), "class Omnitrail in js/src/index.d.ts declares exactly the wasm methods (src/web/api.rs): add or remove the difference there");
  assert.deepEqual(wrapped.sort(), wasmMethods.sort(), "the npm class forwards every wasm method");
  for (const s of ["load", "init", "supported"]) assert.ok(s in Omnitrail, `static ${s}`);

  // `cart.*`: interface Cart = the names js/src/namespaces.js builds the namespace from = the
  // names CartOp::parse (src/names.rs) accepts; the snippet queues only such names.
  const { CART, CONSENT } = await import(new URL("file://" + join(ROOT, "js/src/namespaces.js")).href);
  const cartOps = readFileSync(join(ROOT, "src/names.rs"), "utf8").split("\n    CART_OPERATIONS,\n")[1]?.split("\n);")[0];
  assert.ok(cartOps, "src/names.rs has `operations!(CartOp, CART_OPERATIONS, …)`");
  const rustOps = [...cartOps.matchAll(/\w+ = "(\w+)"/g)].map((m) => m[1]);
  const declaredCart = members(block(/export interface Cart \{([\s\S]*?)\n\}/));
  assert.deepEqual([...declaredCart].sort(), [...CART].sort(), "interface Cart in js/src/index.d.ts = CART in js/src/namespaces.js");
  assert.deepEqual(rustOps.sort(), [...CART].sort(), "CART in js/src/namespaces.js = the names CartOp::parse accepts (src/names.rs)");
  const inert = new Omnitrail({ writeKey: "k", endpoint: "http://127.0.0.1:9" });
  assert.deepEqual(Object.keys(inert.cart).sort(), [...CART].sort(), "sdk.cart has every call");
  // `consent.*` likewise (the lists are tied to src/names.rs by tests/names.rs).
  assert.deepEqual(Object.keys(inert.consent).sort(), [...CONSENT].sort(), "sdk.consent has every call");
  assert.equal(inert.consent.get(), null, "the inert instance answers consent.get() with null");
  const snippet = readFileSync(join(ROOT, "js/src/snippet.js"), "utf8").match(/ns\("cart", "(add remove [\w ]+)"\)/)?.[1] ?? assert.fail("the snippet's cart names");
  for (const m of snippet.split(" ")) assert.ok(CART.includes(m) && m !== "get" && m !== "sync", `the snippet queues cart.${m}`);
  const replayType = block(/export type ReplayMethod =([\s\S]*?);/);
  for (const m of snippet.split(" ")) assert.ok(replayType.includes(`"cart${m[0].toUpperCase()}${m.slice(1)}"`), `ReplayMethod has cart.${m}'s queued name`);

  // The options the wasm reads (src/web/convert.rs, `config`) = OmnitrailConfig; the README's
  // Configuration table documents none the types lack.
  const convert = readFileSync(join(ROOT, "src/web/convert.rs"), "utf8").split("pub fn config(")[1];
  assert.ok(convert, "src/web/convert.rs has `pub fn config(`");
  const read = (re) => [...convert.matchAll(re)].map((m) => m[1]);
  const rustTop = new Set(read(/(?:\bstring\(|\bflag\(|\w+\(v, )"(\w+)"/g));
  const rustRetry = new Set(read(/number\(&retry, "(\w+)"/g));
  const config = members(block(/export interface OmnitrailConfig \{([\s\S]*?)\n\}/));
  assert.deepEqual([...config].sort(), [...rustTop].sort(), "OmnitrailConfig in js/src/index.d.ts = the options src/web/convert.rs reads: add or remove the difference there");
  const retry = members(block(/export interface RetryOptions \{([\s\S]*?)\n\}/));
  assert.deepEqual([...retry].sort(), [...rustRetry].sort(), "RetryOptions = retry.* in src/web/convert.rs");
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const table = readme.split("## Configuration")[1].split("\n## ")[0];
  const documented = [...table.matchAll(/^\| `([\w.]+)`(?:, `([\w.]+)`)? \|/gm)].flatMap((m) => [m[1], m[2]]).filter(Boolean);
  assert.ok(documented.length >= 10, "README's Configuration table parsed");
  for (const o of documented) {
    const [top, sub] = o.split(".");
    assert.ok(config.has(top) && (!sub || retry.has(sub)), `README option ${o} is in the types`);
  }

  // stats() as the wasm reports it in a browser (the Vite app's result).
  const { stats, user } = await loadApp(join(OUT, "vite"), "vite (stats)").then((r) => r.result);
  const declaredStats = members(block(/export interface Stats \{([\s\S]*?)\n\}/));
  assert.deepEqual([...declaredStats].sort(), Object.keys(stats).sort(), "interface Stats in js/src/index.d.ts = the keys stats() returns");
  const declaredUser = members(block(/export interface User \{([\s\S]*?)\n\}/));
  assert.deepEqual([...declaredUser].sort(), Object.keys(user).sort(), "interface User in js/src/index.d.ts = the keys user() returns");
});

test("examples/spa: client-side routing with history.pushState sends a page view per route, in one document", async () => {
  const files = readdirSync(join(OUT, "spa/assets"));
  assert.equal(files.filter((f) => f.endsWith(".wasm")).length, 1);
  const site = await startSite({ root: join(OUT, "spa"), config: { writeKey: "demo", endpoint: collector.url } });
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const logs = [];
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(site.url + "/");
    const ot = await page.evaluateHandle(() => window.app.analytics);
    const anonymousId = await ot.evaluate((o) => o.anonymousId());
    await page.evaluate(() => { window.sameDocument = true; });
    await page.click("nav >> text=Products");
    await page.waitForURL(site.url + "/products");
    await page.click("main >> text=Trail Runner 42");
    await page.waitForURL(site.url + "/products/42");
    await page.click("text=Add to cart");
    await page.click("nav >> text=About");
    await page.waitForURL(site.url + "/about");
    await page.goBack();
    await page.waitForURL(site.url + "/products/42");
    assert.equal(await page.evaluate(() => window.sameDocument), true, "no full page load");
    assert.equal(await page.title(), "Trail Runner 42 · Omnitrail SPA");
    await ot.evaluate((o) => o.flush());
    const want = ["/", "/products", "/products/42", "/about", "/products/42"];
    const msgs = await waitFor(async () => {
      const m = (await collector.messages()).filter((x) => x.anonymousId === anonymousId);
      return m.filter((x) => x.type === "page").length >= want.length && m.some((x) => x.type === "track") && m;
    }, "5 page views + Product Added");
    const pages = msgs.filter((m) => m.type === "page");
    assert.deepEqual(pages.map((m) => m.properties.path), want);
    assert.deepEqual(pages.map((m) => m.context.page.path), want);
    assert.deepEqual(pages.map((m) => m.name), ["Home", "Products", "Trail Runner 42", "About", "Trail Runner 42"]);
    assert.equal(pages[2].properties.product_id, "42");
    const added = msgs.find((m) => m.type === "track");
    assert.equal(added.event, "Product Added");
    assert.equal(added.properties.product_id, "42");
    assert.equal(added.context.page.path, "/products/42");
    assert.deepEqual(errorsIn(logs), []);
  } finally {
    await ctx.close();
    await site.stop();
  }
});
