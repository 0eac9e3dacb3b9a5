// Consent and privacy in real Chromium: nothing stored or sent before opt-in consent, grant
// releases the buffer, deny discards it, revoking deletes everything the SDK stored, GPC
// denies marketing, tabs share the decision, and no cookie or request leaves the first party.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";

let collector, optIn, optOut, browser;

before(async () => {
  collector = await startCollector();
  const base = { writeKey: "demo", endpoint: collector.url, flushInterval: 100 };
  optIn = await startSite({ config: { ...base, consent: { mode: "opt-in", changedEvent: true } } });
  optOut = await startSite({ config: { ...base, consent: { mode: "opt-out", changedEvent: true } } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await optIn?.stop();
  await optOut?.stop();
  await collector?.stop();
});
beforeEach(async () => {
  await collector.reset();
});

const stored = (page) => page.evaluate(() => Object.keys(localStorage).sort());
const ourCookies = async (ctx) => (await ctx.cookies()).filter((c) => c.name.startsWith("omnitrail") || c.name.startsWith("_ot"));

test("opt-in: before consent nothing is stored or sent; granting sends what waited", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, optIn.url + "/");
  await page.evaluate(() => { for (let i = 0; i < 5; i++) omnitrail.track("Waiting " + i); return omnitrail.flush(); });
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(await stored(page), [], "localStorage stays empty");
  assert.deepEqual(await ourCookies(ctx), [], "the cookie jar stays empty");
  assert.equal((await collector.messages()).length, 0, "nothing sent");
  assert.equal(await page.evaluate(() => omnitrail.consent.get().analytics), false);

  await page.evaluate(() => { omnitrail.consent.set({ analytics: true }); return omnitrail.flush(); });
  const got = await waitFor(async () => { const m = (await collector.messages()).filter((x) => x.event?.startsWith("Waiting ")); return m.length === 5 && m; }, "5 buffered events");
  // Buffered before the choice, sent after it: each carries the consent it was sent under, so a
  // downstream consent filter keeps exactly what the visitor allowed.
  const granted = await page.evaluate(() => omnitrail.consent.get());
  assert.equal(granted.analytics, true);
  assert.deepEqual(got.map((m) => m.context.consent.categoryPreferences), Array(5).fill(granted));
  assert.ok((await stored(page)).includes("ot1.aid"));
  assert.equal((await ourCookies(ctx)).length, 1);
  await ctx.close();
});

test("opt-in: denying discards what waited and nothing is collected afterwards", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, optIn.url + "/");
  await page.evaluate(() => {
    omnitrail.track("Never");
    omnitrail.consent.set({ analytics: false, marketing: false });
    omnitrail.track("Never either");
    return omnitrail.flush();
  });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal((await collector.messages()).length, 0);
  assert.deepEqual(await stored(page), ["ot1.consent"], "only the decision is kept");
  assert.deepEqual(await ourCookies(ctx), []);
  // The decision holds on the next page.
  const next = await openPage(ctx, optIn.url + "/about.html");
  await next.evaluate(() => { omnitrail.track("Still never"); return omnitrail.flush(); });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await collector.messages()).length, 0);
  await ctx.close();
});

test("revoking deletes every key and cookie the SDK wrote and sends one final Consent Changed", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, optOut.url + "/?utm_source=newsletter&utm_medium=email");
  await page.evaluate(() => { omnitrail.identify("ada", { plan: "pro" }); omnitrail.track("Before"); return omnitrail.flush(); });
  assert.ok((await stored(page)).length >= 4);
  assert.equal((await ourCookies(ctx)).length, 1);
  const changes = await page.evaluate(() => {
    const seen = [];
    omnitrail.consent.onChange((p) => seen.push(p));
    omnitrail.consent.set({ analytics: false });
    omnitrail.track("After");
    return omnitrail.flush().then(() => seen);
  });
  assert.deepEqual(changes.map((p) => p.analytics), [false]);
  assert.deepEqual(await stored(page), ["ot1.consent"]);
  assert.deepEqual(await ourCookies(ctx), []);
  const msgs = await waitFor(async () => { const m = await collector.messages(); return m.some((x) => x.event === "Consent Changed") && m; }, "the final record");
  assert.equal(msgs.filter((m) => m.event === "After").length, 0);
  assert.equal(msgs.find((m) => m.event === "Consent Changed").properties.categoryPreferences.analytics, false);
  await ctx.close();
});

test("Global Privacy Control denies marketing by default", async () => {
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true }));
  const page = await openPage(ctx, optOut.url + "/");
  await page.evaluate(() => { omnitrail.track("With GPC"); return omnitrail.flush(); });
  const m = await waitFor(async () => (await collector.messages()).find((x) => x.event === "With GPC"), "event");
  assert.deepEqual(m.context.consent.categoryPreferences, { necessary: true, analytics: true, marketing: false });
  await ctx.close();
});

test("a decision in one tab applies in the others at once", async () => {
  const ctx = await browser.newContext();
  const a = await openPage(ctx, optIn.url + "/");
  const b = await openPage(ctx, optIn.url + "/about.html");
  await b.evaluate(() => { window.__changes = []; omnitrail.consent.onChange((p) => window.__changes.push(p.analytics)); });
  await a.evaluate(() => omnitrail.consent.set({ analytics: true }));
  await waitFor(async () => (await b.evaluate(() => window.__changes)).length === 1, "tab B heard it");
  assert.equal(await b.evaluate(() => omnitrail.consent.get().analytics), true);
  await ctx.close();
});

test("first party only: every cookie is the site's own and no request goes anywhere but the site and the collector", async () => {
  const ctx = await browser.newContext();
  const hosts = new Set();
  ctx.on("request", (r) => hosts.add(new URL(r.url()).host));
  const page = await openPage(ctx, optOut.url + "/?utm_source=x&gclid=1");
  await page.click("text=Blue tee");
  await page.waitForFunction(() => window.omnitrail && window.omnitrail.loaded);
  await page.click("#add");
  await page.evaluate(() => omnitrail.flush());
  const site = new URL(optOut.url).host, coll = new URL(collector.url).host;
  assert.deepEqual([...hosts].filter((h) => h !== site && h !== coll), []);
  for (const c of await ctx.cookies()) assert.equal(c.domain, "127.0.0.1", `${c.name} on ${c.domain}`);
  await ctx.close();
});

test("a strict CSP (no unsafe-eval, hashed inline scripts, Trusted Types) reports zero violations", async () => {
  const { strictCsp } = await import("./harness.mjs");
  const strict = await startSite({ config: { writeKey: "demo", endpoint: collector.url, flushInterval: 100 }, csp: strictCsp(collector.url) });
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await openPage(ctx, strict.url + "/?utm_source=csp");
  const res = await page.goto(strict.url + "/product.html?id=tee-blue");
  assert.match(res.headers()["content-security-policy"], /require-trusted-types-for 'script'/);
  await page.waitForFunction(() => window.omnitrail && window.omnitrail.loaded);
  await page.click("#add");
  await page.evaluate(() => { omnitrail.track("Under CSP"); return omnitrail.flush(); });
  await waitFor(async () => (await collector.messages()).some((m) => m.event === "Under CSP"), "delivered under CSP");
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  // The policy is really enforced: a raw script URL is refused.
  assert.equal(await page.evaluate(() => { try { document.createElement("script").src = "/x.js"; return false; } catch { return true; } }), true);
  await ctx.close();
  await strict.stop();
});

test("consent.set/get/onChange and cart.get/sync are safe before the SDK has loaded, queued in order, and the same API after", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  // Hold the SDK's module until the page has made its calls: they meet the snippet's stub.
  let release;
  const held = new Promise((r) => { release = r; });
  await page.route("**/omnitrail/omnitrail.js", async (route) => { await held; await route.continue(); });
  await page.goto(optIn.url + "/about.html", { waitUntil: "domcontentloaded" });
  const before = await page.evaluate(async () => {
    window.__changes = [];
    const r = { loaded: !!omnitrail.loaded };
    omnitrail.consent.onChange((p) => window.__changes.push(p));
    omnitrail.track("Before Load");
    omnitrail.consent.set({ analytics: true, marketing: false });
    r.get = omnitrail.consent.get();
    r.cartGet = omnitrail.cart.get();
    r.sync = await omnitrail.cart.sync();
    r.flush = omnitrail.flush();
    r.others = [omnitrail.anonymousId(), omnitrail.user(), omnitrail.stats(), omnitrail.decorate("https://pay.example/")];
    return r;
  });
  assert.deepEqual(before, { loaded: false, get: null, cartGet: null, sync: false, flush: undefined,
    others: [null, null, null, "https://pay.example/"] }, "the stub answers safely");
  release();
  const after = await page.evaluate(async () => {
    await omnitrail.ready;
    return { get: omnitrail.consent.get(), changes: window.__changes, keys: Object.keys(omnitrail.consent).sort() };
  });
  assert.deepEqual(after.get, { necessary: true, analytics: true, marketing: false }, "the queued consent.set applied");
  assert.deepEqual(after.changes, [after.get], "the listener registered before load heard the change");
  assert.deepEqual(after.keys, ["get", "onChange", "set"]);
  // After load: the same calls, now answered by the SDK.
  const later = await page.evaluate(() => {
    omnitrail.consent.set({ marketing: true });
    return { get: omnitrail.consent.get(), n: window.__changes.length };
  });
  assert.deepEqual(later, { get: { necessary: true, analytics: true, marketing: true }, n: 2 });
  await page.evaluate(() => omnitrail.flush());
  const m = await waitFor(async () => (await collector.messages()).find((x) => x.event === "Before Load"), "the event tracked before load");
  assert.equal(m.context.consent.categoryPreferences.analytics, true, "stamped with the consent it was sent under");
  assert.deepEqual(logs.filter((l) => l.startsWith("pageerror") || l.startsWith("error")), []);
  await ctx.close();
});
