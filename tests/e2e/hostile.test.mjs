// Never break the host page: every public method of the wasm class itself (not the loader's
// wrapper, so a trap or an exception would show) called 20,000 times with hostile arguments,
// then the cart's one entry point (`cartCall`, behind `cart.*`) 2,000 times.
// Asserts: no exception, no trap, the SDK still works and delivers every valid event, and
// bad input gave clear, rate-limited warnings.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";

let collector, site, browser;
before(async () => {
  collector = await startCollector();
  site = await startSite({ config: { writeKey: "demo", endpoint: collector.url, flushInterval: 200 } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await collector?.stop();
});

test("22,000 hostile calls: no exception, no trap, valid events all delivered, warnings rate-limited", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  const result = await page.evaluate(async () => {
    const sdk = omnitrail.sdk;
    const cyclic = { a: 1 }; cyclic.self = cyclic;
    const revoked = Proxy.revocable({}, {}); revoked.revoke();
    const trap = new Proxy({}, { get() { throw new Error("get trap"); }, ownKeys() { throw new Error("keys trap"); },
      getOwnPropertyDescriptor() { throw new Error("descriptor trap"); }, has() { throw new Error("has trap"); } });
    let deep = {}; for (let i = 0; i < 100000; i++) deep = { d: deep };
    const huge = "x".repeat(10 * 1024 * 1024);
    const hostile = {
      undefined: undefined, null: null, number: 42, nan: NaN, infinity: -Infinity, empty: "", space: "   ",
      symbol: Symbol("s"), bigint: 10n, fn: () => 1, cyclic, bigintProp: { v: 1n }, revokedProxy: revoked.proxy,
      throwingProxy: trap, huge, hugeProp: { big: huge }, loneSurrogate: "\ud800", loneSurrogateProp: { s: "\udfff" },
      deep, array: [1, 2], date: new Date(0), map: new Map([[1, 2]]),
      throwingToJSON: { toJSON() { throw new Error("toJSON"); } }, throwingGetter: Object.defineProperty({}, "g", { enumerable: true, get() { throw new Error("getter"); } }),
      nestedProxy: { p: trap }, object: { ok: true }, string: "Name",
    };
    const values = Object.values(hostile);
    const methods = ["track", "page", "screen", "identify", "group", "alias", "setAnonymousId", "decorate",
      "consent.set", "consent.onChange", "user", "stats", "consent.get", "anonymousId", "replay", "flush"];
    let seed = 12345;
    const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    let calls = 0, thrown = 0, valid = 0;
    const errors = [];
    for (let i = 0; i < 20000; i++) {
      const m = methods[rand(methods.length)];
      const args = [values[rand(values.length)], values[rand(values.length)], values[rand(values.length)], values[rand(values.length)]];
      try {
        const [ns, call] = m.includes(".") ? m.split(".") : [null, m];
        const r = ns ? sdk[ns + "Call"](call, ...args) : sdk[m](...args); // `consent.set(a)` is `consentCall("set", a)`
        if (r && typeof r.then === "function") r.then(() => {}, () => { thrown++; });
      } catch (e) {
        thrown++;
        if (errors.length < 5) errors.push(`${m}: ${e && e.message}`);
      }
      calls++;
      if (i % 500 === 0) { sdk.track("Valid", { n: valid }); valid++; }
    }
    // The cart's one entry point (`cart.*`), with every call name and a few that are not.
    const cartNames = ["add", "remove", "setQuantity", "update", "applyCoupon", "removeCoupon", "setCurrency", "clear",
      "view", "checkout", "orderCompleted", "connect", "get", "onChange", "sync", "nope", "", "__proto__"];
    // (The high bits: `rand`'s low bits repeat with a short period.)
    const pick = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return (seed >>> 12) % n; };
    const before = sdk.stats().invalidCalls;
    for (let i = 0; i < 2000; i++) {
      const name = pick(4) === 0 ? values[pick(values.length)] : cartNames[pick(cartNames.length)];
      try {
        const r = sdk.cartCall(name, values[pick(values.length)], values[pick(values.length)]);
        if (r instanceof Promise) r.then(() => {}, () => { thrown++; });
      } catch (e) {
        thrown++;
        if (errors.length < 5) errors.push(`cartCall(${String(name)}): ${e && e.message}`);
      }
      calls++;
    }
    const cartRejected = sdk.stats().invalidCalls - before;
    await omnitrail.flush();
    return { calls, thrown, valid, errors, cartRejected, stats: sdk.stats(), anon: sdk.anonymousId() };
  });
  assert.equal(result.thrown, 0, result.errors.join("; "));
  assert.equal(result.calls, 22000);
  assert.ok(result.cartRejected > 500, `cart calls rejected: ${result.cartRejected}`);
  assert.match(result.anon, /^\S+$/, "still answering");
  assert.ok(result.stats.invalidCalls > 1000, JSON.stringify(result.stats));
  const got = await waitFor(async () => { const m = (await collector.messages()).filter((x) => x.event === "Valid"); return m.length >= result.valid && m; }, `${result.valid} valid events`, { timeout: 60000 });
  assert.deepEqual(got.map((m) => m.properties.n).sort((a, b) => a - b), [...Array(result.valid).keys()]);
  const warnings = page.logs.filter((l) => l.startsWith("warning") && l.includes("omnitrail:"));
  assert.ok(warnings.length >= 4 && warnings.length <= 60, `rate-limited warnings: ${warnings.length}`);
  assert.ok(warnings.some((w) => w.includes("times so far")), "repeats are summarised");
  assert.deepEqual(page.logs.filter((l) => l.startsWith("pageerror") || l.startsWith("error")), []);
  console.log(`hostile: ${result.calls} calls, ${result.stats.invalidCalls} rejected, ${warnings.length} warnings, ${result.valid} valid events delivered`);
  await ctx.close();
});
