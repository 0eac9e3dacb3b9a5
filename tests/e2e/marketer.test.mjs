// The marketer's pages in real Chromium: the journey viewer, the attribution report and a
// profile, behind the admin token (HTTP Basic in the browser), with hostile strings stored in
// every field a page shows. Asserts: the pages render the data as text, nothing stored
// executes (no script, no handler, no dialog, no navigation), and the write key reads nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startCollector, launchBrowser } from "./harness.mjs";

const TOKEN = "e2e-admin-token-0123456789";
let collector, browser;
before(async () => {
  collector = await startCollector({ extraArgs: ["--admin-token", TOKEN] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await collector?.stop();
});

const X = (n) => [
  `<img src=x onerror="window.__xss=${n}">`,
  `"><script>window.__xss=${n}</script>`,
  `</script><svg onload="window.__xss=${n}">`,
  `javascript:window.__xss=${n}`,
  `{{constructor.constructor('window.__xss=${n}')()}}`,
][n % 5];

function hostileMessages() {
  const when = new Date(Date.now() - 3600e3).toISOString();
  const touch = { channel: X(1), at: when, campaign: { source: X(2), medium: X(3), name: X(4) } };
  const context = {
    sessionId: 1, page: { url: X(5), path: X(6), title: X(7) },
    consent: { categoryPreferences: { marketing: true, [X(8)]: true } }, omnitrail: { touch },
    campaign: { source: X(2), medium: X(3), name: X(4) },
  };
  const base = (id, extra) => ({ messageId: id, anonymousId: X(10), timestamp: when, context, ...extra });
  return [
    base("h1", { type: "page", name: X(11), properties: { url: X(5), path: X(6) } }),
    base("h2", { type: "identify", userId: X(12), traits: { [X(13)]: X(14), email: X(15) } }),
    base("h3", { type: "track", userId: X(12), event: X(16), properties: { name: X(17) } }),
    base("h4", { type: "track", userId: X(12), event: "Product Added", properties: { cart_id: X(18), product_id: X(19), name: X(20), quantity: 1 } }),
    base("h5", { type: "track", userId: X(12), event: "Order Completed", properties: { order_id: X(21), revenue: 10, currency: X(22), cart_id: X(18) } }),
    base("h6", { type: "alias", userId: X(23), previousId: X(12) }),
  ];
}

test("stored hostile strings render as text on every admin page, and nothing executes", async () => {
  const r = await fetch(collector.url + "/v1/batch", { method: "POST", body: JSON.stringify({ batch: hostileMessages(), writeKey: "demo" }) });
  assert.equal(r.status, 200, await r.text());
  // The write key (public) reads nothing; the token does.
  assert.equal((await fetch(collector.url + "/v1/journeys", { headers: { authorization: "Bearer demo" } })).status, 401);

  mkdirSync("out", { recursive: true });
  const ctx = await browser.newContext({ httpCredentials: { username: "admin", password: TOKEN } });
  const problems = [];
  ctx.on("page", (p) => {
    p.on("dialog", (d) => { problems.push(`dialog ${d.message()}`); d.dismiss(); });
    p.on("pageerror", (e) => problems.push(`pageerror ${e.message}`));
  });
  // [path, what shows it is rendered, a stored string it must show as text]
  const pages = [
    ["/journeys", "#timeline li", X(10)],
    ["/reports?from=2000-01-01", "#rows tr", X(1)],
    [`/profiles?id=${encodeURIComponent(X(12))}`, "#profile table", X(12)],
  ];
  for (const [path, ready, shown] of pages) {
    const page = await ctx.newPage();
    const violations = [];
    await page.exposeFunction("__violation", (v) => violations.push(v));
    await page.addInitScript(() => document.addEventListener("securitypolicyviolation", (e) => window.__violation(`${e.violatedDirective} ${e.sample}`)));
    const resp = await page.goto(collector.url + path);
    assert.equal(resp.status(), 200, path);
    assert.match(resp.headers()["content-security-policy"], /frame-ancestors 'none'/);
    await page.waitForSelector(ready, { timeout: 10000 });
    await new Promise((ok) => setTimeout(ok, 300));
    const state = await page.evaluate(() => ({
      xss: window.__xss, url: location.pathname, text: document.body.innerText,
      injected: document.querySelectorAll("main img, main svg, main script, #rows img, #profile img, #profile script, #profile svg").length,
    }));
    assert.equal(state.xss, undefined, `${path}: a stored string executed`);
    assert.equal(state.injected, 0, `${path}: a stored string became markup`);
    assert.equal(state.url, path.split("?")[0], `${path}: navigated away`);
    assert.deepEqual(violations, [], `${path}: CSP violations (our own page must need none)`);
    // The hostile strings are shown, as text.
    assert.ok(state.text.includes(shown), `${path} shows ${shown}`);
    await page.screenshot({ path: `out/marketer${path.split("?")[0].replace(/\//g, "-")}.png`, fullPage: true });
    await page.close();
  }
  assert.deepEqual(problems, []);
  await ctx.close();
});

test("without the admin credential the browser gets a Basic challenge and no data", async () => {
  const ctx = await browser.newContext();
  const resp = await ctx.request.get(collector.url + "/v1/journeys");
  assert.equal(resp.status(), 401);
  assert.match(resp.headers()["www-authenticate"], /^Basic/);
  assert.ok(!(await resp.text()).includes("__xss"));
  // A wrong password neither.
  const wrong = await browser.newContext({ httpCredentials: { username: "admin", password: "not-the-token-000000" } });
  assert.equal((await wrong.request.get(collector.url + "/v1/profiles/x")).status(), 401);
  await wrong.close();
  await ctx.close();
});
