// What a developer meets in the first hour, in real Chromium against the real collector: a
// wrong write key or a refused origin is said in the console, once per cause, with the
// collector's own words; a React StrictMode app that loads the SDK twice gets one instance
// (issue 20).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";

let collector, browser;
const sites = [];

before(async () => {
  // `locked` accepts only another origin: this page gets 403; an unknown key gets 401.
  collector = await startCollector({ extraArgs: ["--write-key", "demo;locked=https://elsewhere.example"] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  for (const s of sites) await s.stop();
  await collector?.stop();
});

async function site(config) {
  const s = await startSite({ config: { endpoint: collector.url, flushInterval: 100, ...config } });
  sites.push(s);
  return s;
}

for (const [writeKey, status, code, hint] of [["wrong-key", 401, "unknown_write_key", "writeKey"], ["locked", 403, "origin_not_allowed", "origin"]]) {
  test(`a refused batch (${status}) is said once, with the collector's error text, and counted in stats()`, async () => {
    const s = await site({ writeKey });
    const ctx = await browser.newContext();
    const page = await openPage(ctx, s.url + "/about.html");
    const flushed = [];
    for (let i = 0; i < 3; i++) {
      flushed.push(await page.evaluate((i) => { omnitrail.track("Refused " + i); return omnitrail.flush(); }, i));
    }
    const ours = () => page.logs.filter((l) => l.includes("omnitrail: the collector answered"));
    const warned = await waitFor(() => ours().length > 0 && ours(), "the warning");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ours().length, 1, `once per cause: ${ours()}`);
    assert.ok(warned[0].startsWith("warning: "), warned[0]);
    assert.ok(warned[0].includes(`HTTP ${status}`) && warned[0].includes(hint), warned[0]);
    assert.ok(warned[0].includes(code), `the collector's text: ${warned[0]}`);
    assert.deepEqual(flushed, [false, false, false], "flush() says the events were not delivered");
    const stats = await page.evaluate(() => omnitrail.stats());
    assert.equal(stats.delivered, 0);
    assert.ok(stats.rejected >= 4, `the page view and 3 events rejected: ${JSON.stringify(stats)}`);
    assert.deepEqual(page.logs.filter((l) => l.startsWith("pageerror")), []);
    await ctx.close();
  });
}

test("React StrictMode loads the SDK twice: one shared instance, one page view, events acknowledged when flush() resolves", async () => {
  // The app of tests/packaging/apps/react, bundled with esbuild (JSX, React 19) against the
  // package as installed there (node_modules/omnitrail -> js/); the wasm next to the bundle.
  const { build } = await import(join(ROOT, "tests/packaging/node_modules/esbuild/lib/main.js"));
  const dir = mkdtempSync(join(tmpdir(), "omnitrail-react-"));
  await build({ entryPoints: [join(ROOT, "tests/packaging/apps/react/main.jsx")], bundle: true, format: "esm", minify: true,
    jsx: "automatic", outfile: join(dir, "main.js"), logLevel: "warning", define: { "process.env.NODE_ENV": '"development"' } });
  copyFileSync(join(ROOT, "js/dist/omnitrail_bg.wasm"), join(dir, "omnitrail_bg.wasm"));
  writeFileSync(join(dir, "index.html"), '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">' +
    '<title>React</title><script src="/config.js"></script></head><body><div id="root"></div><script type="module" src="./main.js"></script></body></html>');
  const s = await startSite({ root: dir, config: { writeKey: "demo", endpoint: collector.url } });
  sites.push(s);
  await collector.reset();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(s.url + "/");
  const result = await waitFor(() => page.evaluate(() => window.result), "the app's result");
  assert.equal(result.loads, 2, "StrictMode ran the effect twice: two Omnitrail.load calls");
  assert.equal(result.flushed, true);
  assert.equal(result.stats.role, "leader", "the instance the app kept delivers");
  assert.deepEqual(result.waiting, [], "nothing left waiting in localStorage");
  // flush() resolved true: the collector has them now, not after a later page load.
  const got = await collector.messages();
  const names = got.map((m) => m.type === "track" ? m.event : m.type).sort();
  assert.deepEqual(names, ["Product Added", "Product Viewed", "identify", "page"], "one automatic page view, every event once");
  assert.equal(got.find((m) => m.event === "Product Viewed").userId, "strict-user");
  assert.deepEqual(logs.filter((l) => l.startsWith("pageerror") || l.startsWith("error") || l.includes("omnitrail:")), []);
  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a follower tab's flush() resolves only once the delivering tab has its events acknowledged", async () => {
  const s = await site({ writeKey: "demo", flushInterval: 300 });
  await collector.reset();
  const ctx = await browser.newContext();
  const leader = await openPage(ctx, s.url + "/about.html");
  const follower = await openPage(ctx, s.url + "/about.html");
  await waitFor(async () => (await follower.evaluate(() => omnitrail.stats().role)) === "follower", "the second tab follows");
  const flushed = await follower.evaluate(() => { omnitrail.track("From The Follower"); return omnitrail.flush(); });
  assert.equal(flushed, true);
  // Resolved: the collector has it already.
  const got = (await collector.messages()).filter((m) => m.event === "From The Follower");
  assert.equal(got.length, 1, "acknowledged before flush() resolved");
  assert.equal(await leader.evaluate(() => omnitrail.stats().role), "leader");
  await ctx.close();
});
