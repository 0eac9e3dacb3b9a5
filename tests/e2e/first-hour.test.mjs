// What a developer meets in the first hour, in real Chromium against the real collector: a
// wrong write key or a refused origin is said in the console, once per cause, with the
// collector's own words (issue 20).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";

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
