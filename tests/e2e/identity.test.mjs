// First-party identity and sessions in real Chromium: the anonymous id shared by subdomains
// through a cookie on the registrable domain, cookie/localStorage repair, the identity
// endpoint once per session, identity isolation, and one session for all tabs.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";

let collector, site, browser, port, identityUrl;

before(async () => {
  // The identity endpoint is served first-party (same site as the shop), as in production:
  // collect.shop.test. Plain http here, so the re-issued cookie cannot be `Secure`.
  collector = await startCollector({ extraArgs: ["--cookie-domain", "shop.test", "--cookie-insecure"] });
  identityUrl = `http://collect.shop.test:${new URL(collector.url).port}/v1/identity`;
  site = await startSite({
    config: {
      writeKey: "demo", endpoint: collector.url, flushInterval: 100, identityEndpoint: identityUrl,
      linkedDomains: ["shop.test", "pay.test"], autoDecorate: true,
    },
  });
  port = new URL(site.url).port;
  // www.shop.test and app.shop.test both resolve to the local site server.
  browser = await launchBrowser({ args: ["--host-resolver-rules=MAP *.shop.test 127.0.0.1, MAP *.pay.test 127.0.0.1, MAP *.other.test 127.0.0.1"] });
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await collector?.stop();
});
beforeEach(async () => {
  await collector.reset();
});

const at = (host, path = "/") => `http://${host}:${port}${path}`;
const aidOf = (page) => page.evaluate(() => omnitrail.anonymousId());

test("www. and app. share one anonymous id through a cookie on the registrable domain", async () => {
  const ctx = await browser.newContext();
  const www = await openPage(ctx, at("www.shop.test"));
  await www.evaluate(() => omnitrail.flush());
  const aid = await aidOf(www);
  const app = await openPage(ctx, at("app.shop.test", "/product.html?id=tee-blue"));
  assert.equal(await aidOf(app), aid);
  const cookies = await ctx.cookies();
  const ours = cookies.filter((c) => c.name === "omnitrail_aid");
  assert.deepEqual(ours.map((c) => [c.domain, c.value, c.sameSite, c.path]), [[".shop.test", aid, "Lax", "/"]]);
  assert.ok(ours[0].expires * 1000 > Date.now() + 300 * 86_400_000, "about a year");
  // Nothing on a public suffix, no probe cookie left behind.
  assert.deepEqual(cookies.filter((c) => c.domain === ".test" || c.domain === "test" || c.name === "_ot_probe"), []);
  await ctx.close();
});

test("a lost cookie is restored from localStorage and a lost localStorage from the cookie", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, at("www.shop.test"));
  await page.evaluate(() => omnitrail.flush());
  const aid = await aidOf(page);
  await ctx.clearCookies();
  await page.reload();
  await page.evaluate(() => window.omnitrail.ready);
  assert.equal(await aidOf(page), aid);
  await page.evaluate(() => omnitrail.flush());
  assert.equal((await ctx.cookies()).find((c) => c.name === "omnitrail_aid")?.value, aid, "cookie repaired");
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await page.evaluate(() => window.omnitrail.ready);
  assert.equal(await aidOf(page), aid, "restored from the cookie");
  assert.equal(await page.evaluate(() => localStorage.getItem("ot1.aid")), aid, "localStorage repaired");
  await ctx.close();
});

test("localhost and bare IPs get a host-only cookie", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/");
  await page.evaluate(() => omnitrail.flush());
  const c = (await ctx.cookies()).find((x) => x.name === "omnitrail_aid");
  assert.equal(c.domain, "127.0.0.1");
  await ctx.close();
});

test("the identity endpoint is called once per session, not once per page", async () => {
  const ctx = await browser.newContext();
  const calls = [];
  const statuses = [];
  ctx.on("request", (r) => { if (r.url().endsWith("/v1/identity")) calls.push(r); });
  ctx.on("response", (r) => { if (r.url().endsWith("/v1/identity")) statuses.push(r.status()); });
  for (const path of ["/", "/product.html?id=tee-blue", "/checkout.html"]) {
    const page = await openPage(ctx, at("www.shop.test", path));
    await page.evaluate(() => omnitrail.flush());
    await page.close();
  }
  await waitFor(async () => calls.length >= 1, "an identity request");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(calls.length, 1);
  await waitFor(async () => statuses.length === 1, "the identity response");
  assert.deepEqual(statuses, [200], collector.logs().slice(-600));
  const page = await openPage(ctx, at("www.shop.test"));
  const aid = await aidOf(page);
  const cookies = (await ctx.cookies()).filter((c) => c.name === "omnitrail_aid");
  assert.deepEqual(cookies.map((c) => [c.domain, c.value]), [[".shop.test", aid]], "one cookie, the SDK's id, re-issued");
  await ctx.close();
});

test("another site cannot plant an anonymous id through the identity endpoint", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, at("www.shop.test"));
  await page.evaluate(() => omnitrail.flush());
  const aid = await aidOf(page);
  // A page on another site submits a top-level text/plain form POST to the endpoint (the
  // attack that needs no CORS), and a cross-site fetch with credentials.
  const evil = await ctx.newPage(); // a page of another site, without the SDK
  await evil.goto(at("www.other.test", "/shop.css"));
  const statuses = [];
  ctx.on("response", (r) => { if (r.url().endsWith("/v1/identity")) statuses.push(r.status()); });
  const attacker = "00000000-0000-4000-8000-000000000bad";
  await evil.evaluate(async ({ url, attacker }) => { // (the form navigates the page away)
    await fetch(url, { method: "POST", credentials: "include", body: JSON.stringify({ anonymousId: attacker, writeKey: "demo" }) }).catch(() => {});
    const f = document.createElement("form");
    f.method = "POST"; f.action = url; f.enctype = "text/plain";
    const i = document.createElement("input");
    i.name = `{"anonymousId":"${attacker}","x":"`; i.value = `"}`;
    f.append(i); document.body.append(f); f.submit();
  }, { url: identityUrl, attacker }).catch(() => {});
  await waitFor(async () => statuses.length >= 2, "both attacking requests answered");
  assert.deepEqual(statuses, [403, 403]);
  const cookies = (await ctx.cookies()).filter((c) => c.name === "omnitrail_aid");
  assert.deepEqual(cookies.map((c) => c.value), [aid], "the visitor keeps their id");
  await ctx.close();
});

test("identifying as a different user starts a fresh identity; reset forgets the user", async () => {
  const ctx = await browser.newContext();
  const page = await openPage(ctx, at("www.shop.test"));
  const ids = await page.evaluate(async () => {
    const a0 = omnitrail.anonymousId();
    omnitrail.identify("ada", { email: "ada@example.com" });
    const a1 = omnitrail.anonymousId();
    omnitrail.identify("bob");
    const a2 = omnitrail.anonymousId();
    const bob = omnitrail.user();
    omnitrail.reset();
    const after = omnitrail.user();
    await omnitrail.flush();
    return { a0, a1, a2, bob, after, traits: localStorage.getItem("ot1.traits") };
  });
  assert.equal(ids.a1, ids.a0, "anonymous → known keeps the id");
  assert.notEqual(ids.a2, ids.a1, "another person gets another id");
  assert.equal(ids.bob.userId, "bob");
  assert.equal(ids.after.userId, null);
  assert.notEqual(ids.after.anonymousId, ids.a2);
  assert.equal(ids.traits, null);
  const msgs = await waitFor(async () => { const m = (await collector.messages()).filter((x) => x.type === "identify"); return m.length === 2 && m; }, "2 identifies");
  const bobMsg = msgs.find((m) => m.userId === "bob");
  assert.deepEqual(bobMsg.traits, {}, "ada's traits did not leak to bob");
  await ctx.close();
});

test("two tabs share one session", async () => {
  const ctx = await browser.newContext();
  const a = await openPage(ctx, at("www.shop.test"));
  const b = await openPage(ctx, at("www.shop.test", "/checkout.html"));
  await a.evaluate(() => { omnitrail.track("From A"); return omnitrail.flush(); });
  await b.evaluate(() => { omnitrail.track("From B"); return omnitrail.flush(); });
  const msgs = await waitFor(async () => {
    const m = (await collector.messages()).filter((x) => x.event === "From A" || x.event === "From B");
    return m.length === 2 && m;
  }, "events from both tabs");
  assert.equal(msgs[0].context.sessionId, msgs[1].context.sessionId);
  assert.equal(typeof msgs[0].context.sessionId, "number");
  await ctx.close();
});

test("decorate() hands the identity to a linked domain; stale and foreign hand-overs are refused; the parameter never stays", async () => {
  const ctx = await browser.newContext();
  const shop = await openPage(ctx, at("www.shop.test"));
  const aid = await aidOf(shop);
  const link = await shop.evaluate((u) => omnitrail.decorate(u), at("www.pay.test", "/checkout.html?step=1#pay"));
  assert.match(link, new RegExp(`[?&]_ot=${aid}\\.\\d+`));

  const pay = await openPage(ctx, link);
  assert.equal(await aidOf(pay), aid, "adopted on the linked domain");
  assert.equal(pay.url(), at("www.pay.test", "/checkout.html?step=1#pay"), "removed from the address bar");
  const pv = await waitFor(async () => (await collector.messages()).find((m) => m.type === "page" && m.context.page.url.includes("pay.test")), "page view on pay.test");
  assert.ok(!pv.context.page.url.includes("_ot="), "the page view carries the clean URL");

  const stale = at("www.pay.test", `/?_ot=${aid}.${Math.floor(Date.now() / 1000) - 600}`);
  const ctx2 = await browser.newContext();
  const p2 = await openPage(ctx2, stale);
  assert.notEqual(await aidOf(p2), aid, "a 10-minute-old hand-over is refused");
  assert.equal(p2.url(), at("www.pay.test", "/"));

  const foreign = await shop.evaluate((u) => omnitrail.decorate(u), at("www.other.test", "/"));
  const p3 = await openPage(ctx2, foreign);
  assert.notEqual(await aidOf(p3), aid, "other.test is not a linked domain");
  assert.equal(p3.url(), at("www.other.test", "/"));
  await ctx.close();
  await ctx2.close();
});

test("auto-decoration rewrites links to linked domains when they are followed", async () => {
  const ctx = await browser.newContext();
  const shop = await openPage(ctx, at("www.shop.test"));
  const aid = await aidOf(shop);
  await shop.evaluate((href) => {
    const a = document.createElement("a");
    a.id = "to-pay"; a.href = href; a.textContent = "pay";
    document.body.append(a);
  }, at("www.pay.test", "/checkout.html"));
  await Promise.all([shop.waitForURL(/pay\.test/), shop.click("#to-pay")]);
  await shop.evaluate(() => window.omnitrail.ready);
  assert.equal(await aidOf(shop), aid);
  assert.equal(shop.url(), at("www.pay.test", "/checkout.html"));
  await ctx.close();
});

test("a native app's identity on window.omnitrailNative is adopted by the web view", async () => {
  const ctx = await browser.newContext();
  const native = "11111111-2222-4333-8444-555555555555";
  await ctx.addInitScript((id) => { window.omnitrailNative = { anonymousId: id, userId: "app-user-7" }; }, native);
  const page = await openPage(ctx, at("www.shop.test"));
  assert.deepEqual(await page.evaluate(() => omnitrail.user()), { anonymousId: native, userId: "app-user-7", groupId: null });
  await ctx.close();
});

test("the native app hears about identify and reset through whichever bridge the web view has", async () => {
  const shells = {
    ios: () => { window.webkit = { messageHandlers: { omnitrail: { postMessage: (m) => window.__native.push(m) } } }; },
    android: () => { window.OmnitrailAndroid = { postMessage: (m) => window.__native.push(m) }; },
    reactNative: () => { window.ReactNativeWebView = { postMessage: (m) => window.__native.push(m) }; },
    capacitor: () => { window.Capacitor = { Plugins: { Omnitrail: { postMessage: (o) => window.__native.push(o.message) } } }; },
  };
  for (const [name, install] of Object.entries(shells)) {
    const ctx = await browser.newContext();
    await ctx.addInitScript(`window.__native = []; (${install})();`);
    const page = await openPage(ctx, at("www.shop.test"));
    const got = await page.evaluate(() => {
      omnitrail.identify("ada", { plan: "pro" });
      omnitrail.track("Not for the bridge");
      omnitrail.reset();
      return window.__native.map((m) => JSON.parse(m));
    });
    // Event properties never cross the bridge (the session messages are shared state).
    assert.ok(!JSON.stringify(got).includes("Not for the bridge"), name);
    assert.deepEqual([...new Set(got.map((m) => m.type))].filter((t) => t !== "identity" && t !== "session"), [], name);
    got.splice(0, got.length, ...got.filter((m) => m.type === "identity"));
    assert.equal(got.length, 2, name);
    assert.deepEqual(Object.keys(got[0]).sort(), ["anonymousId", "omnitrail", "type", "userId"], name);
    assert.equal(got[0].omnitrail, 1);
    assert.equal(got[0].type, "identity");
    assert.equal(got[0].userId, "ada");
    assert.equal(got[1].userId, null);
    assert.notEqual(got[1].anonymousId, got[0].anonymousId);
    await ctx.close();
  }
});
